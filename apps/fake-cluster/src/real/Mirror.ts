import { request } from "node:https"
import { groupVersion, isRecord, type KubeObject, type ResourceType, type Store } from "@kubelan/kube-fake"
import { callJson, type Endpoint } from "@kubelan/kube-real"
import { kind } from "../Api.ts"

/** What to mirror: a resource, optionally narrowed as a kubelet narrows its pods (`spec.nodeName=NODE`). */
export interface Mirrored {
  readonly resource: string
  readonly fieldSelector?: string
  readonly labelSelector?: string
}

export const collectionPath = (type: ResourceType, namespace?: string) =>
  `${type.group === "" ? "/api" : "/apis"}/${groupVersion(type)}${
    type.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : ""
  }/${type.resource}`

export const objectPath = (type: ResourceType, namespace: string | undefined, name: string) =>
  `${collectionPath(type, namespace)}/${encodeURIComponent(name)}`

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/**
 * Keeps a store a copy of what kube-apiserver holds, as an informer keeps a cache: list, then
 * watch from the list's resourceVersion, relisting after a 410 or an error. The components that
 * read the store (the kubelet, the scheduler, the network policy controller) read the real
 * cluster; `synced` resolves once every resource was listed once.
 */
export const startMirror = (endpoint: Endpoint, store: Store, mirrored: ReadonlyArray<Mirrored>, log: (message: string) => void) => {
  let stopped = false
  const aborts = new Set<() => void>()
  const follow = async (entry: Mirrored, listed: () => void) => {
    const type = kind(entry.resource)
    const selector = [
      ...(entry.fieldSelector === undefined ? [] : [`fieldSelector=${encodeURIComponent(entry.fieldSelector)}`]),
      ...(entry.labelSelector === undefined ? [] : [`labelSelector=${encodeURIComponent(entry.labelSelector)}`])
    ].join("&")
    let first = true
    while (!stopped) {
      try {
        const answer = await callJson(endpoint, "GET", `${collectionPath(type)}?${selector}`)
        if (answer.status !== 200) throw new Error(`list ${entry.resource}: HTTP ${answer.status}`)
        const list = answer.body as { metadata: { resourceVersion: string }; items: Array<KubeObject> }
        const names = new Set<string>()
        for (const item of list.items) {
          names.add(`${item.metadata.namespace ?? ""}/${item.metadata.name}`)
          store.replicate(type, item.metadata.namespace, item.metadata.name as string, {
            ...item,
            apiVersion: groupVersion(type),
            kind: type.kind
          })
        }
        for (const held of store.list({ resource: type, namespace: undefined, labels: [], fields: [] }).items)
          if (!names.has(`${held.metadata.namespace ?? ""}/${held.metadata.name}`))
            store.replicate(type, held.metadata.namespace, held.metadata.name as string, undefined)
        if (first) listed()
        first = false
        let from = list.metadata.resourceVersion
        // Watch until the server ends it; resume from the last event, relist on 410.
        for (;;) {
          const outcome = await watchOnce(
            endpoint,
            `${collectionPath(type)}?watch=1&allowWatchBookmarks=true&timeoutSeconds=240&resourceVersion=${from}${selector === "" ? "" : `&${selector}`}`,
            (event) => {
              const object = event.object
              if (event.type === "BOOKMARK" || !isRecord(object) || !isRecord(object.metadata)) {
                if (isRecord(object) && isRecord(object.metadata) && typeof object.metadata.resourceVersion === "string")
                  from = object.metadata.resourceVersion
                return
              }
              const item = object as KubeObject
              from = item.metadata.resourceVersion ?? from
              if (event.type === "DELETED") store.replicate(type, item.metadata.namespace, item.metadata.name as string, undefined)
              else store.replicate(type, item.metadata.namespace, item.metadata.name as string, item)
            },
            aborts
          )
          if (stopped || outcome === "relist") break
        }
      } catch (error) {
        if (stopped) return
        log(`mirror of ${entry.resource}: ${error instanceof Error ? error.message : String(error)}; relisting in 1s`)
        await sleep(1000)
      }
    }
  }
  const synced = Promise.all(mirrored.map((entry) => new Promise<void>((resolve) => void follow(entry, resolve)))).then(() => {})
  return {
    synced,
    stop: () => {
      stopped = true
      for (const abort of aborts) abort()
    }
  }
}

/** One watch request: its events to `handle`; "relist" after a 410 (or any ERROR event), "ended" when the server closed it. */
const watchOnce = (
  endpoint: Endpoint,
  path: string,
  handle: (event: { type: string; object: unknown }) => void,
  aborts: Set<() => void>
): Promise<"ended" | "relist"> =>
  new Promise((resolve, reject) => {
    const req = request(
      new URL(endpoint.url + path),
      {
        method: "GET",
        headers: { ...endpoint.headers, accept: "application/json" },
        ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca })
      },
      (response) => {
        if (response.statusCode === 410) return resolve("relist")
        if (response.statusCode !== 200) return reject(new Error(`watch: HTTP ${response.statusCode}`))
        let buffered = ""
        let outcome: "ended" | "relist" = "ended"
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => {
          buffered += chunk
          for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
            const line = buffered.slice(0, end).trim()
            buffered = buffered.slice(end + 1)
            if (line === "") continue
            const event = JSON.parse(line) as { type: string; object: unknown }
            if (event.type === "ERROR") {
              outcome = "relist"
              req.destroy()
              return resolve(outcome)
            }
            handle(event)
          }
        })
        response.on("end", () => resolve(outcome))
        response.on("error", () => resolve(outcome))
      }
    )
    const abort = () => req.destroy()
    aborts.add(abort)
    req.on("close", () => aborts.delete(abort))
    req.on("error", reject)
    req.end()
  })
