import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { ConfigSource, type LoadedConfig, type LoadOptions } from "@kubelan/config"
import { StaticDiscovery } from "@kubelan/discovery"
import { Iproute2Netlink } from "@kubelan/netlink"
import { Hooks, Metrics, Reconciler, Status } from "@kubelan/reconciler"
import { Effect, Layer, Stream } from "effect"
import { HttpRouter } from "effect/http"
import { routes } from "./HttpApi.ts"
import * as Logging from "./Logging.ts"

/** `:8181`, `0.0.0.0:8181`, `[::1]:8181` → what `listen` takes. */
export const parseListenAddress = (address: string): { host?: string; port: number } => {
  const at = address.lastIndexOf(":")
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, "$1")
  const port = Number(address.slice(at + 1))
  return host === "" ? { port } : { host, port }
}

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
  const http = HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provide(NodeHttpServer.layer(() => createServer(), parseListenAddress(loaded.config.httpAddress)))
  )
  return Layer.mergeAll(http, followLogLevel).pipe(Layer.provideMerge(reconciler))
}
