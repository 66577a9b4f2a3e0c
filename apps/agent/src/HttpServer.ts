import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { parseListenAddress } from "@kubelan/config"
import { httpDate } from "@kubelan/reconciler"
import { Cause, Data, Effect, Exit, Layer, Queue } from "effect"

/**
 * A GET-only HTTP server on node:http for the agent's few endpoints. Effect's platform server
 * would bring ~12 MB of heap (sockets, websockets, file system, client) that a sidecar holding
 * thousands of peers in under 100 MB cannot spare.
 */
export interface HttpResponse {
  readonly status: number
  readonly body?: string
  readonly contentType?: string
}

export type Routes<R> = Readonly<Record<string, Effect.Effect<HttpResponse, never, R>>>

export const text = (body: string, status = 200): HttpResponse => ({ status, body, contentType: "text/plain; charset=utf-8" })
export const json = (value: unknown, status = 200): HttpResponse => ({
  status,
  body: `${JSON.stringify(value)}\n`,
  contentType: "application/json"
})

/** The listener could not start: a config problem (an address in use, or not this pod's). */
export class ListenError extends Data.TaggedError("ListenError")<{ readonly address: string; readonly reason: string }> {
  override get message(): string {
    return `${this.address}: ${this.reason}`
  }
}

/**
 * Bounds on what clients can hold: probes and scrapes need a handful of connections, so a
 * flood of idle ones is cut off and timed out instead of exhausting the pod's descriptors
 * (which `bridge` and the hooks need).
 */
export const limits = { maxConnections: 128, headersTimeoutMillis: 5_000, requestTimeoutMillis: 10_000, idleTimeoutMillis: 10_000 }

const respond = (response: ServerResponse, result: HttpResponse, head: boolean) => {
  response.statusCode = result.status
  // Node's own Date header goes through V8's Date formatting, which maps ICU's time-zone data
  // into the pod at the first probe (~1 MB); the same header by arithmetic does not.
  response.sendDate = false
  response.setHeader("date", httpDate(Date.now()))
  if (result.contentType !== undefined) response.setHeader("content-type", result.contentType)
  response.end(head ? undefined : result.body)
}

/** Serves `routes` at `address` for the lifetime of the layer; fails if it cannot listen. */
export const layer = <R>(address: string, routes: Routes<R>): Layer.Layer<never, ListenError, R> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const context = yield* Effect.context<R>()
      const run = Effect.runPromiseExitWith(context)
      const handle = (request: IncomingMessage, response: ServerResponse) => {
        const path = (request.url ?? "/").split("?")[0] ?? "/"
        const route = routes[path]
        if (request.method !== "GET" && request.method !== "HEAD") return respond(response, text("method not allowed\n", 405), false)
        if (route === undefined) return respond(response, text(`not found: ${path}\n`, 404), false)
        void run(route).then((exit) =>
          respond(response, Exit.isSuccess(exit) ? exit.value : text(`${Cause.pretty(exit.cause)}\n`, 500), request.method === "HEAD")
        )
      }
      const listen = parseListenAddress(address)
      if (listen === undefined) return yield* new ListenError({ address, reason: "not a listen address" })
      // Once listening, a failed accept (EMFILE) is reported here, not thrown as an 'error' event nobody handles.
      const serverErrors = yield* Queue.unbounded<Error>()
      yield* Queue.take(serverErrors).pipe(
        Effect.flatMap((error) => Effect.logWarning(`http: ${error.message}; still serving`)),
        Effect.forever,
        Effect.forkScoped
      )
      yield* Effect.acquireRelease(
        Effect.callback<ReturnType<typeof createServer>, ListenError>((resume) => {
          const server = createServer(
            { headersTimeout: limits.headersTimeoutMillis, requestTimeout: limits.requestTimeoutMillis, keepAliveTimeout: 5_000 },
            handle
          )
          server.maxConnections = limits.maxConnections
          server.timeout = limits.idleTimeoutMillis
          server.once("error", (error: NodeJS.ErrnoException) =>
            resume(
              Effect.fail(
                new ListenError({ address, reason: error.code === "EADDRINUSE" ? "the port is in use by another process" : error.message })
              )
            )
          )
          server.listen(listen.port, listen.host, () => {
            server.removeAllListeners("error")
            server.on("error", (error) => Queue.offerUnsafe(serverErrors, error))
            resume(Effect.succeed(server))
          })
        }),
        (server) =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
            server.closeAllConnections()
          })
      )
    })
  )
