import { isRecord, type KubeObject, type ResourceType, Store, type WriteOptions } from "@kubelan/kube-fake"
import { callJson, type Endpoint } from "@kubelan/kube-real"
import { collectionPath, objectPath } from "./Mirror.ts"

/** Fields the server keeps: never sent back to it. */
const withoutServerFields = (object: KubeObject): Record<string, unknown> => {
  const {
    resourceVersion: _rv,
    uid: _uid,
    creationTimestamp: _created,
    managedFields: _managed,
    generation: _generation,
    ...metadata
  } = object.metadata as KubeObject["metadata"] & { managedFields?: unknown }
  const sent: Record<string, unknown> = { ...object, metadata }
  // An Event names the version of its object this store had, not the server's.
  if (isRecord(sent.involvedObject)) {
    const { resourceVersion: _version, ...involved } = sent.involvedObject
    sent.involvedObject = involved
  }
  return sent
}

const mergePatch = "application/merge-patch+json"

/**
 * A store that is a component's cache of kube-apiserver (kept by a mirror) and sends the
 * component's writes to it with the component's identity (a kubelet's as `system:node:NAME`):
 * a write applies here at once, as the component expects to read it back, and goes to the server
 * in order per object; the mirror then brings the server's answer. A pod given a node is bound
 * through `pods/binding`, as kube-scheduler does.
 */
export class ReplicaStore extends Store {
  private readonly upstream: Endpoint
  private readonly report: (message: string) => void
  /** Per object, the tail of its writes in flight: each waits for the one before. */
  private readonly queues = new Map<string, Promise<void>>()

  constructor(upstream: Endpoint, report: (message: string) => void) {
    super({ history: 1000, gracefulPodDeletion: true })
    this.upstream = upstream
    this.report = report
  }

  private send(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    what: string,
    write: () => Promise<{ status: number; body: unknown }>
  ) {
    const key = `${type.resource}/${namespace ?? ""}/${name}`
    const next = (this.queues.get(key) ?? Promise.resolve()).then(async () => {
      try {
        const answer = await write()
        if (answer.status >= 300) {
          const message =
            isRecord(answer.body) && typeof answer.body.message === "string" ? answer.body.message : JSON.stringify(answer.body)
          this.report(`${what} ${key}: HTTP ${answer.status}: ${message}`)
        }
      } catch (error) {
        this.report(`${what} ${key}: ${error instanceof Error ? error.message : String(error)}`)
      }
    })
    this.queues.set(key, next)
    void next.then(() => {
      if (this.queues.get(key) === next) this.queues.delete(key)
    })
  }

  override create(type: ResourceType, namespace: string | undefined, body: KubeObject, options: WriteOptions = {}): KubeObject {
    const created = super.create(type, namespace, body, options)
    if (options.dryRun) return created
    const name = created.metadata.name as string
    this.send(type, namespace, name, "create", async () => {
      const answer = await callJson(this.upstream, "POST", collectionPath(type, namespace), withoutServerFields(created))
      // Already there (a node registering again): what it holds becomes what was written.
      if (answer.status !== 409) return answer
      const { metadata: _metadata, ...rest } = withoutServerFields(created)
      return type.subresources.includes("status") && rest.status !== undefined
        ? callJson(this.upstream, "PATCH", `${objectPath(type, namespace, name)}/status`, { status: rest.status }, mergePatch)
        : callJson(this.upstream, "PATCH", objectPath(type, namespace, name), rest, mergePatch)
    })
    return created
  }

  override update(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    subresource?: "status",
    options: WriteOptions = {}
  ): KubeObject {
    const previous = this.find(type, namespace, name)
    const updated = super.update(type, namespace, name, body, subresource, options)
    if (options.dryRun) return updated
    const nodeName = (object: KubeObject | undefined) => (object !== undefined && isRecord(object.spec) ? object.spec.nodeName : undefined)
    if (subresource === "status")
      this.send(type, namespace, name, "status", () =>
        callJson(this.upstream, "PATCH", `${objectPath(type, namespace, name)}/status`, { status: updated.status }, mergePatch)
      )
    else if (type.kind === "Pod" && !nodeName(previous) && typeof nodeName(updated) === "string")
      this.send(type, namespace, name, "bind", () =>
        callJson(this.upstream, "POST", `${objectPath(type, namespace, name)}/binding`, {
          apiVersion: "v1",
          kind: "Binding",
          metadata: { name, namespace },
          target: { apiVersion: "v1", kind: "Node", name: nodeName(updated) }
        })
      )
    else {
      const { metadata, status: _status, ...rest } = withoutServerFields(updated)
      const { labels, annotations } = metadata as { labels?: unknown; annotations?: unknown }
      this.send(type, namespace, name, "update", () =>
        callJson(this.upstream, "PATCH", objectPath(type, namespace, name), { ...rest, metadata: { labels, annotations } }, mergePatch)
      )
    }
    return updated
  }

  override delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: { gracePeriodSeconds?: number } & WriteOptions = {}
  ): KubeObject {
    const deleted = super.delete(type, namespace, name, options)
    if (options.dryRun) return deleted
    const grace = options.gracePeriodSeconds === undefined ? "" : `?gracePeriodSeconds=${options.gracePeriodSeconds}`
    this.send(type, namespace, name, "delete", () => callJson(this.upstream, "DELETE", `${objectPath(type, namespace, name)}${grace}`))
    return deleted
  }
}
