import { ConfigSource, toConfigDocument } from "@kubelan/config"
import { Metrics, Status } from "@kubelan/reconciler"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"

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
    Math.round((Date.now() - process.uptime() * 1000) / 1000)
  )
}

/** The agent's HTTP endpoints: the original's /health and /config, plus probes, peers and metrics. */
export const routes = Layer.mergeAll(
  HttpRouter.add(
    "GET",
    "/health",
    Effect.gen(function* () {
      const status = yield* (yield* Status.Status).get
      return HttpServerResponse.empty({ status: status.started ? 204 : 500 })
    })
  ),
  HttpRouter.add("GET", "/healthz", HttpServerResponse.text("ok\n")),
  HttpRouter.add(
    "GET",
    "/readyz",
    Effect.gen(function* () {
      const status = yield* (yield* Status.Status).get
      if (status.ready) return HttpServerResponse.text("ready\n")
      const why = !status.started ? "the interface is not up yet" : "the first membership sync is not programmed yet"
      return HttpServerResponse.text(`not ready: ${why}\n`, { status: 503 })
    })
  ),
  HttpRouter.add(
    "GET",
    "/config",
    Effect.gen(function* () {
      const { config } = yield* (yield* ConfigSource.ConfigSource).current
      return HttpServerResponse.jsonUnsafe(toConfigDocument(config))
    })
  ),
  HttpRouter.add(
    "GET",
    "/peers",
    Effect.gen(function* () {
      const status = yield* (yield* Status.Status).get
      return HttpServerResponse.jsonUnsafe(Status.peersDocument(status))
    })
  ),
  HttpRouter.add(
    "GET",
    "/metrics",
    Effect.gen(function* () {
      const registry = yield* Metrics.Metrics
      recordProcessMetrics(registry)
      return HttpServerResponse.text(registry.render(), { contentType: "text/plain; version=0.0.4; charset=utf-8" })
    })
  )
)
