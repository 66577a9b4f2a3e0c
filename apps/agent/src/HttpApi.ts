import { ConfigSource, toConfigDocument } from "@kubelan/config"
import { Metrics, Status } from "@kubelan/reconciler"
import { Effect } from "effect"
import { json, type Routes, text } from "./HttpServer.ts"
import { Networks } from "./Networks.ts"

/** The usual process figures, read at scrape time. */
const recordProcessMetrics = (registry: Metrics.Registry) => {
  const memory = process.memoryUsage()
  registry.set("process_resident_memory_bytes", "resident set size of the agent", memory.rss)
  registry.set("nodejs_heap_size_used_bytes", "V8 heap in use", memory.heapUsed)
  registry.set("nodejs_heap_size_total_bytes", "V8 heap reserved", memory.heapTotal)
  registry.set("nodejs_external_memory_bytes", "memory held outside the V8 heap (buffers)", memory.external)
  registry.set(
    "process_start_time_seconds",
    "when the agent started, in seconds since the epoch",
    Math.round(Date.now() / 1000 - process.uptime())
  )
}

/** Every network's status, in the config's order. */
const statuses = Effect.gen(function* () {
  const networks = yield* Networks
  const all = yield* Effect.forEach(networks.all, (network) => Effect.map(network.status.get, (status) => ({ name: network.name, status })))
  return { listed: networks.listed, all }
})

/** The agent's HTTP endpoints: the original's /health and /config, plus probes, peers and metrics. */
export const routes: Routes<Networks | ConfigSource.ConfigSource | Metrics.Metrics> = {
  "/health": Effect.map(statuses, ({ all }) => ({ status: all.every(({ status }) => status.started) ? 204 : 500 })),
  "/healthz": Effect.succeed(text("ok\n")),
  // Ready when every network is; a network that is not is named when there are several.
  "/readyz": Effect.map(statuses, ({ listed, all }) => {
    const why = all.flatMap(({ name, status }) => {
      const reason = Status.notReadyReason(status)
      return reason === undefined ? [] : [listed ? `network ${name}: ${reason}` : reason]
    })
    return why.length === 0 ? text("ready\n") : text(`not ready: ${why.join("; ")}\n`, 503)
  }),
  "/config": Effect.gen(function* () {
    const { config } = yield* (yield* ConfigSource.ConfigSource).current
    return json(toConfigDocument(config))
  }),
  // The original's single network as before; listed networks each under their name.
  "/peers": Effect.map(statuses, ({ listed, all }) =>
    listed || all[0] === undefined
      ? json({ networks: all.map(({ name, status }) => ({ name, ...Status.peersDocument(status) })) })
      : json(Status.peersDocument(all[0].status))
  ),
  "/metrics": Effect.gen(function* () {
    const registry = yield* Metrics.Metrics
    recordProcessMetrics(registry)
    return { status: 200, body: registry.render(), contentType: "text/plain; version=0.0.4; charset=utf-8" }
  })
}
