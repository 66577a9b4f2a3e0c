import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { Cause, Effect, Exit, Layer } from "effect"

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

/** `:8181`, `0.0.0.0:8181`, `[::1]:8181` → what `listen` takes. */
export const parseListenAddress = (address: string): { host?: string; port: number } => {
  const at = address.lastIndexOf(":")
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, "$1")
  const port = Number(address.slice(at + 1))
  return host === "" ? { port } : { host, port }
}

const respond = (response: ServerResponse, result: HttpResponse, head: boolean) => {
  response.statusCode = result.status
  if (result.contentType !== undefined) response.setHeader("content-type", result.contentType)
  response.end(head ? undefined : result.body)
}

/** Serves `routes` at `address` for the lifetime of the layer; fails if it cannot listen. */
export const layer = <R>(address: string, routes: Routes<R>): Layer.Layer<never, Error, R> =>
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
      yield* Effect.acquireRelease(
        Effect.callback<ReturnType<typeof createServer>, Error>((resume) => {
          const server = createServer(handle)
          server.once("error", (error) => resume(Effect.fail(new Error(`http_address ${address}: ${error.message}`))))
          server.listen(listen.port, listen.host, () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
            server.closeAllConnections()
          })
      )
    })
  )
