import { spawn } from "node:child_process"
import { Context, Effect, Layer, Queue } from "effect"
import { EventRecorder } from "./Events.ts"
import { count } from "./Metrics.ts"

/** A hook invocation: the user's argv and the env the original defined for it. */
export interface HookRun {
  readonly hook: "up" | "change"
  readonly argv: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly timeoutMillis: number
  /** Run once the hook has finished, whatever its outcome (readiness waits for the `up` hook). */
  readonly finished?: Effect.Effect<void> | undefined
}

export type HookResult = "ok" | "failed" | "timeout"

export interface HookOutcome {
  readonly result: HookResult
  readonly exitCode: number | undefined
  /** The last few thousand characters the hook printed. */
  readonly output: string
  readonly millis: number
}

/**
 * Runs hooks one at a time, in the order they were queued, each under its timeout. Queuing
 * never waits for a hook, so a slow or failing hook cannot hold up convergence.
 */
export class Hooks extends Context.Service<
  Hooks,
  {
    readonly enqueue: (run: HookRun) => Effect.Effect<void>
  }
>()("@kubelan/reconciler/Hooks") {}

const outputLimit = 4000
/** setTimeout holds at most this; config bounds hooks.timeout well below it. */
const maxTimer = 2 ** 31 - 1

/**
 * Hooks run as root with NET_ADMIN, so they get only what they are documented to get: PATH,
 * HOSTNAME (the pod's name, which the example's `up` hook reads) and the hook's own variables.
 * Nothing else the agent holds (KUBECONFIG, tokens) reaches them.
 */
export const hookEnvironment = (run: HookRun, agentEnv: Readonly<Record<string, string | undefined>> = process.env) => {
  const env: Record<string, string> = { PATH: agentEnv.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }
  if (agentEnv.HOSTNAME !== undefined) env.HOSTNAME = agentEnv.HOSTNAME
  return { ...env, ...run.env }
}

/**
 * Runs a hook in its own process group. It is finished when its process exits, whatever its
 * children do with the pipes (a daemon it started keeps them open); at the timeout its whole
 * group is killed. Only a bounded tail of its output is kept.
 */
export const runHook = (run: HookRun) =>
  Effect.callback<HookOutcome>((resume) => {
    const started = Date.now()
    const [file = "", ...args] = run.argv
    let tail = ""
    let timedOut = false
    let finished = false
    const child = spawn(file, args, { env: hookEnvironment(run), cwd: "/", detached: true, stdio: ["ignore", "pipe", "pipe"] })
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString("utf8")).slice(-outputLimit)
    }
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL")
      } catch {
        // the group is already gone
      }
    }
    const timer = setTimeout(
      () => {
        timedOut = true
        killGroup()
      },
      Math.min(run.timeoutMillis, maxTimer)
    )
    const finish = (outcome: Omit<HookOutcome, "millis" | "output">) => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      // What is still in the pipes arrives within moments; a child that holds them does not hold us.
      setTimeout(() => {
        child.stdout?.destroy()
        child.stderr?.destroy()
        resume(Effect.succeed({ ...outcome, output: tail, millis: Date.now() - started }))
      }, 50)
    }
    child.once("error", (error) => {
      keep(Buffer.from(`could not start ${JSON.stringify(file)}: ${error.message}`))
      finish({ result: "failed", exitCode: undefined })
    })
    child.once("exit", (code) => finish({ result: timedOut ? "timeout" : code === 0 ? "ok" : "failed", exitCode: code ?? undefined }))
    return Effect.sync(() => {
      clearTimeout(timer)
      killGroup()
    })
  })

/** The last line a hook printed, for its Event: enough to say why, short enough to aggregate. */
const lastLine = (output: string) =>
  output
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .at(-1)
    ?.slice(0, 200)

const make = Effect.gen(function* () {
  const events = yield* EventRecorder
  const queue = yield* Queue.unbounded<HookRun>()
  yield* Effect.gen(function* () {
    const run = yield* Queue.take(queue)
    if (run.argv.length === 0) return yield* run.finished ?? Effect.void
    const outcome = yield* runHook(run).pipe(Effect.ensuring(run.finished ?? Effect.void))
    const fields = {
      hook: run.hook,
      argv: run.argv,
      exitCode: outcome.exitCode,
      millis: outcome.millis,
      output: outcome.output,
      env: run.env
    }
    if (outcome.result === "ok") yield* Effect.logInfo(`${run.hook} hook ran`, fields)
    else if (outcome.result === "timeout")
      yield* Effect.logWarning(`${run.hook} hook killed after ${run.timeoutMillis}ms (hooks.timeout)`, fields)
    else yield* Effect.logWarning(`${run.hook} hook failed`, fields)
    if (outcome.result !== "ok") {
      const said = lastLine(outcome.output)
      yield* events.record({
        type: "Warning",
        reason: outcome.result === "timeout" ? "HookTimedOut" : "HookFailed",
        action: "RunHook",
        note:
          outcome.result === "timeout"
            ? `${run.hook} hook ${JSON.stringify(run.argv[0])} killed after ${run.timeoutMillis}ms (hooks.timeout)`
            : `${run.hook} hook ${JSON.stringify(run.argv[0])} failed (exit ${outcome.exitCode ?? "unknown"})${said === undefined ? "" : `: ${said}`}`
      })
    }
    yield* count("hookRuns", { hook: run.hook, result: outcome.result })
  }).pipe(Effect.forever, Effect.forkScoped)
  return Hooks.of({ enqueue: (run) => Queue.offer(queue, run).pipe(Effect.asVoid) })
})

export const layer = Layer.effect(Hooks, make)
