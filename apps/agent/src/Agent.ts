import { ConfigSource, type LoadedConfig, type LoadOptions } from "@kubelan/config"
import { StaticDiscovery } from "@kubelan/discovery"
import { Iproute2Netlink } from "@kubelan/netlink"
import { Hooks, Metrics, Reconciler, Status } from "@kubelan/reconciler"
import { Effect, Layer, Stream } from "effect"
import { routes } from "./HttpApi.ts"
import * as HttpServer from "./HttpServer.ts"
import * as Logging from "./Logging.ts"

/** Log level follows reloads: the only setting applied outside the reconciler. */
const followLogLevel = Layer.effectDiscard(
  Effect.gen(function* () {
    const source = yield* ConfigSource.ConfigSource
    yield* source.changes.pipe(
      Stream.runForEach((loaded) => Effect.sync(() => Logging.setLogLevel(loaded.config.logLevel))),
      Effect.forkScoped
    )
  })
)

/** The whole live agent: config, kernel, membership, reconciler, HTTP. Shutdown is the scope's job. */
export const agentLayer = (loaded: LoadedConfig, load: LoadOptions) => {
  const config = ConfigSource.layer(load, loaded)
  const base = Layer.mergeAll(config, Iproute2Netlink.layer(), Status.layer("static"), Metrics.layer)
  const services = Layer.mergeAll(StaticDiscovery.layer, Hooks.layer).pipe(Layer.provideMerge(base))
  const reconciler = Reconciler.layer.pipe(Layer.provideMerge(services))
  const http = HttpServer.layer(loaded.config.httpAddress, routes)
  return Layer.mergeAll(http, followLogLevel).pipe(Layer.provideMerge(reconciler))
}
