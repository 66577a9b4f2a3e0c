import { type ChildProcess, spawn } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"
import { Effect } from "effect"

export interface ToolResult {
  readonly stdout: string
  readonly stderr: string
  /** undefined when the process could not start or was killed by a signal. */
  readonly exitCode: number | undefined
  readonly failed: boolean
}

/**
 * How the agent runs iproute2. Every child starts in `/`, so a removed working directory cannot
 * break it. node:child_process directly, with every 'error' handled: a failure to start one
 * (EMFILE when descriptors run out, ENOENT) is an error value, never an 'error' event that
 * escapes and kills the agent (execa lets one escape when spawn itself fails).
 */
export const spawnTool = (tool: string, args: ReadonlyArray<string>, input?: string) =>
  Effect.callback<ToolResult>((resume, signal) => {
    const stdout: Array<Buffer> = []
    const stderr: Array<Buffer> = []
    let done = false
    const finish = (exitCode: number | undefined, failure?: string) => {
      if (done) return
      done = true
      const err = Buffer.concat(stderr).toString("utf8")
      resume(
        Effect.succeed({
          stdout: Buffer.concat(stdout).toString("utf8"),
          stderr: failure === undefined ? err : `${failure}${err === "" ? "" : `\n${err}`}`,
          exitCode,
          failed: failure !== undefined || exitCode !== 0
        })
      )
    }
    let child: ChildProcess
    try {
      child = spawn(tool, args, { cwd: "/", stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"], signal })
    } catch (error) {
      return finish(undefined, `could not start ${tool}: ${error instanceof Error ? error.message : String(error)}`)
    }
    child.once("error", (error) => finish(undefined, `could not start ${tool}: ${error.message}`))
    child.stdout?.on("data", (chunk: Buffer) => stdout.push(chunk))
    child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk))
    child.stdout?.on("error", () => {})
    child.stderr?.on("error", () => {})
    child.once("close", (code, killedBy) => finish(code ?? undefined, killedBy === null ? undefined : `killed by ${killedBy}`))
    // A child that failed to start has no pipes at all.
    if (input !== undefined && child.stdin) {
      child.stdin.on("error", () => {})
      child.stdin.end(input)
    }
  })

/** Whether an executable of that name is on PATH. */
export const onPath = (file: string) =>
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
