import { watch } from "node:fs"
import { basename, dirname } from "node:path"
import { Context, Effect, Layer, Queue, Stream, SubscriptionRef } from "effect"
import { toConfigDocument } from "./ConfigDocument.ts"
import { ConfigError, formatProblem } from "./ConfigError.ts"
import { type LoadedConfig, type LoadOptions, loadConfigSync } from "./loadConfig.ts"

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
  }
>()("@kubelan/config/ConfigSource") {}

const sameConfig = (a: LoadedConfig, b: LoadedConfig) =>
  JSON.stringify(toConfigDocument(a.config)) === JSON.stringify(toConfigDocument(b.config))

/**
 * Signals each change in the config file's directory. Kubernetes updates a mounted ConfigMap
 * by swapping the `..data` symlink, which a watch on the file itself never sees.
 */
const directoryChanges = (file: string) =>
  Stream.callback<void>((queue) =>
    Effect.acquireRelease(
      Effect.sync(() =>
        watch(dirname(file), (_event, name) => {
          if (name === null || name === basename(file) || name.startsWith("..")) Queue.offerUnsafe(queue, undefined)
        })
      ),
      (watcher) => Effect.sync(() => watcher.close())
    )
  )

const make = Effect.fnUntraced(function* (options: LoadOptions, alreadyLoaded?: LoadedConfig) {
  const initial = alreadyLoaded ?? loadConfigSync(options)
  if (initial instanceof ConfigError) return yield* initial
  const ref = yield* SubscriptionRef.make(initial)
  if (initial.file !== undefined) {
    yield* directoryChanges(initial.file).pipe(
      Stream.debounce("150 millis"),
      Stream.runForEach(() =>
        Effect.gen(function* () {
          const reloaded = loadConfigSync(options)
          if (reloaded instanceof ConfigError) {
            yield* Effect.logWarning("config reload rejected, keeping the running config", {
              problems: reloaded.problems.map(formatProblem)
            })
            return
          }
          const current = yield* SubscriptionRef.get(ref)
          if (sameConfig(current, reloaded)) return
          yield* Effect.logInfo("config reloaded", { file: reloaded.file })
          yield* SubscriptionRef.set(ref, reloaded)
        })
      ),
      Effect.forkScoped
    )
  }
  return ConfigSource.of({ current: SubscriptionRef.get(ref), changes: SubscriptionRef.changes(ref) })
})

/**
 * Loads from file, env and flags (unless given the first load), and watches the file for
 * reloads with the same options. Fails with ConfigError.
 */
export const layer = (options: LoadOptions, initial?: LoadedConfig): Layer.Layer<ConfigSource, ConfigError> =>
  Layer.effect(ConfigSource, make(options, initial))

/** A config that a test sets by hand; `set` plays the role of a reload. */
export const makeManual = Effect.fnUntraced(function* (initial: LoadedConfig) {
  const ref = yield* SubscriptionRef.make(initial)
  return {
    service: ConfigSource.of({ current: SubscriptionRef.get(ref), changes: SubscriptionRef.changes(ref) }),
    set: (next: LoadedConfig) => SubscriptionRef.set(ref, next)
  }
})
