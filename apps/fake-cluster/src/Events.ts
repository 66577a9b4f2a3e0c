import type { KubeObject, Store } from "@kubelan/kube-fake"
import { kind, tryGet } from "./Api.ts"

/**
 * Events as client-go's recorder writes them for the controllers and the kubelet: a core/v1
 * Event named `<object>.<time in hex>`, and the same event again (same object, reason, message)
 * counted on the first one rather than written anew, as the recorder's aggregation does.
 */
export interface EventSource {
  /** `default-scheduler`, `kubelet`, `statefulset-controller`... */
  readonly component: string
  /** The node, for the kubelet. */
  readonly host?: string
}

export type EventType = "Normal" | "Warning"

const isoSeconds = () => new Date().toISOString().replace(/\.\d+Z$/, "Z")

export class EventRecorder {
  private readonly store: Store
  private readonly source: EventSource
  /** What was recorded, by what makes two events the same: the name of the Event that counts them. */
  private readonly seen = new Map<string, { readonly namespace: string; readonly name: string }>()
  private sequence = 0

  constructor(store: Store, source: EventSource) {
    this.store = store
    this.source = source
  }

  record(object: KubeObject, type: EventType, reason: string, message: string, fieldPath?: string) {
    const namespace = object.metadata.namespace ?? "default"
    const key = JSON.stringify([object.metadata.uid, fieldPath, type, reason, message])
    try {
      const known = this.seen.get(key)
      const existing = known === undefined ? undefined : tryGet(this.store, "events", known.namespace, known.name)
      if (existing !== undefined) {
        const count = (typeof existing.count === "number" ? existing.count : 1) + 1
        this.store.update(kind("events"), known?.namespace, known?.name as string, { ...existing, count, lastTimestamp: isoSeconds() })
        return
      }
      // As client-go names them, by the time in nanoseconds: a counter stands in for the digits a JS clock lacks.
      const nanos = BigInt(Date.now()) * 1_000_000n + BigInt(this.sequence++ % 1_000_000)
      const name = `${object.metadata.name}.${nanos.toString(16)}`
      this.store.create(kind("events"), namespace, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: {
          kind: object.kind,
          namespace: object.metadata.namespace,
          name: object.metadata.name,
          uid: object.metadata.uid,
          apiVersion: object.apiVersion,
          resourceVersion: object.metadata.resourceVersion,
          ...(fieldPath === undefined ? {} : { fieldPath })
        },
        reason,
        message,
        type,
        source: { component: this.source.component, ...(this.source.host === undefined ? {} : { host: this.source.host }) },
        firstTimestamp: isoSeconds(),
        lastTimestamp: isoSeconds(),
        count: 1,
        reportingComponent: this.source.component,
        reportingInstance: this.source.host ?? ""
      })
      this.seen.set(key, { namespace, name })
      // The recorder's cache is bounded; an event past it starts a new count.
      if (this.seen.size > 4096) this.seen.delete(this.seen.keys().next().value as string)
    } catch (error) {
      // An event is news, not state: a namespace going away takes its events with it.
      process.stderr.write(`events (${this.source.component}): ${String(error)}\n`)
    }
  }
}
