import type { KubeObject, Store } from "@kubelan/kube-fake"
import { controllerRef, isPodReady, kind, list, ownedBy, specOf, startWorkloadController, statusOf, templateHash } from "../Api.ts"

const ordinalOf = (set: KubeObject, pod: KubeObject) => {
  const match = new RegExp(`^${set.metadata.name}-(\\d+)$`).exec(pod.metadata.name ?? "")
  return match ? Number(match[1]) : -1
}

export const statefulSetPod = (set: KubeObject, ordinal: number, hash: string): KubeObject => {
  const template = (specOf(set).template ?? {}) as {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }
    spec?: Record<string, unknown>
  }
  const name = `${set.metadata.name}-${ordinal}`
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      labels: {
        ...(template.metadata?.labels ?? {}),
        "statefulset.kubernetes.io/pod-name": name,
        "apps.kubernetes.io/pod-index": String(ordinal),
        "controller-revision-hash": `${set.metadata.name}-${hash}`
      },
      ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
      ownerReferences: [controllerRef(set)]
    },
    spec: { ...(template.spec ?? {}), hostname: name, ...(specOf(set).serviceName ? { subdomain: specOf(set).serviceName } : {}) }
  }
}

/**
 * OrderedReady, as the real controller's default (Parallel when the spec asks for it): pod N+1 is made once 0..N are running and
 * ready; scale-down removes the highest ordinal first, one at a time; a changed template
 * replaces pods from the highest ordinal down, one at a time.
 */
const reconcile = (store: Store, set: KubeObject) => {
  const namespace = set.metadata.namespace as string
  const replicas = typeof specOf(set).replicas === "number" ? (specOf(set).replicas as number) : 1
  const hash = templateHash(specOf(set).template)
  const pods = list(store, "pods", namespace)
    .filter((pod) => ownedBy(pod, set))
    .sort((a, b) => ordinalOf(set, a) - ordinalOf(set, b))
  const byOrdinal = new Map(pods.map((pod) => [ordinalOf(set, pod), pod]))
  const settled = (pod: KubeObject | undefined) => pod !== undefined && !pod.metadata.deletionTimestamp && isPodReady(pod)
  const terminating = pods.some((pod) => pod.metadata.deletionTimestamp)
  const current = (pod: KubeObject) => pod.metadata.labels?.["controller-revision-hash"] === `${set.metadata.name}-${hash}`

  const parallel = specOf(set).podManagementPolicy === "Parallel"
  if (parallel) {
    // Parallel: every missing pod at once, every extra one at once; updates still one at a time.
    for (const pod of pods.filter((candidate) => ordinalOf(set, candidate) >= replicas && !candidate.metadata.deletionTimestamp))
      store.delete(kind("pods"), namespace, pod.metadata.name as string)
    for (let ordinal = 0; ordinal < replicas; ordinal++)
      if (!byOrdinal.has(ordinal)) store.create(kind("pods"), namespace, statefulSetPod(set, ordinal, hash))
    const stale = pods.filter((pod) => ordinalOf(set, pod) < replicas && !current(pod))
    if (!terminating && stale.length > 0 && pods.filter((pod) => ordinalOf(set, pod) < replicas).every(settled))
      store.delete(kind("pods"), namespace, (stale.at(-1) as KubeObject).metadata.name as string)
  } else if (!terminating) {
    const extra = pods.filter((pod) => ordinalOf(set, pod) >= replicas).at(-1)
    if (extra !== undefined) store.delete(kind("pods"), namespace, extra.metadata.name as string)
    else {
      let blocked = false
      for (let ordinal = 0; ordinal < replicas && !blocked; ordinal++) {
        const pod = byOrdinal.get(ordinal)
        if (pod === undefined) {
          store.create(kind("pods"), namespace, statefulSetPod(set, ordinal, hash))
          blocked = true
        } else if (!settled(pod)) blocked = true
      }
      if (!blocked) {
        const stale = pods.filter((pod) => ordinalOf(set, pod) < replicas && !current(pod)).at(-1)
        if (stale !== undefined) store.delete(kind("pods"), namespace, stale.metadata.name as string)
      }
    }
  }
  const live = pods.filter((pod) => ordinalOf(set, pod) < replicas)
  const status = {
    observedGeneration: set.metadata.generation,
    replicas: live.length,
    readyReplicas: live.filter(settled).length,
    availableReplicas: live.filter(settled).length,
    currentReplicas: live.filter(current).length,
    updatedReplicas: live.filter(current).length,
    currentRevision: `${set.metadata.name}-${hash}`,
    updateRevision: `${set.metadata.name}-${hash}`
  }
  if (JSON.stringify(statusOf(set)) !== JSON.stringify(status))
    store.update(kind("statefulsets"), namespace, set.metadata.name as string, { ...set, status }, "status")
}

export const startStatefulSetController = (store: Store) => startWorkloadController(store, "statefulsets", reconcile)
