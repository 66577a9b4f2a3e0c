import type { DiscoveryBackend } from "@kubelan/config"
import { type ConfigProblem, ConfigSource, formatProblem, type LoadedConfig, type LoadOptions } from "@kubelan/config"
import { type Discovery, StaticDiscovery } from "@kubelan/discovery"
import { Iproute2Netlink } from "@kubelan/netlink"
import { Events, Hooks, Metrics } from "@kubelan/reconciler"
import { Context, Effect, Layer, Queue, Stream } from "effect"
import { routes } from "./HttpApi.ts"
import * as HttpServer from "./HttpServer.ts"
import * as KubernetesEvents from "./KubernetesEvents.ts"
import * as Logging from "./Logging.ts"
import * as Networks from "./Networks.ts"
import { preflight } from "./Preflight.ts"

/** Log level follows reloads: the only setting applied outside the reconciler and discovery. */
const followLogLevel = Layer.effectDiscard(
  Effect.gen(function* () {
    const source = yield* ConfigSource.ConfigSource
    yield* source.changes.pipe(
      Stream.runForEach((loaded) => Effect.sync(() => Logging.setLogLevel(loaded.config.logLevel))),
      Effect.forkScoped
    )
  })
)

/** SIGHUP reads the config file again now, as daemons do; it never stops the agent. */
const reloadOnHangup = Layer.effectDiscard(
  Effect.gen(function* () {
    const source = yield* ConfigSource.ConfigSource
    const hangups = Stream.callback<void>((queue) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const listener = () => void Queue.offerUnsafe(queue, undefined)
          process.on("SIGHUP", listener)
          return listener
        }),
        (listener) => Effect.sync(() => process.off("SIGHUP", listener))
      )
    )
    yield* hangups.pipe(
      Stream.runForEach(() => Effect.logInfo("SIGHUP: reading the config again").pipe(Effect.andThen(source.reload))),
      Effect.forkScoped
    )
  })
)

/**
 * The membership source the config names. client-node is loaded only when it is needed, and it
 * starts loading as soon as the layer is described, while the pod's checks run.
 */
const discoveryLayer = (backend: DiscoveryBackend): Layer.Layer<Discovery, unknown, ConfigSource.ConfigSource> => {
  switch (backend) {
    case "static":
      return StaticDiscovery.layer
    case "kubernetes": {
      const loading = import("@kubelan/discovery/kubernetes")
      return Layer.unwrap(Effect.promise(() => loading).pipe(Effect.map((module) => module.KubernetesDiscovery.layer)))
    }
    case "dns": {
      const loading = import("@kubelan/discovery/dns")
      return Layer.unwrap(Effect.promise(() => loading).pipe(Effect.map((module) => module.DnsDiscovery.layer)))
    }
  }
}

/** Events go to the API server the kubernetes backend talks to; the others have none. */
const eventsLayer = (loaded: LoadedConfig): Layer.Layer<Events.EventRecorder> =>
  loaded.config.discovery.backend === "kubernetes" ? KubernetesEvents.layer(loaded) : Events.layerNone

/** The whole live agent: config, kernel, membership, reconciler, HTTP. Shutdown is the scope's job. */
export const agentLayer = (loaded: LoadedConfig, load: LoadOptions) => {
  const netlink = Iproute2Netlink.layer()
  const events = eventsLayer(loaded)
  // A reload is applied only when the pod itself agrees with it, as the first config was.
  const check: ConfigSource.ReloadCheck = (reloaded, running) => preflight(reloaded, running).pipe(Effect.provide(netlink))
  const config = Layer.unwrap(
    Effect.gen(function* () {
      const recorder = Context.get(yield* Effect.context<Events.EventRecorder>(), Events.EventRecorder)
      const rejected = (problems: ReadonlyArray<ConfigProblem>) =>
        recorder.record({
          type: "Warning",
          reason: "ConfigRejected",
          action: "Reload",
          note: `config reload rejected, keeping the running config: ${problems.map(formatProblem).join("; ")}`
        })
      return ConfigSource.layer(load, loaded, { check, rejected })
    })
  )
  const backend = loaded.config.discovery.backend
  const base = Layer.mergeAll(config, netlink, Metrics.layer).pipe(Layer.provideMerge(events))
  const services = Layer.mergeAll(discoveryLayer(backend), Hooks.layer).pipe(Layer.provideMerge(base))
  const networks = Networks.layer(backend).pipe(Layer.provideMerge(services))
  const http = HttpServer.layer(loaded.config.httpAddress, routes)
  return Layer.mergeAll(http, followLogLevel, reloadOnHangup).pipe(Layer.provideMerge(networks))
}
