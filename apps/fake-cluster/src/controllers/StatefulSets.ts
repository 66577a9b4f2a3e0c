import type { KubeObject, Store } from "@kubelan/kube-fake"
import { controllerRef, isPodReady, kind, list, ownedBy, specOf, startWorkloadController, statusOf, templateHash } from "../Api.ts"
import { EventRecorder } from "../Events.ts"
import { isPhantom } from "../Phantoms.ts"

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
      // As the real controller's GetPodFromTemplate leaves it, beside the ordinal name.
      generateName: `${set.metadata.name}-`,
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

type Revision = KubeObject & { revision?: number }

/**
 * The set's ControllerRevisions, as the real controller keeps them: one per template it has run,
 * named `<set>-<hash>`, holding the template as the patch `kubectl rollout undo` applies, and
 * numbered in the order they were current (a template that comes back is renumbered last).
 * Beyond `revisionHistoryLimit`, the oldest that no pod runs are deleted.
 */
const syncRevisions = (store: Store, set: KubeObject, hash: string, inUse: ReadonlySet<string>) => {
  const namespace = set.metadata.namespace as string
  const revisions = (list(store, "controllerrevisions", namespace) as Array<Revision>)
    .filter((revision) => ownedBy(revision, set))
    .sort((a, b) => (a.revision ?? 0) - (b.revision ?? 0))
  const top = revisions.at(-1)?.revision ?? 0
  const name = `${set.metadata.name}-${hash}`
  const existing = revisions.find((revision) => revision.metadata.name === name)
  const changeCause = set.metadata.annotations?.["kubernetes.io/change-cause"]
  if (existing === undefined) {
    const template = (specOf(set).template ?? {}) as Record<string, unknown>
    const selector = (specOf(set).selector ?? {}) as { matchLabels?: Record<string, string> }
    store.create(kind("controllerrevisions"), namespace, {
      apiVersion: "apps/v1",
      kind: "ControllerRevision",
      metadata: {
        name,
        labels: { ...(selector.matchLabels ?? {}), "controller.kubernetes.io/hash": hash },
        ...(changeCause === undefined ? {} : { annotations: { "kubernetes.io/change-cause": changeCause } }),
        ownerReferences: [controllerRef(set)]
      },
      data: { spec: { template: { ...template, $patch: "replace" } } },
      revision: top + 1
    })
  } else if ((existing.revision ?? 0) !== top)
    store.update(kind("controllerrevisions"), namespace, name, { ...existing, revision: top + 1 })
  const limit = typeof specOf(set).revisionHistoryLimit === "number" ? (specOf(set).revisionHistoryLimit as number) : 10
  const old = revisions.filter((revision) => revision.metadata.name !== name && !inUse.has(revision.metadata.name as string))
  for (const revision of old.slice(0, Math.max(0, old.length - limit)))
    store.delete(kind("controllerrevisions"), namespace, revision.metadata.name as string)
}

/**
 * OrderedReady, as the real controller's default (Parallel when the spec asks for it): pod N+1 is made once 0..N are running and
 * ready; scale-down removes the highest ordinal first, one at a time; a changed template
 * replaces pods from the highest ordinal down, one at a time.
 */
const reconcile = (store: Store, set: KubeObject, events: EventRecorder) => {
  const namespace = set.metadata.namespace as string
  const replicas = typeof specOf(set).replicas === "number" ? (specOf(set).replicas as number) : 1
  const hash = templateHash(specOf(set).template)
  const updateRevision = `${set.metadata.name}-${hash}`
  const pods = list(store, "pods", namespace)
    .filter((pod) => ownedBy(pod, set))
    .sort((a, b) => ordinalOf(set, a) - ordinalOf(set, b))
  const revisionOf = (pod: KubeObject) => pod.metadata.labels?.["controller-revision-hash"] ?? ""
  syncRevisions(store, set, hash, new Set([...pods.map(revisionOf), String(statusOf(set).currentRevision ?? "")]))
  const byOrdinal = new Map(pods.map((pod) => [ordinalOf(set, pod), pod]))
  const settled = (pod: KubeObject | undefined) => pod !== undefined && !pod.metadata.deletionTimestamp && isPodReady(pod)
  const terminating = pods.some((pod) => pod.metadata.deletionTimestamp)
  const current = (pod: KubeObject) => revisionOf(pod) === updateRevision
  // Phantoms are many and nobody reads their story.
  const phantom = isPhantom({ metadata: ((specOf(set).template ?? {}) as { metadata?: KubeObject["metadata"] }).metadata ?? {} })
  const create = (ordinal: number) => {
    const pod = statefulSetPod(set, ordinal, hash)
    store.create(kind("pods"), namespace, pod)
    if (!phantom)
      events.record(set, "Normal", "SuccessfulCreate", `create Pod ${pod.metadata.name} in StatefulSet ${set.metadata.name} successful`)
  }
  const remove = (pod: KubeObject) => {
    store.delete(kind("pods"), namespace, pod.metadata.name as string)
    if (!phantom)
      events.record(set, "Normal", "SuccessfulDelete", `delete Pod ${pod.metadata.name} in StatefulSet ${set.metadata.name} successful`)
  }

  const parallel = specOf(set).podManagementPolicy === "Parallel"
  if (parallel) {
    // Parallel: every missing pod at once, every extra one at once; updates still one at a time.
    for (const pod of pods.filter((candidate) => ordinalOf(set, candidate) >= replicas && !candidate.metadata.deletionTimestamp))
      remove(pod)
    for (let ordinal = 0; ordinal < replicas; ordinal++) if (!byOrdinal.has(ordinal)) create(ordinal)
    const stale = pods.filter((pod) => ordinalOf(set, pod) < replicas && !current(pod))
    if (!terminating && stale.length > 0 && pods.filter((pod) => ordinalOf(set, pod) < replicas).every(settled))
      remove(stale.at(-1) as KubeObject)
  } else if (!terminating) {
    const extra = pods.filter((pod) => ordinalOf(set, pod) >= replicas).at(-1)
    if (extra !== undefined) remove(extra)
    else {
      let blocked = false
      for (let ordinal = 0; ordinal < replicas && !blocked; ordinal++) {
        const pod = byOrdinal.get(ordinal)
        if (pod === undefined) {
          create(ordinal)
          blocked = true
        } else if (!settled(pod)) blocked = true
      }
      if (!blocked) {
        const stale = pods.filter((pod) => ordinalOf(set, pod) < replicas && !current(pod)).at(-1)
        if (stale !== undefined) remove(stale)
      }
    }
  }
  const live = pods.filter((pod) => ordinalOf(set, pod) < replicas)
  const updated = live.filter(current).length
  // The revision the set is at: the update's once every pod runs it, the last one until then.
  const previous = typeof statusOf(set).currentRevision === "string" ? (statusOf(set).currentRevision as string) : updateRevision
  const currentRevision = updated === replicas && live.length === replicas ? updateRevision : previous
  const status = {
    observedGeneration: set.metadata.generation,
    replicas: live.length,
    readyReplicas: live.filter(settled).length,
    availableReplicas: live.filter(settled).length,
    currentReplicas: live.filter((pod) => revisionOf(pod) === currentRevision).length,
    updatedReplicas: updated,
    currentRevision,
    updateRevision,
    collisionCount: 0
  }
  if (JSON.stringify(statusOf(set)) !== JSON.stringify(status))
    store.update(kind("statefulsets"), namespace, set.metadata.name as string, { ...set, status }, "status")
}

export const startStatefulSetController = (store: Store) => {
  const events = new EventRecorder(store, { component: "statefulset-controller" })
  return startWorkloadController(store, "statefulsets", (current, set) => reconcile(current, set, events))
}
