import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"
import { Effect } from "effect"
import { execa } from "execa"
import { NetlinkCommandError } from "./NetlinkError.ts"

/**
 * How the agent runs iproute2. Every child starts in `/`, so a removed working directory cannot
 * break it, and a failure to start one (EMFILE when descriptors run out, ENOENT) is an error
 * value, never an exception or an 'error' event that escapes.
 */
export const spawnTool = (tool: string, args: ReadonlyArray<string>, input?: string) =>
  Effect.tryPromise({
    try: (signal) =>
      execa(tool, args, {
        ...(input === undefined ? {} : { input }),
        reject: false,
        cancelSignal: signal,
        cwd: "/",
        stdin: input === undefined ? "ignore" : "pipe"
      }),
    catch: (error) => new NetlinkCommandError({ command: `${tool} ${args.join(" ")}`, exitCode: undefined, stderr: String(error) })
  }).pipe(
    Effect.map((result) => ({
      stdout: String(result.stdout ?? ""),
      stderr: String(result.stderr || result.message || ""),
      exitCode: result.failed && result.exitCode === undefined ? undefined : result.exitCode,
      failed: result.failed
    }))
  )

const onPath = (file: string) =>
  (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, file), constants.X_OK)
      return true
    } catch {
      return false
    }
  })

let setpriv: boolean | undefined
/**
 * The argv that makes a long-lived child die with the agent, even when the agent is killed
 * with SIGKILL and cannot clean up: util-linux's `setpriv --pdeathsig KILL`, where present.
 */
export const dyingWithParent = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  setpriv ??= onPath("setpriv")
  return setpriv ? ["setpriv", "--pdeathsig", "KILL", "--", ...argv] : argv
}
