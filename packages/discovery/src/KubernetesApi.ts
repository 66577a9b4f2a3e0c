import { request as httpRequest } from "node:http"
import { request as httpsRequest, type RequestOptions } from "node:https"
import { KubeConfig, Watch } from "@kubernetes/client-node"
import { Data, Effect } from "effect"

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

/** Every EndpointSlice of one Service, page by page, and the resourceVersion to watch from. */
export const listServiceSlices = (config: KubeConfig, namespace: string, name: string, timeoutMillis: number) =>
  Effect.gen(function* () {
    const items: Array<unknown> = []
    let token: string | undefined
    let resourceVersion = ""
    do {
      const query = new URLSearchParams({
        labelSelector: serviceSelector(name),
        limit: String(pageSize),
        ...(token ? { continue: token } : {})
      })
      const page = (yield* getJson(config, `${slicesPath(namespace)}?${query}`, `list EndpointSlices of ${namespace}/${name}`)) as {
        items?: Array<unknown>
        metadata?: { resourceVersion?: string; continue?: string }
      }
      items.push(...(page.items ?? []))
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion
      token = page.metadata?.continue || undefined
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

/**
 * One watch of one Service's slices from `resourceVersion`, through client-node's Watch.
 * Succeeds when the server closes it cleanly (resume from the last resourceVersion), fails with
 * status 410 when the version is too old (relist), and with WatchHung when the server keeps it
 * open past its own timeout plus a grace period. Events from an abandoned watch are dropped.
 */
export const watchServiceSlices = (
  config: KubeConfig,
  namespace: string,
  name: string,
  resourceVersion: string,
  timeoutSeconds: number,
  onEvent: (type: WatchEventType, object: unknown) => void
) =>
  Effect.callback<void, KubernetesApiError>((resume) => {
    let active = true
    let controller: AbortController | undefined
    const finish = (effect: Effect.Effect<void, KubernetesApiError>) => {
      if (!active) return
      active = false
      resume(effect)
    }
    const operation = `watch EndpointSlices of ${namespace}/${name}`
    new Watch(config)
      .watch(
        slicesPath(namespace),
        { labelSelector: serviceSelector(name), resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
        (type, object) => {
          if (!active) return
          if (type === "ERROR") {
            const status = typeof object?.code === "number" ? object.code : undefined
            return finish(Effect.fail(new KubernetesApiError({ operation, status, reason: String(object?.message ?? "watch error") })))
          }
          if (type === "ADDED" || type === "MODIFIED" || type === "DELETED" || type === "BOOKMARK") onEvent(type, object)
        },
        (error: unknown) => {
          if (error === null || error === undefined) return finish(Effect.void)
          const status =
            typeof (error as { statusCode?: unknown }).statusCode === "number" ? (error as { statusCode: number }).statusCode : undefined
          const reason = error instanceof Error ? error.message : String(error)
          // An abort is ours (we gave up on the watch), not the server's.
          if (reason.includes("aborted") && !active) return
          finish(Effect.fail(new KubernetesApiError({ operation, status, reason })))
        }
      )
      .then(
        (abort) => {
          controller = abort
          if (!active) abort.abort()
        },
        (error: unknown) => finish(Effect.fail(new KubernetesApiError({ operation, status: undefined, reason: String(error) })))
      )
    return Effect.sync(() => {
      active = false
      controller?.abort()
    })
  })

export { KubeConfig }
