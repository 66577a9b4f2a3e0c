import { execa } from "execa"

/** Runs a command and returns stdout; throws with the command and stderr when it fails. */
export const run = async (file: string, args: ReadonlyArray<string>, options: { input?: string; allowFailure?: boolean } = {}) => {
  const result = await execa(file, args, { reject: false, ...(options.input === undefined ? {} : { input: options.input }) })
  if (result.exitCode !== 0 && options.allowFailure !== true)
    throw new Error(`${file} ${args.join(" ")} failed (exit ${result.exitCode}): ${result.stderr}`)
  return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? -1 }
}

/** Runs inside a network namespace. */
export const inNetns = (
  netns: string,
  file: string,
  args: ReadonlyArray<string>,
  options: { input?: string; allowFailure?: boolean } = {}
) => run("ip", ["netns", "exec", netns, file, ...args], options)

export const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Polls until `check` returns a value other than undefined, or fails with the last observation. */
export const eventually = async <A>(check: () => Promise<A | undefined>, options: { timeoutMillis?: number; what?: string } = {}) => {
  const deadline = Date.now() + (options.timeoutMillis ?? 10_000)
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? "a condition"}${last ? `: ${String(last)}` : ""}`)
    await sleep(50)
  }
}
