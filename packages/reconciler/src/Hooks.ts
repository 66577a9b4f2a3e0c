import { Context, Effect, Layer, Queue } from "effect"
import { execa } from "execa"
import { count } from "./Metrics.ts"

/** A hook invocation: the user's argv and the env the original defined for it. */
export interface HookRun {
  readonly hook: "up" | "change"
  readonly argv: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly timeoutMillis: number
}

export type HookResult = "ok" | "failed" | "timeout"

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

/** Spawns in its own process group so a timeout kills the hook and everything it started. */
export const runHook = (run: HookRun) =>
  Effect.callback<{ result: HookResult; exitCode: number | undefined; output: string; millis: number }>((resume) => {
    const started = Date.now()
    const [file = "", ...args] = run.argv
    const child = execa(file, args, { env: run.env, extendEnv: true, reject: false, all: true, detached: true, stdin: "ignore" })
    let timedOut = false
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL")
      } catch {
        // the group is already gone
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      killGroup()
    }, run.timeoutMillis)
    void child.then((result) => {
      clearTimeout(timer)
      const output = String(result.all ?? "").slice(-outputLimit)
      const outcome: HookResult = timedOut ? "timeout" : result.exitCode === 0 ? "ok" : "failed"
      resume(Effect.succeed({ result: outcome, exitCode: result.exitCode, output, millis: Date.now() - started }))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      killGroup()
    })
  })

const make = Effect.gen(function* () {
  const queue = yield* Queue.unbounded<HookRun>()
  yield* Effect.gen(function* () {
    const run = yield* Queue.take(queue)
    if (run.argv.length === 0) return
    const outcome = yield* runHook(run)
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
    yield* count("hookRuns", { hook: run.hook, result: outcome.result })
  }).pipe(Effect.forever, Effect.forkScoped)
  return Hooks.of({ enqueue: (run) => Queue.offer(queue, run).pipe(Effect.asVoid) })
})

export const layer = Layer.effect(Hooks, make)
