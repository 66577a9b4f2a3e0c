import type { KubeObject, Store } from "@kubelan/kube-fake"
import { controllerRef, isPodReady, kind, list, ownedBy, specOf, startWorkloadController, statusOf } from "../Api.ts"
import { EventRecorder } from "../Events.ts"

/**
 * The ReplicaSet controller: `replicas` pods from the template, named by the server from
 * `<replicaset>-`; extra pods go, not-ready ones first and then the newest, as the real one picks.
 */
const reconcile = (store: Store, set: KubeObject, events: EventRecorder) => {
  const namespace = set.metadata.namespace as string
  const replicas = typeof specOf(set).replicas === "number" ? (specOf(set).replicas as number) : 1
  const template = (specOf(set).template ?? {}) as { metadata?: KubeObject["metadata"]; spec?: Record<string, unknown> }
  const pods = list(store, "pods", namespace).filter((pod) => ownedBy(pod, set) && !pod.metadata.deletionTimestamp)
  for (let i = pods.length; i < replicas; i++) {
    const pod = store.create(kind("pods"), namespace, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        generateName: `${set.metadata.name}-`,
        labels: { ...(template.metadata?.labels ?? {}) },
        ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
        ownerReferences: [controllerRef(set)]
      },
      spec: template.spec ?? {}
    })
    events.record(set, "Normal", "SuccessfulCreate", `Created pod: ${pod.metadata.name}`)
  }
  const doomed = [...pods]
    .sort(
      (a, b) =>
        Number(isPodReady(a)) - Number(isPodReady(b)) ||
        String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp))
    )
    .slice(0, Math.max(0, pods.length - replicas))
  for (const pod of doomed) {
    store.delete(kind("pods"), namespace, pod.metadata.name as string)
    events.record(set, "Normal", "SuccessfulDelete", `Deleted pod: ${pod.metadata.name}`)
  }
  const kept = pods.filter((pod) => !doomed.includes(pod))
  const ready = kept.filter(isPodReady).length
  const status = {
    replicas: kept.length,
    fullyLabeledReplicas: kept.length,
    readyReplicas: ready,
    availableReplicas: ready,
    observedGeneration: set.metadata.generation
  }
  if (JSON.stringify(statusOf(set)) !== JSON.stringify(status))
    store.update(kind("replicasets"), namespace, set.metadata.name as string, { ...set, status }, "status")
}

export const startReplicaSetController = (store: Store) => {
  const events = new EventRecorder(store, { component: "replicaset-controller" })
  return startWorkloadController(store, "replicasets", (current, set) => reconcile(current, set, events))
}
