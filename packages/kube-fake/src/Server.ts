import { existsSync, unlinkSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { createServer as createSecureServer } from "node:https"
import type { AddressInfo } from "node:net"
import type { Duplex } from "node:stream"
import { parse as parseYaml } from "yaml"
import { attributesOf, authenticate, requireAllowed, reviewAccess } from "./Access.ts"
import { ApiError } from "./ApiError.ts"
import { type ConvertedView, convertedViews } from "./ConvertedViews.ts"
import { coreVersions, groupList, resourceList, versionInfo } from "./DiscoveryDocuments.ts"
import { refuseUpgrade, runExecSession, speaksChannelProtocol } from "./ExecChannel.ts"
import { type FaultRequest, type FaultState, noFaults } from "./Faults.ts"
import { isRecord, type KubeObject } from "./KubeObject.ts"
import { type Manager, serverSideApply } from "./ManagedFields.ts"
import { openApiDiscovery, openApiDocument, unknownFields } from "./OpenApi.ts"
import { jsonMergePatch, jsonPatch, PatchError, strategicMergePatch } from "./Patch.ts"
import { execOptions, logOptions, type PodStreams, requireNode } from "./PodStreams.ts"
import { decodeProtobuf, isProtobuf } from "./Protobuf.ts"
import type { UserInfo } from "./Rbac.ts"
import { clientOf, RequestLog } from "./RequestLog.ts"
import { groupVersion, type ResourceType, reviewResources } from "./Resources.ts"
import { type ApiPath, knownGroupVersion, parseApiPath } from "./Router.ts"
import { parseFieldSelector, parseLabelSelector, SelectorError } from "./Selectors.ts"
import { type Filter, Store, type WatchEvent, type WriteOptions } from "./Store.ts"
import { toTable, wantsTable } from "./Table.ts"
import { makeTokenIssuer } from "./Tokens.ts"

export interface KubeFakeOptions {
  /** `HOST:PORT` for TCP (port 0 = any free port). Default 127.0.0.1:0. */
  readonly listen?: string
  /** Also serve on this Unix socket path. */
  readonly socket?: string
  /** Changes kept for watch resumption (older resourceVersions get 410). */
  readonly history?: number
  /** Period of BOOKMARK events on watches that allow them. */
  readonly bookmarkMillis?: number
  /** Pods are deleted gracefully (marked, then removed by the kubelet). */
  readonly gracefulPodDeletion?: boolean
  /** How long a request for a resourceVersion the store has not reached waits before 504 (the real server: 3 s). */
  readonly tooLargeWaitMillis?: number
  /**
   * Also serve HTTPS with this certificate on a Unix socket (what pods reach, through a relay):
   * there requests are authenticated by ServiceAccount token and authorized by RBAC.
   */
  readonly tls?: { readonly cert: string; readonly key: string; readonly socket: string }
  /** Who runs the pods' containers: it serves `pods/log` and `pods/exec`, as a kubelet does behind the real server. */
  readonly pods?: PodStreams
}

export interface KubeFakeServer {
  readonly url: string
  readonly socket: string | undefined
  readonly store: Store
  readonly requestLog: RequestLog
  /** Applies faults as `POST /_fake/faults` does. */
  fault(request: FaultRequest): void
  /** A token for a ServiceAccount, as the TokenRequest API issues it (the kubelet mounts these). */
  issueToken(namespace: string, serviceAccount: string, options?: { pod?: { name: string; uid: string }; seconds?: number }): string
  close(): Promise<void>
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const readBytes = (request: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

const readBody = async (request: IncomingMessage) => (await readBytes(request)).toString("utf8")

/** A request body as JSON: sent as JSON, or in Kubernetes' protobuf encoding for the kinds kube-fake reads so. */
const readObject = async (request: IncomingMessage): Promise<unknown> =>
  isProtobuf(request.headers["content-type"]) ? decodeProtobuf(await readBytes(request)) : parseJson(await readBody(request))

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new ApiError(400, "BadRequest", `the request body is not JSON: ${(error as Error).message}`)
  }
}

const asObject = (value: unknown): KubeObject => {
  if (!isRecord(value)) throw new ApiError(400, "BadRequest", "the request body must be a JSON object")
  if (value.metadata !== undefined && value.metadata !== null && !isRecord(value.metadata))
    throw new ApiError(400, "BadRequest", "the request body's metadata must be an object")
  return { ...value, metadata: isRecord(value.metadata) ? (value.metadata as KubeObject["metadata"]) : {} }
}

/** Starts an in-memory API server; resolves once it listens. */
export const startKubeFake = async (options: KubeFakeOptions = {}): Promise<KubeFakeServer> => {
  const store = new Store({
    ...(options.history === undefined ? {} : { history: options.history }),
    ...(options.gracefulPodDeletion === undefined ? {} : { gracefulPodDeletion: options.gracefulPodDeletion })
  })
  const requestLog = new RequestLog()
  const tokens = makeTokenIssuer()
  let faults: FaultState = noFaults()
  const openWatches = new Set<ServerResponse>()
  const bookmarkMillis = options.bookmarkMillis ?? 10_000
  const tooLargeWaitMillis = options.tooLargeWaitMillis ?? 3000
  for (const name of ["default", "kube-system", "kube-public", "kube-node-lease"])
    store.create(resourceTypeOf("namespaces"), undefined, { metadata: { name } })

  const fault = (request: FaultRequest) => {
    if (request.reset) faults = noFaults()
    if (request.failNext) faults.failNext = { count: request.failNext.count, code: request.failNext.code ?? 500 }
    if (request.latencyMillis !== undefined) faults.latencyMillis = request.latencyMillis
    if (request.hangMillis !== undefined) faults.hangUntil = Date.now() + request.hangMillis
    if (request.refuseMillis !== undefined) faults.refuseUntil = Date.now() + request.refuseMillis
    if (request.endWatchesAtOnce !== undefined) faults.endWatchesAtOnce = request.endWatchesAtOnce
    if (request.compact) store.compact()
    if (request.dropWatches) for (const response of openWatches) response.destroy()
  }

  const send = (response: ServerResponse, client: string, status: number, body: unknown) => {
    const text = `${JSON.stringify(body)}\n`
    response.writeHead(status, { "content-type": "application/json", ...(status === 429 ? { "retry-after": "1" } : {}) })
    response.end(text)
    requestLog.sent(client, Buffer.byteLength(text))
  }

  const handle = async (request: IncomingMessage, response: ServerResponse, secure: boolean) => {
    const url = new URL(request.url ?? "/", "http://kube-fake")
    const client = clientOf(request.headers["user-agent"])
    if (url.pathname.startsWith("/_fake/") && !secure) return admin(request, response, url)
    if (Date.now() < faults.refuseUntil) return request.socket.destroy()
    requestLog.request(client, `${request.method} ${url.pathname}${url.search}`)
    if (Date.now() < faults.hangUntil) await sleep(faults.hangUntil - Date.now())
    if (faults.latencyMillis > 0) await sleep(faults.latencyMillis)
    if (faults.failNext.count > 0) {
      faults.failNext.count -= 1
      const code = faults.failNext.code
      const reason = code === 429 ? "TooManyRequests" : code === 503 ? "ServiceUnavailable" : "InternalError"
      return send(response, client, code, new ApiError(code, reason, `kube-fake: injected failure (${code})`).toStatus())
    }
    try {
      const user = authenticate(request.headers, secure, tokens, store)
      await serve(request, response, url, client, user)
    } catch (error) {
      const apiError = asApiError(error)
      if (!response.headersSent) send(response, client, apiError.code, apiError.toStatus())
      else response.end()
    }
  }

  /** `kubectl exec`: checked and authorized as any request, then the WebSocket session with the pod's runtime. */
  const upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer, secure: boolean) => {
    if (Date.now() < faults.refuseUntil) return socket.destroy()
    const url = new URL(request.url ?? "/", "http://kube-fake")
    requestLog.request(clientOf(request.headers["user-agent"]), `${request.method} ${url.pathname}${url.search}`)
    try {
      const user = authenticate(request.headers, secure, tokens, store)
      const path = url.pathname.replace(/\/+$/, "") || "/"
      const target = parseApiPath(path)
      requireAllowed(store, user, attributesOf(request.method ?? "GET", path, target, url.searchParams))
      if (target?.kind !== "resource" || target.type.resource !== "pods" || target.subresource !== "exec" || target.name === undefined)
        throw new ApiError(400, "BadRequest", `kube-fake upgrades only pods/exec requests, not ${path}`)
      const pod = store.get(target.type, target.namespace, target.name)
      requireNode(pod)
      const asked = execOptions(pod, url.searchParams)
      const streams = podStreams()
      // After the checks: kubectl retries a refused WebSocket over SPDY, and shows that answer.
      if (!speaksChannelProtocol(request))
        throw new ApiError(
          400,
          "BadRequest",
          "kube-fake runs exec over WebSocket (v5.channel.k8s.io or v4.channel.k8s.io), not SPDY: use kubectl 1.30 or later"
        )
      runExecSession(request, socket, head, asked, (options) => streams.exec(pod, options))
    } catch (error) {
      refuseUpgrade(socket, asApiError(error))
    }
  }

  const podStreams = () => {
    if (options.pods === undefined)
      throw new ApiError(400, "BadRequest", "kube-fake runs no containers: logs and exec need a kubelet (kubelan-sim has one)")
    return options.pods
  }

  /** `GET pods/NAME/log`: checked here, read from the pod's runtime, streamed as plain text. */
  const serveLog = async (request: IncomingMessage, response: ServerResponse, pod: KubeObject, query: URLSearchParams) => {
    requireNode(pod)
    const write = await podStreams().logs(pod, logOptions(pod, query))
    const abort = new AbortController()
    request.on("close", () => abort.abort())
    response.on("close", () => abort.abort())
    response.writeHead(200, { "content-type": "text/plain", "transfer-encoding": "chunked" })
    response.flushHeaders()
    await write(response, abort.signal)
    response.end()
  }

  const serve = async (request: IncomingMessage, response: ServerResponse, url: URL, client: string, user: UserInfo) => {
    const path = url.pathname.replace(/\/+$/, "") || "/"
    requireAllowed(store, user, attributesOf(request.method ?? "GET", path, parseApiPath(path), url.searchParams))
    if (request.method === "GET") {
      if (path === "/version") return send(response, client, 200, versionInfo)
      if (path === "/healthz" || path === "/readyz" || path === "/livez") {
        response.writeHead(200, { "content-type": "text/plain" })
        return response.end("ok")
      }
      if (path === "/api") return send(response, client, 200, coreVersions(request.headers.host ?? "127.0.0.1"))
      if (path === "/apis") return send(response, client, 200, groupList())
      // kubectl 1.32 will not apply without an OpenAPI v2 document; it reads it as protobuf, where
      // zero bytes is a valid empty Document, and skips validating kinds it has no schema for.
      if (path === "/openapi/v2") {
        response.writeHead(200, { "content-type": "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" })
        return response.end()
      }
      if (path === "/openapi/v3") return send(response, client, 200, openApiDiscovery())
      if (path.startsWith("/openapi/v3/")) {
        const document = openApiDocument(path.slice("/openapi/v3/".length))
        if (document === undefined) throw new ApiError(404, "NotFound", `kube-fake has no OpenAPI v3 document for ${path}`)
        response.writeHead(200, { "content-type": "application/json", etag: `"${document.hash}"`, "cache-control": "public, immutable" })
        requestLog.sent(client, document.body.length)
        return response.end(document.body)
      }
      if (path.startsWith("/openapi")) throw new ApiError(404, "NotFound", `kube-fake serves no ${path}`)
    }
    const target = parseApiPath(path)
    if (target === undefined) throw new ApiError(404, "NotFound", `the server could not find the requested resource (${path})`, {})
    if (target.kind === "resourceList") {
      const list = request.method === "GET" ? resourceList(target.group, target.version) : undefined
      if (list === undefined || !knownGroupVersion(target.group, target.version))
        throw new ApiError(404, "NotFound", `the server could not find the requested resource (${path})`, {})
      return send(response, client, 200, list)
    }
    return serveResource(request, response, url, client, target, user)
  }

  const serveResource = async (
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
    client: string,
    target: Extract<ApiPath, { kind: "resource" }>,
    user: UserInfo
  ) => {
    const { type, namespace, name, subresource } = target
    // Bodies are JSON, or protobuf for the kinds kube-fake decodes (a 415 names them); CBOR gets 415.
    if (/cbor/.test(request.headers["content-type"] ?? ""))
      throw new ApiError(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/json`
      )
    if (subresource !== undefined && !type.subresources.includes(subresource))
      // As the real server words a route it lacks, with empty details (kubectl debug reads them).
      throw new ApiError(404, "NotFound", "the server could not find the requested resource", {})
    if (reviewResources.has(type.resource)) {
      if (request.method !== "POST") throw new ApiError(405, "MethodNotAllowed", `${type.resource} only answer a create`)
      const self = type.resource === "selfsubjectaccessreviews"
      return send(response, client, 201, reviewAccess(store, user, await readObject(request), self))
    }
    if (type.resource === "serviceaccounts" && subresource === "token" && name !== undefined) {
      if (request.method !== "POST") throw new ApiError(405, "MethodNotAllowed", "a token is asked for with POST")
      return send(response, client, 201, tokenRequest(namespace as string, name, parseJson(await readBody(request))))
    }
    const query = url.searchParams
    if (type.resource === "pods" && name !== undefined && (subresource === "log" || subresource === "exec")) {
      if (subresource === "exec") throw new ApiError(400, "BadRequest", "Upgrade request required")
      if (request.method !== "GET") throw new ApiError(405, "MethodNotAllowed", "a log is read with GET")
      return serveLog(request, response, store.get(type, namespace, name), query)
    }
    const table = wantsTable(request.headers.accept)
    const filter: Filter = {
      resource: type,
      namespace: type.namespaced ? namespace : undefined,
      labels: parseLabelSelector(query.get("labelSelector")),
      fields: parseFieldSelector(query.get("fieldSelector"), type.group === "" ? type.kind : `${type.group}/${type.kind}`)
    }
    const write: WriteOptions =
      request.method === "GET"
        ? {}
        : {
            ...writeOptions(query),
            manager: managerOf(query, request.headers["user-agent"], subresource === "status" ? "status" : undefined)
          }
    const view = convertedViews.get(type)
    if (view !== undefined) return serveConverted(request, response, client, target, view, query, table, filter, write)
    switch (request.method) {
      case "GET": {
        if (name !== undefined && subresource === "scale") return send(response, client, 200, scaleOf(store.get(type, namespace, name)))
        if (name !== undefined) {
          const object = store.get(type, namespace, name)
          return send(response, client, 200, table ? toTable(type, [object], query.get("includeObject")) : object)
        }
        if (query.get("watch") === "true" || query.get("watch") === "1") return watch(request, response, query, client, filter, table)
        if (query.get("resourceVersion") !== "0") await notAhead(query.get("resourceVersion"))
        return send(response, client, 200, listOf(type, filter, query, table))
      }
      case "POST": {
        if (name !== undefined) throw new ApiError(405, "MethodNotAllowed", "POST is for collections")
        const body = asObject(await readObject(request))
        if (subresource !== "scale") checkFields(response, type, body, query)
        checkFields(response, type, body, query)
        return send(response, client, 201, store.create(type, namespace, body, write))
      }
      case "PUT": {
        if (name === undefined) throw new ApiError(405, "MethodNotAllowed", "PUT needs an object name")
        const body = asObject(await readObject(request))
        if (subresource === "scale") return send(response, client, 200, scaleOf(setReplicas(type, namespace, name, body, write)))
        return send(
          response,
          client,
          200,
          store.update(type, namespace, name, body, subresource === "status" ? "status" : undefined, write)
        )
      }
      case "PATCH": {
        if (name === undefined) throw new ApiError(405, "MethodNotAllowed", "PATCH needs an object name")
        const contentType = (request.headers["content-type"] ?? "").split(";")[0]?.trim()
        if (contentType === "application/apply-patch+yaml" && subresource === undefined)
          return serverSideApplyRequest(response, client, type, namespace, name, await readBody(request), query, write)
        const patch = parseJson(await readBody(request))
        const current = subresource === "scale" ? scaleOf(store.get(type, namespace, name)) : store.get(type, namespace, name)
        let patched: unknown
        if (contentType === "application/merge-patch+json") patched = jsonMergePatch(current, patch)
        else if (contentType === "application/strategic-merge-patch+json") patched = strategicMergePatch(current, patch)
        else if (contentType === "application/json-patch+json") patched = jsonPatch(current, patch)
        else
          throw new ApiError(
            415,
            "UnsupportedMediaType",
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`
          )
        const body = asObject(patched)
        if (subresource !== "scale") checkFields(response, type, body, query)
        if (subresource === "scale") return send(response, client, 200, scaleOf(setReplicas(type, namespace, name, body, write)))
        const { resourceVersion: _ignored, ...metadata } = body.metadata
        return send(
          response,
          client,
          200,
          store.update(type, namespace, name, { ...body, metadata }, subresource === "status" ? "status" : undefined, write)
        )
      }
      case "DELETE": {
        const body = await readBody(request)
        const options = body.trim() === "" ? {} : parseJson(body)
        const grace = query.get("gracePeriodSeconds") ?? (isRecord(options) ? options.gracePeriodSeconds : undefined)
        // kubectl sends a delete's dryRun in its DeleteOptions body, not the query.
        const bodyDryRun = isRecord(options) && Array.isArray(options.dryRun) ? options.dryRun : []
        const dryRun =
          write.dryRun === true ||
          writeOptions(new URLSearchParams(bodyDryRun.map((value): [string, string] => ["dryRun", String(value)]))).dryRun === true
        const deleteOptions = { dryRun, ...(grace === undefined || grace === null ? {} : { gracePeriodSeconds: Number(grace) }) }
        if (name !== undefined) return send(response, client, 200, store.delete(type, namespace, name, deleteOptions))
        const deleted = store
          .list(filter)
          .items.map((object) => store.delete(type, object.metadata.namespace, object.metadata.name as string, deleteOptions))
        return send(response, client, 200, {
          kind: `${type.kind}List`,
          apiVersion: deleted[0]?.apiVersion ?? "v1",
          metadata: {},
          items: deleted
        })
      }
      default:
        throw new ApiError(405, "MethodNotAllowed", `${request.method} is not supported`)
    }
  }

  /**
   * A kind served in another version than it is stored in (events.k8s.io/v1 Events as core/v1,
   * discovery.k8s.io/v1beta1 EndpointSlices as v1): converted on the way in and out, as the real
   * server does.
   */
  const serveConverted = async (
    request: IncomingMessage,
    response: ServerResponse,
    client: string,
    target: Extract<ApiPath, { kind: "resource" }>,
    view: ConvertedView,
    query: URLSearchParams,
    table: boolean,
    filter: Filter,
    write: WriteOptions
  ) => {
    const { namespace, name } = target
    const storage = view.storage
    const stored: Filter = { ...filter, resource: storage, fields: filter.fields.map(view.field) }
    const body = async () => view.fromServed(asObject(await readObject(request)))
    switch (request.method) {
      case "GET": {
        if (name !== undefined) {
          const object = store.get(storage, namespace, name)
          return send(response, client, 200, table ? toTable(storage, [object], query.get("includeObject")) : view.toServed(object))
        }
        if (query.get("watch") === "true" || query.get("watch") === "1")
          return watch(request, response, query, client, stored, table, view.toServed, target.type)
        const list = listOf(storage, stored, query, table) as { items?: Array<KubeObject> }
        if (table) return send(response, client, 200, list)
        return send(response, client, 200, { ...list, apiVersion: groupVersion(target.type), items: (list.items ?? []).map(view.toServed) })
      }
      case "POST":
        return send(response, client, 201, view.toServed(store.create(storage, namespace, await body(), write)))
      case "PUT":
        if (name === undefined) throw new ApiError(405, "MethodNotAllowed", "PUT needs an object name")
        return send(response, client, 200, view.toServed(store.update(storage, namespace, name, await body(), undefined, write)))
      case "PATCH": {
        if (name === undefined) throw new ApiError(405, "MethodNotAllowed", "PATCH needs an object name")
        const contentType = (request.headers["content-type"] ?? "").split(";")[0]?.trim()
        const patch = parseJson(await readBody(request))
        const current = view.toServed(store.get(storage, namespace, name))
        const patched =
          contentType === "application/json-patch+json"
            ? jsonPatch(current, patch)
            : contentType === "application/strategic-merge-patch+json"
              ? strategicMergePatch(current, patch)
              : jsonMergePatch(current, patch)
        const next = view.fromServed(asObject(patched))
        const { resourceVersion: _ignored, ...metadata } = next.metadata
        return send(response, client, 200, view.toServed(store.update(storage, namespace, name, { ...next, metadata }, undefined, write)))
      }
      case "DELETE":
        if (name === undefined) throw new ApiError(405, "MethodNotAllowed", `delete one ${target.type.singular} at a time`)
        return send(response, client, 200, view.toServed(store.delete(storage, namespace, name, write)))
      default:
        throw new ApiError(405, "MethodNotAllowed", `${request.method} is not supported`)
    }
  }

  /**
   * `kubectl apply --server-side`: the configuration merged into the object (made if missing) with
   * field ownership, conflicts answered 409 unless `force=true`.
   */
  const serverSideApplyRequest = (
    response: ServerResponse,
    client: string,
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: string,
    query: URLSearchParams,
    write: WriteOptions
  ) => {
    const manager = query.get("fieldManager")
    if (manager === null || manager === "") throw new ApiError(400, "BadRequest", "PATCH with apply content type requires a fieldManager")
    let parsed: unknown
    try {
      parsed = parseYaml(body)
    } catch (error) {
      throw new ApiError(400, "BadRequest", `the apply configuration is not YAML or JSON: ${(error as Error).message}`)
    }
    const config = asObject(parsed)
    const apiVersion = type.group === "" ? type.version : `${type.group}/${type.version}`
    if (config.apiVersion !== apiVersion || config.kind !== type.kind)
      throw new ApiError(
        400,
        "BadRequest",
        `the apply configuration is a ${config.apiVersion} ${config.kind}, not the ${apiVersion} ${type.kind} of the URL`
      )
    if (config.metadata.name !== undefined && config.metadata.name !== name)
      throw new ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
    const live = store.find(type, namespace, name)
    const force = query.get("force") === "true"
    const result = serverSideApply(
      live,
      { ...config, metadata: { ...config.metadata, name } },
      { name: manager, operation: "Apply" },
      apiVersion,
      force
    )
    const options = { ...(write.dryRun === true ? { dryRun: true } : {}), manager: { name: manager, operation: "Apply" as const } }
    if (live === undefined) return send(response, client, 201, store.create(type, namespace, result, options))
    const { resourceVersion: _ignored, ...metadata } = result.metadata
    return send(response, client, 200, store.update(type, namespace, name, { ...result, metadata }, undefined, options))
  }

  /**
   * Field validation as the real server does it (`fieldValidation`, which kubectl sends as Strict):
   * fields the kind's schema lacks are refused (Strict), reported as warnings (Warn, the default),
   * or let through (Ignore).
   */
  const checkFields = (response: ServerResponse, type: ResourceType, object: KubeObject, query: URLSearchParams) => {
    const mode = query.get("fieldValidation") ?? "Warn"
    if (!["Strict", "Warn", "Ignore"].includes(mode))
      throw new ApiError(
        400,
        "BadRequest",
        `fieldValidation: Unsupported value: ${JSON.stringify(mode)}: supported values: "Ignore", "Strict", "Warn"`
      )
    // Unless refused, unknown fields are dropped, as decoding into the server's types drops them.
    const unknown = unknownFields(type.group, type.version, type.kind, object, mode !== "Strict")
    if (mode === "Ignore") return
    if (unknown.length === 0) return
    if (mode === "Strict")
      throw new ApiError(
        400,
        "BadRequest",
        `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: strict decoding error: ${unknown.map((field) => `unknown field "${field}"`).join(", ")}`
      )
    response.setHeader(
      "warning",
      unknown.map((field) => `299 - ${JSON.stringify(`unknown field "${field}"`)}`)
    )
  }

  const setReplicas = (type: ResourceType, namespace: string | undefined, name: string, scale: KubeObject, write: WriteOptions) => {
    const object = store.get(type, namespace, name)
    const spec = isRecord(scale.spec) ? scale.spec : {}
    return store.update(
      type,
      namespace,
      name,
      { ...object, spec: { ...(isRecord(object.spec) ? object.spec : {}), replicas: spec.replicas } },
      undefined,
      write
    )
  }

  const listOf = (type: ResourceType, filter: Filter, query: URLSearchParams, table: boolean) => {
    const { items, resourceVersion } = store.list(filter)
    const limit = Number(query.get("limit") ?? 0)
    const token = query.get("continue")
    let start = 0
    if (token) {
      try {
        start = (JSON.parse(Buffer.from(token, "base64url").toString()) as { start: number }).start
      } catch {
        throw new ApiError(400, "BadRequest", "invalid continue token")
      }
    }
    const page = limit > 0 ? items.slice(start, start + limit) : items.slice(start)
    const more = limit > 0 && start + limit < items.length
    const metadata = {
      resourceVersion,
      ...(more
        ? {
            continue: Buffer.from(JSON.stringify({ start: start + limit })).toString("base64url"),
            remainingItemCount: items.length - start - limit
          }
        : {})
    }
    if (table) return toTable(type, page, query.get("includeObject"), metadata)
    return {
      kind: `${type.kind}List`,
      apiVersion: type.group === "" ? type.version : `${type.group}/${type.version}`,
      metadata,
      items: page
    }
  }

  /**
   * A resourceVersion newer than the store's (a client that saw a server which has since been
   * restored from older storage) is waited for a few seconds, then refused as the real server
   * does: 504 Timeout, "Too large resource version".
   */
  const notAhead = async (resourceVersion: string | null) => {
    const wanted = Number(resourceVersion)
    if (resourceVersion === null || resourceVersion === "" || !Number.isSafeInteger(wanted)) return
    const deadline = Date.now() + tooLargeWaitMillis
    while (store.resourceVersion < wanted && Date.now() < deadline) await sleep(50)
    if (store.resourceVersion < wanted)
      throw new ApiError(504, "Timeout", `Timeout: Too large resource version: ${wanted}, current: ${store.resourceVersion}`, {
        causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version", field: "" }],
        retryAfterSeconds: 1
      })
  }

  const watch = async (
    request: IncomingMessage,
    response: ServerResponse,
    query: URLSearchParams,
    client: string,
    filter: Filter,
    table: boolean,
    view?: (object: KubeObject) => KubeObject,
    // The kind as the client asked for it, which its bookmarks name (a converted view's, not the stored one).
    served: ResourceType = filter.resource
  ) => {
    const includeObject = query.get("includeObject")
    const render = (event: WatchEvent): WatchEvent => {
      if (event.type === "ERROR" || event.type === "BOOKMARK") return event
      if (table) return { type: event.type, object: toTable(filter.resource, [event.object as KubeObject], includeObject ?? "Object") }
      return view === undefined ? event : { type: event.type, object: view(event.object as KubeObject) }
    }
    const write = (event: WatchEvent) => {
      // A watch that ended (its timeout, a client gone over TLS before 'close' arrived) takes nothing more.
      if (response.writableEnded || response.destroyed) return
      const text = `${JSON.stringify(render(event))}\n`
      response.write(text)
      requestLog.sent(client, Buffer.byteLength(text))
      const kind =
        event.type === "BOOKMARK" || event.type === "ERROR"
          ? event.type
          : isRecord(event.object) && typeof event.object.kind === "string"
            ? event.object.kind
            : event.type
      requestLog.event(client, kind)
    }
    const sendInitialEvents = query.get("sendInitialEvents") === "true"
    const allowBookmarks = query.get("allowWatchBookmarks") === "true"
    if (!sendInitialEvents) await notAhead(query.get("resourceVersion"))
    let opened: ReturnType<Store["watch"]>
    try {
      opened = store.watch(filter, sendInitialEvents ? "" : (query.get("resourceVersion") ?? undefined), write)
    } catch (error) {
      if (error instanceof ApiError && error.code === 410) {
        response.writeHead(200, { "content-type": "application/json" })
        write({ type: "ERROR", object: error.toStatus() })
        return response.end()
      }
      throw error
    }
    response.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" })
    response.flushHeaders()
    openWatches.add(response)
    const bookmark = (annotations?: Record<string, string>) =>
      write({
        type: "BOOKMARK",
        object: {
          kind: served.kind,
          apiVersion: groupVersion(served),
          metadata: { resourceVersion: String(store.resourceVersion), ...(annotations ? { annotations } : {}) }
        }
      })
    for (const event of opened.initial) write(event)
    if (sendInitialEvents) bookmark({ "k8s.io/initial-events-end": "true" })
    if (faults.endWatchesAtOnce) return response.end()
    const timers: Array<NodeJS.Timeout> = []
    if (allowBookmarks) timers.push(setInterval(() => bookmark(), bookmarkMillis))
    const timeoutSeconds = Number(query.get("timeoutSeconds") ?? 0)
    if (timeoutSeconds > 0) timers.push(setTimeout(() => response.end(), timeoutSeconds * 1000))
    const close = () => {
      opened.close()
      openWatches.delete(response)
      for (const timer of timers) clearTimeout(timer)
    }
    response.on("close", close)
    response.on("finish", close)
    // A client that vanished mid-write is the end of its watch, not the server's.
    response.on("error", close)
    request.on("close", close)
  }

  const admin = async (request: IncomingMessage, response: ServerResponse, url: URL) => {
    const reply = (body: unknown) => {
      response.writeHead(200, { "content-type": "application/json" })
      response.end(`${JSON.stringify(body)}\n`)
    }
    if (url.pathname === "/_fake/faults" && request.method === "POST") {
      fault(parseJson(await readBody(request)) as FaultRequest)
      return reply({ faults, openWatches: openWatches.size })
    }
    if (url.pathname === "/_fake/clients" && request.method === "GET") return reply(requestLog.byClient())
    if (url.pathname === "/_fake/clients" && request.method === "DELETE") {
      requestLog.reset()
      return reply({})
    }
    response.writeHead(404, { "content-type": "application/json" })
    response.end(`${JSON.stringify(new ApiError(404, "NotFound", `no admin path ${url.pathname}`).toStatus())}\n`)
  }

  /** The TokenRequest API: a token for the ServiceAccount, bound to the pod it names, for `expirationSeconds` (1 h by default). */
  const tokenRequest = (namespace: string, name: string, body: unknown) => {
    const spec = isRecord(body) && isRecord(body.spec) ? body.spec : {}
    const seconds = typeof spec.expirationSeconds === "number" ? spec.expirationSeconds : 3600
    if (!Number.isInteger(seconds) || seconds < 600)
      throw new ApiError(
        422,
        "Invalid",
        `TokenRequest.authentication.k8s.io "${name}" is invalid: spec.expirationSeconds: Invalid value: ${seconds}: may not specify a duration less than 10 minutes`
      )
    const bound = isRecord(spec.boundObjectRef) ? spec.boundObjectRef : undefined
    const pod =
      bound?.kind === "Pod" && typeof bound.name === "string" && typeof bound.uid === "string"
        ? { name: bound.name, uid: bound.uid }
        : undefined
    const token = issueToken(namespace, name, { seconds, ...(pod === undefined ? {} : { pod }) })
    return {
      kind: "TokenRequest",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { name, namespace, creationTimestamp: null },
      spec: { ...spec, expirationSeconds: seconds },
      status: { token, expirationTimestamp: new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z") }
    }
  }

  const issueToken: KubeFakeServer["issueToken"] = (namespace, serviceAccount, options = {}) => {
    const account = store.get(resourceTypeOf("serviceaccounts"), namespace, serviceAccount)
    return tokens.issue({
      namespace,
      serviceAccount: { name: serviceAccount, uid: account.metadata.uid as string },
      pod: options.pod,
      expires: Math.floor(Date.now() / 1000) + (options.seconds ?? 3600)
    })
  }

  const listener = (secure: boolean) => (request: IncomingMessage, response: ServerResponse) => {
    void handle(request, response, secure)
  }
  const upgrades = (server: Server, secure: boolean) => {
    server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => upgrade(request, socket, head, secure))
    return server
  }
  const servers: Array<Server> = []
  const listen = (server: Server, target: { port: number; host: string } | string) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      if (typeof target === "string") server.listen(target, resolve)
      else server.listen(target.port, target.host, resolve)
    })
  const { host, port } = listenAddress(options.listen ?? "127.0.0.1:0")
  const tcp = upgrades(createServer(listener(false)), false)
  await listen(tcp, { host, port })
  servers.push(tcp)
  if (options.socket !== undefined) {
    if (existsSync(options.socket)) unlinkSync(options.socket)
    const unix = upgrades(createServer(listener(false)), false)
    await listen(unix, options.socket)
    servers.push(unix)
  }
  if (options.tls !== undefined) {
    if (existsSync(options.tls.socket)) unlinkSync(options.tls.socket)
    const secure = upgrades(createSecureServer({ cert: options.tls.cert, key: options.tls.key }, listener(true)), true)
    await listen(secure, options.tls.socket)
    servers.push(secure)
  }
  const address = tcp.address() as AddressInfo
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`,
    socket: options.socket,
    store,
    requestLog,
    fault,
    issueToken,
    close: async () => {
      for (const response of openWatches) response.destroy()
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve())
              server.closeAllConnections()
            })
        )
      )
    }
  }
}

const asApiError = (error: unknown): ApiError =>
  error instanceof ApiError
    ? error
    : error instanceof SelectorError
      ? new ApiError(400, "BadRequest", error.message)
      : error instanceof PatchError
        ? new ApiError(error.code, error.code === 422 ? "Invalid" : "BadRequest", error.message)
        : new ApiError(500, "InternalError", String(error))

/**
 * Who a write is from, for managedFields: the `fieldManager` kubectl names, else the client's user
 * agent up to its first `/`, as the real server defaults it.
 */
const managerOf = (query: URLSearchParams, userAgent: string | undefined, subresource: "status" | undefined): Manager => {
  const named = query.get("fieldManager")
  if (named !== null && named.length > 128) throw new ApiError(400, "BadRequest", `fieldManager: Too long: may not be more than 128 bytes`)
  const name = named !== null && named !== "" ? named : (userAgent ?? "unknown").split("/")[0] || "unknown"
  return { name, operation: "Update", ...(subresource === undefined ? {} : { subresource }) }
}

/** `dryRun=All` makes a write a dry run; the real server refuses any other value. */
const writeOptions = (query: URLSearchParams): WriteOptions => {
  const values = query.getAll("dryRun")
  if (values.length === 0) return {}
  const unsupported = values.find((value) => value !== "All")
  if (unsupported !== undefined)
    throw new ApiError(400, "BadRequest", `dryRun: Unsupported value: ${JSON.stringify(unsupported)}: supported values: "All"`)
  return { dryRun: true }
}

/** `HOST:PORT` or `[IPv6]:PORT`, read by the platform's URL parser. */
export const listenAddress = (listen: string): { host: string; port: number } => {
  const url = URL.parse(`http://${listen}`)
  if (url === null || url.hostname === "" || url.pathname !== "/") throw new Error(`${JSON.stringify(listen)} is not HOST:PORT`)
  return { host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port: url.port === "" ? 80 : Number(url.port) }
}

const resourceTypeOf = (resource: string) => {
  const found = parseApiPath(`/api/v1/${resource}`)
  if (found?.kind !== "resource") throw new Error(`unknown resource ${resource}`)
  return found.type
}

/** The autoscaling/v1 Scale of a StatefulSet or Deployment. */
const scaleOf = (object: KubeObject) => ({
  kind: "Scale",
  apiVersion: "autoscaling/v1",
  metadata: {
    name: object.metadata.name,
    namespace: object.metadata.namespace,
    resourceVersion: object.metadata.resourceVersion,
    uid: object.metadata.uid
  },
  spec: { replicas: isRecord(object.spec) ? (object.spec.replicas ?? 1) : 1 },
  status: { replicas: isRecord(object.status) ? (object.status.replicas ?? 0) : 0 }
})
