import { type ChildProcess, spawn } from "node:child_process"
import { Effect } from "effect"
import { NetlinkCommandError } from "./NetlinkError.ts"
import { dyingWithParent } from "./Processes.ts"

/** One line of a batch that failed, numbered within its batch, with what `bridge` said. */
export interface BatchFailure {
  readonly line: number
  readonly message: string
}

/**
 * A line that always fails, written after every batch: `bridge -force -batch` reports each failed
 * line as `Command failed -:N` on stderr, in order, so this line's report says every line before
 * it is done. `/` is not allowed in an interface name, so no device can ever have this one.
 */
const fenceLine = "fdb del 00:00:00:00:00:00 dev kubelan/fence"

interface Pending {
  /** Line numbers in the process's input: the batch's first line and its fence. */
  readonly first: number
  readonly fence: number
  readonly failures: Array<BatchFailure>
  readonly done: (outcome: { readonly failures: ReadonlyArray<BatchFailure> } | { readonly stopped: string }) => void
}

/**
 * Writes FDB batches through one `bridge -force -batch -` kept running while changes come, so a
 * burst of membership events costs no process start each (a start is ~5 ms of the agent's main
 * thread). It ends after `lingerMillis` without a batch: an idle pod keeps no writer process.
 */
export const makeFdbWriter = (namespaceArgs: ReadonlyArray<string>, lingerMillis = 3000) => {
  let child: ChildProcess | undefined
  let linesWritten = 0
  let pending: Array<Pending> = []
  let message: Array<string> = []
  let stderr = ""
  let idle: ReturnType<typeof setTimeout> | undefined
  const command = `bridge ${[...namespaceArgs, "-force", "-batch", "-"].join(" ")}`

  const stopAll = (reason: string) => {
    const stopped = pending
    pending = []
    child = undefined
    for (const entry of stopped) entry.done({ stopped: reason })
  }

  const onStderrLine = (text: string) => {
    const failed = /^Command failed -:(\d+)$/.exec(text.trim())
    if (failed === null) {
      if (text.trim() !== "") message.push(text.trim())
      return
    }
    const line = Number(failed[1])
    const said = message.join(" ")
    message = []
    // Batches before this line are complete; a fence completes its own batch.
    for (let done = pending[0]; done !== undefined && done.fence < line; done = pending[0]) {
      pending.shift()
      done.done({ failures: done.failures })
    }
    const head = pending[0]
    if (head === undefined) return
    if (line === head.fence) {
      pending.shift()
      head.done({ failures: head.failures })
    } else if (line >= head.first) head.failures.push({ line: line - head.first + 1, message: said })
  }

  const start = () => {
    const [file = "bridge", ...argv] = dyingWithParent(["bridge", ...namespaceArgs, "-force", "-batch", "-"])
    const started = spawn(file, argv, { cwd: "/", stdio: ["pipe", "ignore", "pipe"] })
    linesWritten = 0
    stderr = ""
    message = []
    started.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
      const lines = stderr.split("\n")
      stderr = lines.pop() ?? ""
      for (const line of lines) onStderrLine(line)
    })
    started.stderr?.on("error", () => {})
    started.stdin?.on("error", () => {})
    started.once("error", (error) => {
      if (child === started) stopAll(`could not start: ${error.message}`)
    })
    started.once("exit", (code, signal) => {
      if (child === started) stopAll(`it exited (${code ?? signal})`)
    })
    return started
  }

  const linger = () => {
    if (idle !== undefined) clearTimeout(idle)
    idle = setTimeout(() => {
      idle = undefined
      if (pending.length > 0 || child === undefined) return
      const ending = child
      child = undefined
      ending.stdin?.end()
    }, lingerMillis)
    idle.unref()
  }

  /** Writes `lines` and waits until `bridge` has done them; failed lines come back numbered from 1. */
  const write = (lines: ReadonlyArray<string>) =>
    Effect.callback<ReadonlyArray<BatchFailure>, NetlinkCommandError>((resume) => {
      try {
        child ??= start()
      } catch (error) {
        return resume(Effect.fail(new NetlinkCommandError({ command, exitCode: undefined, stderr: `could not start: ${String(error)}` })))
      }
      const first = linesWritten + 1
      linesWritten += lines.length + 1
      pending.push({
        first,
        fence: linesWritten,
        failures: [],
        done: (outcome) =>
          resume(
            "stopped" in outcome
              ? Effect.fail(
                  new NetlinkCommandError({ command, exitCode: undefined, stderr: `the batch writer stopped: ${outcome.stopped}` })
                )
              : Effect.succeed(outcome.failures)
          )
      })
      child.stdin?.write(`${[...lines, fenceLine].join("\n")}\n`)
      linger()
    })

  /** Starts the writer ahead of a batch known to come (an interface just made), so its start overlaps other work. */
  const warm = () => {
    try {
      child ??= start()
      linger()
    } catch {
      // The batch itself will report it.
    }
  }

  /** Ends the writer now; the next batch starts a fresh one. */
  const close = (reason = "the agent is stopping") => {
    if (idle !== undefined) clearTimeout(idle)
    const ending = child
    stopAll(reason)
    ending?.kill("SIGKILL")
  }

  return { command, write, warm, close }
}
