import { execa } from "execa"

/** Runs a command; throws with its command line and stderr when it fails (unless allowed). */
export const sh = async (file: string, args: ReadonlyArray<string>, options: { allowFailure?: boolean; input?: string } = {}) => {
  const result = await execa(file, args, { reject: false, ...(options.input === undefined ? {} : { input: options.input }) })
  if (result.exitCode !== 0 && options.allowFailure !== true)
    throw new Error(`${file} ${args.join(" ")}: ${result.stderr || `exit ${result.exitCode}`}`)
  return result
}

export const listNetns = async () =>
  (await sh("ip", ["netns", "list"])).stdout
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name !== "")

/** Kills what runs inside a namespace, then deletes it. */
export const removeNetns = async (name: string) => {
  const pids = await sh("ip", ["netns", "pids", name], { allowFailure: true })
  for (const pid of pids.stdout.split(/\s+/).filter((p) => p !== "")) {
    try {
      process.kill(Number(pid), "SIGKILL")
    } catch {
      // gone already
    }
  }
  await sh("ip", ["netns", "delete", name], { allowFailure: true })
}
