import { readFileSync } from "node:fs"
import type { IncomingMessage } from "node:http"
import { request as httpRequest } from "node:http"
import { request as httpsRequest, type RequestOptions } from "node:https"
// Only the kubeconfig loader: client-node's index would also load its generated API and its
// fetch stack, megabytes the agent never uses (bench/README.md). Requests go out on node:http(s)
// with the credentials and TLS settings the loader applies.
import { KubeConfig } from "@kubernetes/client-node/dist/config.js"
import { Cause, Data, Effect, Queue, Stream } from "effect"

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

/** The credentials cannot be loaded: what is missing, and where it was looked for. */
export class KubeconfigError extends Data.TaggedError("KubeconfigError")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

/** A file the in-cluster credentials need, read once now so that a start without it says which. */
const requireReadable = (file: string, what: string, hint: string) => {
  try {
    readFileSync(file)
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^[A-Z]+: /, "") : String(error)
    throw new KubeconfigError({ reason: `cannot read the ${what} ${file} (${reason}): ${hint}` })
  }
}

/** KUBECONFIG if set, otherwise the in-cluster service account, as the original. */
export const loadKubeConfig = (env: NodeJS.ProcessEnv = process.env): KubeConfig => {
  const config = new KubeConfig()
  const file = env.KUBECONFIG
  if (file !== undefined && file !== "") {
    try {
      config.loadFromFile(file)
    } catch (error) {
      throw new KubeconfigError({ reason: `cannot load KUBECONFIG ${file}: ${error instanceof Error ? error.message : String(error)}` })
    }
    return config
  }
  if (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT)
    throw new KubeconfigError({
      reason:
        "not in a Kubernetes pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set) and no KUBECONFIG: set one, or use discovery.backend static or dns"
    })
  const mount = "the pod needs its ServiceAccount token mounted (automountServiceAccountToken must not be false)"
  requireReadable(`${serviceAccountDir}/token`, "ServiceAccount token", mount)
  requireReadable(`${serviceAccountDir}/ca.crt`, "cluster CA certificate", mount)
  config.loadFromCluster()
  return config
}

export interface SliceList {
  readonly items: ReadonlyArray<unknown>
  readonly resourceVersion: string
}

const slicesPath = (namespace: string) => `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`
export const serviceSelector = (name: string) => `kubernetes.io/service-name=${name}`

type JsonObject = Readonly<Record<string, unknown>>
const asObject = (value: unknown): JsonObject | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined

/** The message of a `v1 Status` body, or the start of whatever the server sent. */
const statusMessage = (body: string) => {
  try {
    const message = asObject(JSON.parse(body))?.message
    if (message !== undefined) return String(message)
  } catch {}
  return body.slice(0, 200)
}

/** A request body and its content type (a POST's JSON, a PATCH's merge patch). */
interface Body {
  readonly method: "POST" | "PATCH"
  readonly contentType: string
  readonly text: string
}

/**
 * One request (a GET unless `body` says otherwise) with the kubeconfig's credentials and TLS
 * settings applied by client-node. Every failure before an answer (no cluster, credentials, the
 * transport) reaches `onError`; aborting `signal` ends the request.
 */
const send = (
  config: KubeConfig,
  path: string,
  signal: AbortSignal,
  onResponse: (response: IncomingMessage) => void,
  onError: (reason: string) => void,
  body?: Body
) => {
  const server = config.getCurrentCluster()?.server
  if (server === undefined) return onError("the kubeconfig has no current cluster")
  const url = new URL(server.replace(/\/$/, "") + path)
  const headers: Record<string, string> = { accept: "application/json", "user-agent": "kubelan" }
  if (body !== undefined) headers["content-type"] = body.contentType
  const options: RequestOptions = { method: body?.method ?? "GET", headers, signal }
  config.applyToHTTPSOptions(options).then(
    () => {
      const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, options, onResponse)
      request.on("error", (error) => onError(error.message))
      // A silent peer must not keep a dead connection open: keepalive probes find it.
      request.on("socket", (socket) => socket.setKeepAlive(true, 30_000))
      request.end(body?.text)
    },
    (error: unknown) => onError(error instanceof Error ? error.message : String(error))
  )
}

/** GET (or the body's method) as JSON: the parsed body of a 2xx, else the server's status and message. */
const requestJson = (config: KubeConfig, path: string, operation: string, body?: Body) =>
  Effect.callback<unknown, KubernetesApiError>((resume, signal) => {
    const fail = (status: number | undefined, reason: string) => resume(Effect.fail(new KubernetesApiError({ operation, status, reason })))
    send(
      config,
      path,
      signal,
      (response) => {
        let answer = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => {
          answer += chunk
        })
        response.on("end", () => {
          const status = response.statusCode ?? 0
          if (status < 200 || status > 299) return fail(response.statusCode, statusMessage(answer))
          try {
            resume(Effect.succeed(JSON.parse(answer)))
          } catch {
            fail(status, `the answer is not JSON: ${answer.slice(0, 200)}`)
          }
        })
        response.on("error", (error) => fail(undefined, error.message))
      },
      (reason) => fail(undefined, reason),
      body
    )
  })
const getJson = (config: KubeConfig, path: string, operation: string) => requestJson(config, path, operation)

/** POST a JSON object to a collection: the server's answer, or its status and message. */
export const createJson = (config: KubeConfig, path: string, object: unknown, operation: string) =>
  requestJson(config, path, operation, { method: "POST", contentType: "application/json", text: JSON.stringify(object) })

/** A JSON merge patch of one object. */
export const mergePatchJson = (config: KubeConfig, path: string, patch: unknown, operation: string) =>
  requestJson(config, path, operation, { method: "PATCH", contentType: "application/merge-patch+json", text: JSON.stringify(patch) })

const pageSize = 500

/** The parts of an EndpointSliceList kubelan reads; each item is decoded on its own later. */
const decodeSliceList = (json: unknown) => {
  const list = asObject(json)
  const items = list?.items ?? []
  const metadata = asObject(list?.metadata ?? {})
  const resourceVersion = metadata?.resourceVersion
  const next = metadata?.continue ?? undefined
  if (list === undefined || !Array.isArray(items) || metadata === undefined) return undefined
  if ((resourceVersion !== undefined && typeof resourceVersion !== "string") || (next !== undefined && typeof next !== "string"))
    return undefined
  return { items: items as ReadonlyArray<unknown>, resourceVersion, continue: next }
}

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
      if (page === undefined)
        return yield* new KubernetesApiError({ operation, status: 200, reason: "the answer is not an EndpointSliceList" })
      items.push(...page.items)
      resourceVersion = page.resourceVersion ?? resourceVersion
      token = page.continue || undefined
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

const isEventType = (type: unknown): type is WatchEventType =>
  type === "ADDED" || type === "MODIFIED" || type === "DELETED" || type === "BOOKMARK"

/**
 * One watch of one Service's slices from `resourceVersion`, as a stream of its events: a GET
 * with `watch=true` whose body is one JSON event per line. It ends when the server closes the
 * watch cleanly, and fails with the server's status (410: the version is too old, relist) or the
 * transport's error. Whoever runs it folds the events in its own fiber; stopping the stream
 * aborts the request.
 */
export const watchServiceSlices = (config: KubeConfig, namespace: string, name: string, resourceVersion: string, timeoutSeconds: number) =>
  Stream.callback<WatchEvent, KubernetesApiError>((queue) => {
    const operation = `watch EndpointSlices of ${namespace}/${name}`
    const controller = new AbortController()
    let settled = false
    const fail = (status: number | undefined, reason: string) => {
      if (settled) return
      settled = true
      Queue.failCauseUnsafe(queue, Cause.fail(new KubernetesApiError({ operation, status, reason })))
    }
    const end = () => {
      if (settled) return
      settled = true
      Queue.endUnsafe(queue)
    }
    const query = new URLSearchParams({
      watch: "true",
      labelSelector: serviceSelector(name),
      resourceVersion,
      allowWatchBookmarks: "true",
      timeoutSeconds: String(timeoutSeconds)
    })
    const onLine = (line: string) => {
      if (line.trim() === "") return
      let event: JsonObject | undefined
      try {
        event = asObject(JSON.parse(line))
      } catch {
        return fail(undefined, `the watch sent a line that is not JSON: ${line.slice(0, 200)}`)
      }
      if (event?.type === "ERROR") {
        const status = asObject(event.object)
        return fail(typeof status?.code === "number" ? status.code : undefined, String(status?.message ?? "watch error"))
      }
      if (event !== undefined && isEventType(event.type)) Queue.offerUnsafe(queue, { type: event.type, object: event.object })
    }
    const onResponse = (response: IncomingMessage) => {
      response.setEncoding("utf8")
      let pending = ""
      response.on("data", (chunk: string) => {
        pending += chunk
        // A refused watch is one Status body, read whole at its end.
        if (response.statusCode !== 200) return
        const lines = pending.split("\n")
        pending = lines.pop() ?? ""
        for (const line of lines) onLine(line)
      })
      response.on("end", () => {
        if (response.statusCode !== 200) return fail(response.statusCode, statusMessage(pending))
        onLine(pending)
        end()
      })
      response.on("error", (error) => fail(undefined, error.message))
    }
    return Effect.acquireRelease(
      Effect.sync(() =>
        send(config, `${slicesPath(namespace)}?${query}`, controller.signal, onResponse, (reason) => fail(undefined, reason))
      ),
      () =>
        Effect.sync(() => {
          // Ours, not the server's: nothing more reaches the queue.
          settled = true
          controller.abort()
        })
    )
  })

export { KubeConfig }
