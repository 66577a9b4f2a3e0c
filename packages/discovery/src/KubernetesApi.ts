import { request as httpRequest } from "node:http"
import { request as httpsRequest, type RequestOptions } from "node:https"
import { KubeConfig, Watch } from "@kubernetes/client-node"
import { Cause, Data, Effect, Queue, Schema, Stream } from "effect"

/** A failed call to the API server; `status` 410 means the resourceVersion is too old. */
export class KubernetesApiError extends Data.TaggedError("KubernetesApiError")<{
  readonly operation: string
  readonly status: number | undefined
  readonly reason: string
}> {
  override get message(): string {
    return `${this.operation}: ${this.status === undefined ? "" : `HTTP ${this.status}: `}${this.reason}`
  }
}

/** The watch outlived its timeout by the grace period without the server closing it. */
export class WatchHung extends Data.TaggedError("WatchHung")<{ readonly seconds: number }> {}

/** KUBECONFIG if set, otherwise the in-cluster service account, as the original. */
export const loadKubeConfig = (): KubeConfig => {
  const config = new KubeConfig()
  const file = process.env.KUBECONFIG
  if (file !== undefined && file !== "") config.loadFromFile(file)
  else config.loadFromCluster()
  return config
}

export interface SliceList {
  readonly items: ReadonlyArray<unknown>
  readonly resourceVersion: string
}

const slicesPath = (namespace: string) => `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`
export const serviceSelector = (name: string) => `kubernetes.io/service-name=${name}`

/** GET as JSON with the kubeconfig's credentials and TLS settings applied by client-node. */
const getJson = (config: KubeConfig, path: string, operation: string) =>
  Effect.callback<unknown, KubernetesApiError>((resume, signal) => {
    const server = config.getCurrentCluster()?.server
    if (server === undefined)
      return resume(Effect.fail(new KubernetesApiError({ operation, status: undefined, reason: "the kubeconfig has no current cluster" })))
    const url = new URL(server.replace(/\/$/, "") + path)
    const options: RequestOptions = { method: "GET", headers: { accept: "application/json", "user-agent": "kubelan" }, signal }
    config
      .applyToHTTPSOptions(options)
      .then(() => {
        const send = url.protocol === "https:" ? httpsRequest : httpRequest
        const req = send(url, options, (response) => {
          let body = ""
          response.setEncoding("utf8")
          response.on("data", (chunk: string) => {
            body += chunk
          })
          response.on("end", () => {
            let parsed: unknown
            try {
              parsed = JSON.parse(body)
            } catch {
              parsed = undefined
            }
            if (response.statusCode === 200 && parsed !== undefined) return resume(Effect.succeed(parsed))
            const message =
              typeof parsed === "object" && parsed !== null && "message" in parsed ? String(parsed.message) : body.slice(0, 200)
            resume(Effect.fail(new KubernetesApiError({ operation, status: response.statusCode, reason: message })))
          })
          response.on("error", (error) =>
            resume(Effect.fail(new KubernetesApiError({ operation, status: undefined, reason: error.message })))
          )
        })
        req.on("error", (error) => resume(Effect.fail(new KubernetesApiError({ operation, status: undefined, reason: error.message }))))
        req.end()
      })
      .catch((error: unknown) => resume(Effect.fail(new KubernetesApiError({ operation, status: undefined, reason: String(error) }))))
  })

const pageSize = 500

/** The parts of an EndpointSliceList kubelan reads; each item is decoded on its own later. */
const SliceListJson = Schema.Struct({
  items: Schema.optional(Schema.NullOr(Schema.Array(Schema.Unknown))),
  metadata: Schema.optional(
    Schema.Struct({ resourceVersion: Schema.optional(Schema.String), continue: Schema.optional(Schema.NullOr(Schema.String)) })
  )
})
const decodeSliceList = Schema.decodeUnknownExit(SliceListJson)

/** Every EndpointSlice of one Service, page by page, and the resourceVersion to watch from. */
export const listServiceSlices = (config: KubeConfig, namespace: string, name: string, timeoutMillis: number) =>
  Effect.gen(function* () {
    const operation = `list EndpointSlices of ${namespace}/${name}`
    const items: Array<unknown> = []
    let token: string | undefined
    let resourceVersion = ""
    do {
      const query = new URLSearchParams({
        labelSelector: serviceSelector(name),
        limit: String(pageSize),
        ...(token ? { continue: token } : {})
      })
      const page = decodeSliceList(yield* getJson(config, `${slicesPath(namespace)}?${query}`, operation))
      if (page._tag === "Failure")
        return yield* new KubernetesApiError({ operation, status: 200, reason: "the answer is not an EndpointSliceList" })
      items.push(...(page.value.items ?? []))
      resourceVersion = page.value.metadata?.resourceVersion ?? resourceVersion
      token = page.value.metadata?.continue || undefined
    } while (token !== undefined)
    return { items, resourceVersion } satisfies SliceList
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeoutMillis,
      orElse: () =>
        Effect.fail(
          new KubernetesApiError({ operation: `list EndpointSlices of ${namespace}/${name}`, status: undefined, reason: "timed out" })
        )
    })
  )

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"

export interface WatchEvent {
  readonly type: WatchEventType
  readonly object: unknown
}

/**
 * One watch of one Service's slices from `resourceVersion`, through client-node's Watch, as a
 * stream of its events. It ends when the server closes the watch cleanly, and fails with the
 * server's status (410: the version is too old, relist) or the transport's error. Whoever runs
 * it folds the events in its own fiber; stopping the stream aborts the request.
 */
export const watchServiceSlices = (config: KubeConfig, namespace: string, name: string, resourceVersion: string, timeoutSeconds: number) =>
  Stream.callback<WatchEvent, KubernetesApiError>((queue) => {
    const operation = `watch EndpointSlices of ${namespace}/${name}`
    const fail = (status: number | undefined, reason: string) =>
      Queue.failCauseUnsafe(queue, Cause.fail(new KubernetesApiError({ operation, status, reason })))
    let stopped = false
    // client-node hands out the AbortController only once the server has answered: the request is
    // started here without waiting, and stopped whenever the controller arrives.
    return Effect.acquireRelease(
      Effect.sync(() =>
        new Watch(config)
          .watch(
            slicesPath(namespace),
            { labelSelector: serviceSelector(name), resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
            (type, object) => {
              if (type === "ERROR") {
                const status = typeof object?.code === "number" ? object.code : undefined
                return fail(status, String(object?.message ?? "watch error"))
              }
              if (type === "ADDED" || type === "MODIFIED" || type === "DELETED" || type === "BOOKMARK")
                Queue.offerUnsafe(queue, { type, object })
            },
            (error: unknown) => {
              if (error === null || error === undefined) return void Queue.endUnsafe(queue)
              // An abort is ours (the stream was stopped), not the server's.
              if (stopped) return
              const status =
                typeof (error as { statusCode?: unknown }).statusCode === "number"
                  ? (error as { statusCode: number }).statusCode
                  : undefined
              fail(status, error instanceof Error ? error.message : String(error))
            }
          )
          .catch((error: unknown) => {
            fail(undefined, String(error))
            return undefined
          })
      ),
      (started) =>
        Effect.sync(() => {
          stopped = true
          void started.then((controller) => controller?.abort())
        })
    )
  })

export { KubeConfig }
