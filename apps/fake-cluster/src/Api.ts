import { createHash } from "node:crypto"
import { isRecord, type KubeObject, type ResourceType, resourceTypes, type Store, type WatchEvent } from "@kubelan/kube-fake"

/** In-process access to kube-fake's store for the controllers and the kubelet. */
export const kind = (resource: string): ResourceType => {
  const found = resourceTypes.find((type) => type.resource === resource)
  if (found === undefined) throw new Error(`unknown resource ${resource}`)
  return found
}

export const everything = (resource: string) => ({ resource: kind(resource), namespace: undefined, labels: [], fields: [] })

/** Calls `handle` for every change of a kind, starting with the current objects as ADDED. */
export const watchKind = (store: Store, resource: string, handle: (event: WatchEvent & { object: KubeObject }) => void) => {
  const opened = store.watch(everything(resource), "", (event) => handle(event as WatchEvent & { object: KubeObject }))
  for (const event of opened.initial) handle(event as WatchEvent & { object: KubeObject })
  return opened.close
}

export const list = (store: Store, resource: string, namespace?: string) =>
  store.list({ resource: kind(resource), namespace, labels: [], fields: [] }).items

export const tryGet = (store: Store, resource: string, namespace: string | undefined, name: string): KubeObject | undefined => {
  try {
    return store.get(kind(resource), namespace, name)
  } catch {
    return undefined
  }
}

export const specOf = (object: KubeObject): Record<string, unknown> => (isRecord(object.spec) ? object.spec : {})
export const statusOf = (object: KubeObject): Record<string, unknown> => (isRecord(object.status) ? object.status : {})

export const controllerRef = (owner: KubeObject) => ({
  apiVersion: owner.apiVersion as string,
  kind: owner.kind as string,
  name: owner.metadata.name as string,
  uid: owner.metadata.uid as string,
  controller: true,
  blockOwnerDeletion: true
})

export const ownedBy = (object: KubeObject, owner: KubeObject) =>
  (object.metadata.ownerReferences ?? []).some((reference) => reference.uid === owner.metadata.uid)

/** A Service's `spec.selector`: every key must equal the pod's label; an empty selector selects nothing. */
export const selectorMatches = (selector: unknown, labels: Record<string, string> | undefined) =>
  isRecord(selector) && Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels?.[key] === value)

export const isPodReady = (pod: KubeObject) =>
  ((statusOf(pod).conditions ?? []) as Array<{ type: string; status: string }>).some(
    (condition) => condition.type === "Ready" && condition.status === "True"
  )

/** Runs `work` at most once per `millis`, coalescing calls made meanwhile (a workqueue). */
export const coalesce = (millis: number, work: () => void) => {
  let timer: NodeJS.Timeout | undefined
  return () => {
    if (timer !== undefined) return
    timer = setTimeout(() => {
      timer = undefined
      work()
    }, millis)
  }
}

/**
 * A workload controller's loop: on any change of its own kind or of pods (and on a slow tick,
 * for what events miss), reconcile every live object of its kind; a failure is logged and
 * retried on the next round.
 */
export const startWorkloadController = (store: Store, resource: string, reconcile: (store: Store, object: KubeObject) => void) => {
  const run = coalesce(10, () => {
    for (const object of list(store, resource)) {
      if (object.metadata.deletionTimestamp) continue
      try {
        reconcile(store, object)
      } catch (error) {
        process.stderr.write(`${resource} controller: ${object.metadata.namespace}/${object.metadata.name}: ${String(error)}\n`)
      }
    }
  })
  const stops = [watchKind(store, resource, run), watchKind(store, "pods", run)]
  const tick = setInterval(run, 1000)
  return () => {
    clearInterval(tick)
    for (const stop of stops) stop()
  }
}

/**
 * JSON with keys sorted and zero values dropped (null, false, 0, "", {} and []), as a Go struct
 * holds an omitted field and its zero alike: equal templates, however a client sent them (JSON,
 * or protobuf which writes every field), read the same.
 */
const canonical = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonical)
  if (!isRecord(value)) return value
  const zero = (item: unknown) =>
    item === null ||
    item === undefined ||
    item === false ||
    item === 0 ||
    item === "" ||
    (Array.isArray(item) && item.length === 0) ||
    (isRecord(item) && Object.keys(item).length === 0)
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, canonical(value[key])] as const)
      .filter(([, item]) => !zero(item))
  )
}

/**
 * A stable hash of a pod template: pods carrying another hash are from an older revision. As the
 * real controllers hash the Go struct, a template read back from a ReplicaSet (`rollout undo`,
 * with `creationTimestamp: null`) hashes as the one it came from.
 */
export const templateHash = (template: unknown) =>
  createHash("sha256")
    .update(JSON.stringify(canonical(template ?? {})))
    .digest("hex")
    .slice(0, 10)
