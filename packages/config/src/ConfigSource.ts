import { type FSWatcher, readFileSync, statSync, watch } from "node:fs"
import { basename, dirname } from "node:path"
import { Context, Effect, Layer, Option, Queue, type Stream, SubscriptionRef } from "effect"
import { toConfigDocument } from "./ConfigDocument.ts"
import { ConfigError, type ConfigProblem, formatProblem } from "./ConfigError.ts"
import { type LoadedConfig, type LoadOptions, loadConfigSync } from "./loadConfig.ts"
import { planReload } from "./Reload.ts"

/**
 * The current configuration and its reloads. A reload that fails validation is logged and
 * ignored: the agent keeps running on the last good config.
 */
export class ConfigSource extends Context.Service<
  ConfigSource,
  {
    readonly current: Effect.Effect<LoadedConfig>
    /** The current config, then every reload that changed it. */
    readonly changes: Stream.Stream<LoadedConfig>
    /** Reads the file again now (SIGHUP), as a change of the file would. */
    readonly reload: Effect.Effect<void>
  }
>()("@kubelan/config/ConfigSource") {}

/** Checks a reload must also pass, beyond the file's own validity (what the pod itself says). */
export type ReloadCheck = (reloaded: LoadedConfig, running: LoadedConfig) => Effect.Effect<ReadonlyArray<ConfigProblem>>

export interface WatchOptions {
  readonly check?: ReloadCheck
  /** How long the file must stay unchanged before it is applied: a writer may still be mid-way. */
  readonly settleMillis?: number
  /** How often the file is looked at even without a change event (a replaced directory sends none). */
  readonly pollMillis?: number
  /** Told of a reload that was refused (after it is logged): the agent records an Event. */
  readonly rejected?: (problems: ReadonlyArray<ConfigProblem>) => Effect.Effect<void>
}

const sameConfig = (a: LoadedConfig, b: LoadedConfig) =>
  JSON.stringify(toConfigDocument(a.config)) === JSON.stringify(toConfigDocument(b.config))

/** Identity and version of a path: a replaced file or directory, or a rewrite, changes it. */
const signature = (path: string) => {
  try {
    const stat = statSync(path)
    return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`
  } catch {
    return "missing"
  }
}

const readText = (path: string) => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

const make = Effect.fnUntraced(function* (options: LoadOptions, alreadyLoaded: LoadedConfig | undefined, watchOptions: WatchOptions) {
  const initial = alreadyLoaded ?? loadConfigSync(options)
  if (initial instanceof ConfigError) return yield* initial
  const ref = yield* SubscriptionRef.make(initial)
  const cues = yield* Queue.unbounded<"changed" | "asked">()
  const file = initial.file
  const settleMillis = watchOptions.settleMillis ?? 500
  const pollMillis = watchOptions.pollMillis ?? 2000

  if (file !== undefined) {
    const directory = dirname(file)
    // Kubernetes updates a mounted ConfigMap by swapping the `..data` symlink, which a watch on
    // the file itself never sees: watch the directory, and watch it anew when it is replaced.
    let watcher: { readonly of: string; readonly handle: FSWatcher | undefined } | undefined
    const watchDirectory = () => {
      const of = signature(directory).split(":").slice(0, 2).join(":")
      if (watcher?.of === of) return
      watcher?.handle?.close()
      let handle: FSWatcher | undefined
      try {
        handle = watch(directory, (_event, name) => {
          if (name === null || name === basename(file) || name.startsWith("..")) Queue.offerUnsafe(cues, "changed")
        })
        handle.on("error", () => Queue.offerUnsafe(cues, "changed"))
      } catch {
        handle = undefined
      }
      watcher = { of, handle }
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => watcher?.handle?.close()))
    watchDirectory()

    let seen = signature(file)
    let applied = readText(file)
    /** The file's text once it has stopped changing: a half-written file is never read as the config. */
    const settled = Effect.gen(function* () {
      let text = readText(file)
      for (;;) {
        yield* Effect.sleep(settleMillis)
        const again = readText(file)
        if (again === text) return text
        text = again
      }
    })
    const reloadOnce = Effect.fnUntraced(function* (asked: boolean) {
      watchDirectory()
      const now = signature(file)
      if (!asked && now === seen) return
      const text = yield* settled
      seen = signature(file)
      if (text === undefined || (!asked && text === applied)) return
      applied = text
      const reloaded = loadConfigSync(options)
      // The file went away between the read and the load: that is no reason to fall back to defaults.
      if (!(reloaded instanceof ConfigError) && reloaded.file !== file) return
      const running = yield* SubscriptionRef.get(ref)
      const problems =
        reloaded instanceof ConfigError
          ? reloaded.problems
          : watchOptions.check === undefined
            ? []
            : yield* watchOptions.check(reloaded, running)
      if (problems.length > 0 || reloaded instanceof ConfigError) {
        yield* Effect.logWarning("config reload rejected, keeping the running config", { problems: problems.map(formatProblem) })
        if (watchOptions.rejected !== undefined) yield* watchOptions.rejected(problems)
        return
      }
      const plan = planReload(running, reloaded)
      for (const warning of plan.warnings) yield* Effect.logWarning(warning)
      if (sameConfig(running, plan.loaded)) return
      yield* Effect.logInfo("config reloaded", { file: reloaded.file })
      yield* SubscriptionRef.set(ref, plan.loaded)
    })
    yield* Effect.gen(function* () {
      const cue = yield* Queue.take(cues).pipe(Effect.timeoutOption(pollMillis))
      const burst = yield* Queue.clear(cues)
      yield* reloadOnce(Option.getOrUndefined(cue) === "asked" || burst.includes("asked"))
    }).pipe(Effect.forever, Effect.forkScoped)
  }
  return ConfigSource.of({
    current: SubscriptionRef.get(ref),
    changes: SubscriptionRef.changes(ref),
    reload: Queue.offer(cues, "asked").pipe(Effect.asVoid)
  })
})

/**
 * Loads from file, env and flags (unless given the first load), and watches the file for
 * reloads with the same options. Fails with ConfigError.
 */
export const layer = (
  options: LoadOptions,
  initial?: LoadedConfig,
  watchOptions: WatchOptions = {}
): Layer.Layer<ConfigSource, ConfigError> => Layer.effect(ConfigSource, make(options, initial, watchOptions))

/** A config that a test sets by hand; `set` plays the role of a reload. */
export const makeManual = Effect.fnUntraced(function* (initial: LoadedConfig) {
  const ref = yield* SubscriptionRef.make(initial)
  return {
    service: ConfigSource.of({ current: SubscriptionRef.get(ref), changes: SubscriptionRef.changes(ref), reload: Effect.void }),
    set: (next: LoadedConfig) => SubscriptionRef.set(ref, next)
  }
})
