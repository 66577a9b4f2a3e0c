import { ConfigSource, toConfigDocument } from "@kubelan/config"
import { Metrics, Status } from "@kubelan/reconciler"
import { Effect } from "effect"
import { json, type Routes, text } from "./HttpServer.ts"

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

const currentStatus = Effect.gen(function* () {
  return yield* (yield* Status.Status).get
})

/** The agent's HTTP endpoints: the original's /health and /config, plus probes, peers and metrics. */
export const routes: Routes<Status.Status | ConfigSource.ConfigSource | Metrics.Metrics> = {
  "/health": Effect.map(currentStatus, (status) => ({ status: status.started ? 204 : 500 })),
  "/healthz": Effect.succeed(text("ok\n")),
  "/readyz": Effect.map(currentStatus, (status) => {
    const why = Status.notReadyReason(status)
    return why === undefined ? text("ready\n") : text(`not ready: ${why}\n`, 503)
  }),
  "/config": Effect.gen(function* () {
    const { config } = yield* (yield* ConfigSource.ConfigSource).current
    return json(toConfigDocument(config))
  }),
  "/peers": Effect.map(currentStatus, (status) => json(Status.peersDocument(status))),
  "/metrics": Effect.gen(function* () {
    const registry = yield* Metrics.Metrics
    recordProcessMetrics(registry)
    return { status: 200, body: registry.render(), contentType: "text/plain; version=0.0.4; charset=utf-8" }
  })
}
