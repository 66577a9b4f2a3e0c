import type { DiscoveryBackend } from "@kubelan/config"
import { ConfigSource, type LoadedConfig, type LoadOptions } from "@kubelan/config"
import { type Discovery, StaticDiscovery } from "@kubelan/discovery"
import { Iproute2Netlink } from "@kubelan/netlink"
import { Hooks, Metrics, Reconciler, Status } from "@kubelan/reconciler"
import { Effect, Layer, Stream } from "effect"
import { routes } from "./HttpApi.ts"
import * as HttpServer from "./HttpServer.ts"
import * as Logging from "./Logging.ts"

/** Log level follows reloads: the only setting applied outside the reconciler and discovery. */
const followLogLevel = Layer.effectDiscard(
  Effect.gen(function* () {
    const source = yield* ConfigSource.ConfigSource
    const running = (yield* source.current).config.discovery.backend
    yield* source.changes.pipe(
      Stream.runForEach((loaded) =>
        Effect.gen(function* () {
          Logging.setLogLevel(loaded.config.logLevel)
          // The membership source is chosen at start; say so rather than ignore the change.
          if (loaded.config.discovery.backend !== running)
            yield* Effect.logWarning(
              `discovery.backend changed from ${running} to ${loaded.config.discovery.backend}: restart the agent to switch; it keeps following ${running}`
            )
        })
      ),
      Effect.forkScoped
    )
  })
)

/** The membership source the config names. client-node is loaded only when it is needed. */
const discoveryLayer = (backend: DiscoveryBackend): Layer.Layer<Discovery, unknown, ConfigSource.ConfigSource> => {
  switch (backend) {
    case "static":
      return StaticDiscovery.layer
    case "kubernetes":
      return Layer.unwrap(
        Effect.promise(() => import("@kubelan/discovery/kubernetes")).pipe(Effect.map((module) => module.KubernetesDiscovery.layer))
      )
    case "dns":
      return Layer.unwrap(Effect.promise(() => import("@kubelan/discovery/dns")).pipe(Effect.map((module) => module.DnsDiscovery.layer)))
  }
}

/** The whole live agent: config, kernel, membership, reconciler, HTTP. Shutdown is the scope's job. */
export const agentLayer = (loaded: LoadedConfig, load: LoadOptions) => {
  const config = ConfigSource.layer(load, loaded)
  const backend = loaded.config.discovery.backend
  const base = Layer.mergeAll(config, Iproute2Netlink.layer(), Status.layer(backend), Metrics.layer)
  const services = Layer.mergeAll(discoveryLayer(backend), Hooks.layer).pipe(Layer.provideMerge(base))
  const reconciler = Reconciler.layer.pipe(Layer.provideMerge(services))
  const http = HttpServer.layer(loaded.config.httpAddress, routes)
  return Layer.mergeAll(http, followLogLevel).pipe(Layer.provideMerge(reconciler))
}
