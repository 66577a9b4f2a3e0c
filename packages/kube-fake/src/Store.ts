import { randomUUID } from "node:crypto"
import { ApiError, notFound } from "./ApiError.ts"
import { applyDefaults } from "./Defaults.ts"
import { clone, isRecord, type KubeObject } from "./KubeObject.ts"
import { type Manager, recordUpdate } from "./ManagedFields.ts"
import { generatedName } from "./Names.ts"
import { admitPod } from "./PodAdmission.ts"
import { type ResourceType, resourceTypes } from "./Resources.ts"
import { type FieldRequirement, matchesFields, matchesLabels, type Requirement } from "./Selectors.ts"
import { ServiceAddresses } from "./ServiceAddresses.ts"
import { badRequest, checkShapes, validate } from "./Validation.ts"

export type EventType = "ADDED" | "MODIFIED" | "DELETED"

/** A change as history keeps it: the object before and after, so a replay can apply selectors. */
interface Change {
  readonly rv: number
  readonly type: EventType
  readonly resource: ResourceType
  readonly object: KubeObject
  readonly previous: KubeObject | undefined
}

export interface Filter {
  readonly resource: ResourceType
  /** undefined = every namespace. */
  readonly namespace: string | undefined
  readonly labels: ReadonlyArray<Requirement>
  readonly fields: ReadonlyArray<FieldRequirement>
}

export interface WatchEvent {
  readonly type: EventType | "BOOKMARK" | "ERROR"
  readonly object: unknown
}

interface Watcher {
  readonly filter: Filter
  readonly send: (event: WatchEvent) => void
}

const keyOf = (namespace: string | undefined, name: string) => `${namespace ?? ""}/${name}`

export const matches = (filter: Filter, object: KubeObject | undefined): boolean =>
  object !== undefined &&
  (filter.namespace === undefined || object.metadata.namespace === filter.namespace) &&
  matchesLabels(filter.labels, object.metadata.labels) &&
  matchesFields(filter.fields, object)

/**
 * How a change looks through a filter: an object entering the selection is ADDED, one
 * leaving it is DELETED, one staying in it keeps the change's own type.
 */
const translate = (filter: Filter, change: Change): WatchEvent | undefined => {
  if (change.resource !== filter.resource) return undefined
  const before = matches(filter, change.previous)
  const after = change.type !== "DELETED" && matches(filter, change.object)
  if (change.type === "DELETED") return before || matches(filter, change.object) ? { type: "DELETED", object: change.object } : undefined
  if (!before && after) return { type: "ADDED", object: change.object }
  if (before && !after) return { type: "DELETED", object: change.object }
  if (before && after) return { type: change.type, object: change.object }
  return undefined
}

/** Everything but the fields the server itself keeps moving: a write equal to this is a no-op. */
const content = (object: KubeObject) => {
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = object.metadata as KubeObject["metadata"] & { managedFields?: unknown }
  return JSON.stringify({ ...object, metadata })
}

const specOf = (object: KubeObject) => {
  const { metadata: _m, status: _s, ...rest } = object
  return JSON.stringify(rest)
}

/** A write's options: a dry run validates and answers as the write would, and changes nothing. */
export interface WriteOptions {
  readonly dryRun?: boolean
  /** Who writes (kubectl's fieldManager, a client's user agent): its fields are recorded in managedFields. */
  readonly manager?: Manager
}

export interface StoreOptions {
  /** How many changes a watch can resume from; older resourceVersions get 410 Gone. */
  readonly history?: number
  /** How long a deleted namespace stays Terminating before it and its contents go. */
  readonly namespaceGraceMillis?: number
  /** Pods are marked on delete and removed by a second delete with grace 0 (a kubelet runs them). */
  readonly gracefulPodDeletion?: boolean
}

/**
 * The objects of every kind, one resourceVersion counter for all of them (as etcd's revision),
 * a bounded history of changes, and the open watches.
 */
/**
 * The kinds whose strategy keeps metadata.generation (a spec change bumps it), as the real
 * server's registry does; the others (Pods in 1.32, Services, ConfigMaps, RBAC, …) have none.
 */
const generationKinds = new Set([
  "Deployment",
  "StatefulSet",
  "ReplicaSet",
  "DaemonSet",
  "Job",
  "CronJob",
  "NetworkPolicy",
  "EndpointSlice",
  "PodDisruptionBudget",
  "Ingress",
  "HorizontalPodAutoscaler",
  "CustomResourceDefinition"
])
const hasGeneration = (type: ResourceType) => generationKinds.has(type.kind)
const accountOf = (pod: KubeObject) => {
  const name = isRecord(pod.spec) ? pod.spec.serviceAccountName : undefined
  return typeof name === "string" && name !== "" ? name : "default"
}
const serviceAccounts = resourceTypes.find((type) => type.resource === "serviceaccounts") as ResourceType

export class Store {
  private revision = 0
  private readonly serviceAddresses = new ServiceAddresses()
  private readonly objects = new Map<ResourceType, Map<string, KubeObject>>(resourceTypes.map((type) => [type, new Map()]))
  private history: Array<Change> = []
  /** Every change after this revision is in `history`. */
  private historyStart = 0
  private readonly watchers = new Set<Watcher>()
  private readonly capacity: number
  private readonly namespaceGraceMillis: number
  private readonly gracefulPods: boolean

  constructor(options: StoreOptions = {}) {
    this.capacity = options.history ?? 1000
    this.namespaceGraceMillis = options.namespaceGraceMillis ?? 500
    this.gracefulPods = options.gracefulPodDeletion ?? false
  }

  get resourceVersion(): number {
    return this.revision
  }

  list(filter: Filter): { items: Array<KubeObject>; resourceVersion: string } {
    const items = [...(this.objects.get(filter.resource)?.values() ?? [])]
      .filter((object) => matches(filter, object))
      .sort((a, b) => keyOf(a.metadata.namespace, a.metadata.name ?? "").localeCompare(keyOf(b.metadata.namespace, b.metadata.name ?? "")))
    return { items: items.map(clone), resourceVersion: String(this.revision) }
  }

  /** The object, or undefined when there is none. */
  find(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const found = this.objects.get(type)?.get(keyOf(namespace, name))
    return found === undefined ? undefined : clone(found)
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const found = this.objects.get(type)?.get(keyOf(namespace, name))
    if (found === undefined) throw notFound(type.resource, type.group, name)
    return clone(found)
  }

  private requireNamespace(type: ResourceType, namespace: string | undefined) {
    if (!type.namespaced) return
    const namespaces = this.objects.get(resourceTypes[0] as ResourceType) as Map<string, KubeObject>
    const found = namespace === undefined ? undefined : namespaces.get(keyOf(undefined, namespace))
    if (found === undefined) throw notFound("namespaces", "", namespace ?? "")
    if (found.metadata.deletionTimestamp)
      throw new ApiError(403, "Forbidden", `unable to create new content in namespace ${namespace} because it is being terminated`)
  }

  create(type: ResourceType, namespace: string | undefined, body: KubeObject, options: WriteOptions = {}): KubeObject {
    this.requireNamespace(type, namespace)
    const object = clone(body)
    object.metadata = { ...object.metadata }
    if (type.namespaced) {
      if (object.metadata.namespace !== undefined && object.metadata.namespace !== namespace)
        throw badRequest("the namespace of the provided object does not match the namespace sent on the request")
      object.metadata.namespace = namespace as string
    } else delete object.metadata.namespace
    checkShapes(type, object)
    applyDefaults(type, object)
    if (type.kind === "Service") this.serviceAddresses.allocate(object)
    if (type.kind === "Pod") admitPod(object, this.find(serviceAccounts, object.metadata.namespace, accountOf(object)))
    if (!object.metadata.name && object.metadata.generateName) object.metadata.name = generatedName(object.metadata.generateName)
    validate(type, object, undefined)
    const name = object.metadata.name as string
    const bucket = this.objects.get(type) as Map<string, KubeObject>
    if (bucket.has(keyOf(object.metadata.namespace, name)))
      throw new ApiError(409, "AlreadyExists", `${type.resource}${type.group === "" ? "" : `.${type.group}`} "${name}" already exists`, {
        name,
        group: type.group,
        kind: type.resource
      })
    object.metadata.uid = randomUUID()
    object.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z")
    if (hasGeneration(type)) object.metadata.generation = 1
    else delete object.metadata.generation
    delete object.metadata.deletionTimestamp
    object.apiVersion = type.group === "" ? type.version : `${type.group}/${type.version}`
    object.kind = type.kind
    // The namespace controller's first act; nothing else here needs it to run.
    if (type.kind === "Namespace") object.status = { phase: "Active" }
    // A server-side apply that creates brings its managedFields; any other create is its manager's alone.
    const managed =
      options.manager === undefined || options.manager.operation === "Apply"
        ? object
        : recordUpdate(undefined, object, options.manager, object.apiVersion)
    // As the real server: a dry-run create has its uid and timestamp, and no resourceVersion.
    if (options.dryRun) return clone(managed)
    return this.commit(type, "ADDED", managed, undefined)
  }

  /** Replaces an object (or only its status). Optimistic concurrency on metadata.resourceVersion. */
  update(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    subresource?: "status",
    options: WriteOptions = {}
  ): KubeObject {
    const previous = this.get(type, namespace, name)
    if (body.metadata?.name !== undefined && body.metadata.name !== name)
      throw badRequest("the name of the object does not match the name on the URL")
    if (body.metadata?.resourceVersion && body.metadata.resourceVersion !== previous.metadata.resourceVersion)
      throw new ApiError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${type.resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        {
          name,
          group: type.group,
          kind: type.resource
        }
      )
    let next: KubeObject
    if (subresource === "status") next = { ...previous, status: clone(body.status) }
    else {
      next = clone(body)
      next.metadata = {
        ...next.metadata,
        name,
        uid: previous.metadata.uid as string,
        creationTimestamp: previous.metadata.creationTimestamp as string
      }
      if (previous.metadata.generation === undefined) delete next.metadata.generation
      else next.metadata.generation = previous.metadata.generation
      if (previous.metadata.deletionTimestamp) next.metadata.deletionTimestamp = previous.metadata.deletionTimestamp
      if (type.namespaced) next.metadata.namespace = namespace as string
      if (type.subresources.includes("status")) {
        if (previous.status === undefined) delete next.status
        else next.status = previous.status
      }
      next.apiVersion = previous.apiVersion as string
      next.kind = previous.kind as string
      applyDefaults(type, next)
      if (type.kind === "Service") this.serviceAddresses.keep(next, previous)
    }
    validate(type, next, previous)
    if (hasGeneration(type) && specOf(next) !== specOf(previous)) next.metadata.generation = (previous.metadata.generation ?? 1) + 1
    next.metadata.resourceVersion = previous.metadata.resourceVersion as string
    // managedFields written as such (an apply's, kubectl's migration of them) are taken as given.
    const managedFields = (object: KubeObject) => JSON.stringify((object.metadata as { managedFields?: unknown }).managedFields ?? [])
    const givenFields = managedFields(next) !== managedFields(previous)
    if (content(next) === content(previous) && !givenFields) return previous
    if (options.manager !== undefined && !givenFields) next = recordUpdate(previous, next, options.manager, next.apiVersion as string)
    if (options.dryRun) return clone(next)
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) return this.remove(type, next)
    return this.commit(type, "MODIFIED", next, previous)
  }

  /**
   * Deletes an object. With graceful pod deletion on (a kubelet is present), a pod is first
   * only marked (deletionTimestamp, deletionGracePeriodSeconds) and goes when deleted again
   * with a grace period of 0, as a kubelet does once its containers have stopped.
   */
  delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: { gracePeriodSeconds?: number } & WriteOptions = {}
  ): KubeObject {
    const object = this.get(type, namespace, name)
    // As the real pod strategy: a pod no node runs (unscheduled, or finished) has nothing to wait for.
    const running =
      type.kind === "Pod" &&
      isRecord(object.spec) &&
      typeof object.spec.nodeName === "string" &&
      object.spec.nodeName !== "" &&
      !(isRecord(object.status) && (object.status.phase === "Succeeded" || object.status.phase === "Failed"))
    if (running && this.gracefulPods && options.gracePeriodSeconds !== 0) {
      if (object.metadata.deletionTimestamp) return object
      const spec = isRecord(object.spec) ? object.spec : {}
      const grace =
        options.gracePeriodSeconds ?? (typeof spec.terminationGracePeriodSeconds === "number" ? spec.terminationGracePeriodSeconds : 30)
      const marked = clone(object)
      marked.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, "Z")
      ;(marked.metadata as Record<string, unknown>).deletionGracePeriodSeconds = grace
      return options.dryRun ? marked : this.commit(type, "MODIFIED", marked, object)
    }
    if ((object.metadata.finalizers ?? []).length > 0) {
      if (object.metadata.deletionTimestamp) return object
      const marked = clone(object)
      marked.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z")
      return options.dryRun ? marked : this.commit(type, "MODIFIED", marked, object)
    }
    if (options.dryRun) return object
    if (type.kind === "Namespace") return this.terminateNamespace(type, object)
    return this.remove(type, object)
  }

  /**
   * As the namespace controller does: the namespace turns Terminating at once, and its contents
   * and then the namespace itself go shortly after, so deletes that follow still find them.
   */
  private terminateNamespace(type: ResourceType, object: KubeObject): KubeObject {
    if (object.metadata.deletionTimestamp) return object
    const terminating = clone(object)
    terminating.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z")
    terminating.status = { phase: "Terminating" }
    const marked = this.commit(type, "MODIFIED", terminating, object)
    const name = object.metadata.name as string
    setTimeout(() => {
      for (const namespacedType of resourceTypes.filter((candidate) => candidate.namespaced))
        for (const child of this.list({ resource: namespacedType, namespace: name, labels: [], fields: [] }).items)
          this.remove(namespacedType, child)
      const current = this.objects.get(type)?.get(keyOf(undefined, name))
      if (current !== undefined) this.remove(type, current)
    }, this.namespaceGraceMillis).unref()
    return marked
  }

  private remove(type: ResourceType, object: KubeObject): KubeObject {
    if (type.kind === "Service") this.serviceAddresses.release(object)
    ;(this.objects.get(type) as Map<string, KubeObject>).delete(keyOf(object.metadata.namespace, object.metadata.name as string))
    return this.commit(type, "DELETED", clone(object), object, false)
  }

  private commit(type: ResourceType, kind: EventType, object: KubeObject, previous: KubeObject | undefined, store = true): KubeObject {
    this.revision += 1
    object.metadata.resourceVersion = String(this.revision)
    if (store)
      (this.objects.get(type) as Map<string, KubeObject>).set(keyOf(object.metadata.namespace, object.metadata.name as string), object)
    const change: Change = { rv: this.revision, type: kind, resource: type, object: clone(object), previous }
    this.history.push(change)
    if (this.history.length > this.capacity) {
      const dropped = this.history.splice(0, this.history.length - this.capacity)
      this.historyStart = (dropped[dropped.length - 1] as Change).rv
    }
    for (const watcher of this.watchers) {
      const event = translate(watcher.filter, change)
      if (event !== undefined) watcher.send(event)
    }
    return clone(object)
  }

  /**
   * Opens a watch. From "" or "0": the current objects as ADDED, then live. From N: the changes
   * after N, then live; N older than the kept history is 410 Gone. Returns the events to send
   * first and a function that closes the watch.
   */
  watch(
    filter: Filter,
    fromResourceVersion: string | undefined,
    send: (event: WatchEvent) => void
  ): { initial: Array<WatchEvent>; close: () => void } {
    let initial: Array<WatchEvent>
    if (fromResourceVersion === undefined || fromResourceVersion === "" || fromResourceVersion === "0")
      initial = this.list(filter).items.map((object) => ({ type: "ADDED", object }))
    else {
      const from = Number(fromResourceVersion)
      if (!Number.isInteger(from) || from < 0) throw badRequest(`invalid resourceVersion ${JSON.stringify(fromResourceVersion)}`)
      if (from < this.historyStart) throw gone(from, this.historyStart)
      initial = this.history.filter((change) => change.rv > from).flatMap((change) => translate(filter, change) ?? [])
    }
    const watcher: Watcher = { filter, send }
    this.watchers.add(watcher)
    return { initial, close: () => this.watchers.delete(watcher) }
  }

  /**
   * Holds an object as another server has it, for a store that caches a real cluster (a
   * kubelet's view of kube-apiserver): uid, timestamps and all kept as given, only the
   * resourceVersion this store's own; no admission, defaults or validation. `undefined`: it is gone.
   */
  replicate(type: ResourceType, namespace: string | undefined, name: string, object: KubeObject | undefined): void {
    const bucket = this.objects.get(type) as Map<string, KubeObject>
    const previous = bucket.get(keyOf(type.namespaced ? namespace : undefined, name))
    if (object === undefined) {
      if (previous !== undefined) this.remove(type, previous)
      return
    }
    const next = clone(object)
    next.metadata = { ...next.metadata, name }
    if (type.namespaced) next.metadata.namespace = namespace as string
    if (previous !== undefined && content(next) === content(previous)) return
    this.commit(type, previous === undefined ? "ADDED" : "MODIFIED", next, previous)
  }

  /** Forgets the history: a watch from any earlier resourceVersion now gets 410 Gone. */
  compact(): void {
    this.history = []
    this.historyStart = this.revision
  }
}

export const gone = (from: number, oldest: number) => new ApiError(410, "Expired", `too old resource version: ${from} (${oldest})`)
