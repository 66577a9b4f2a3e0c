import type { KubeObject, Store } from "@kubelan/kube-fake"
import { controllerRef, isPodReady, kind, list, ownedBy, specOf, startWorkloadController, statusOf, templateHash } from "../Api.ts"
import { EventRecorder } from "../Events.ts"

/**
 * The Deployment controller as the real one works, for the cases in use: one ReplicaSet per pod
 * template (`<deployment>-<hash>`, its pods labelled `pod-template-hash`), numbered by the
 * `deployment.kubernetes.io/revision` annotation that `kubectl rollout history|undo` read; a new
 * template rolls out by RollingUpdate within maxSurge and maxUnavailable, or by Recreate; old
 * ReplicaSets beyond `revisionHistoryLimit` are deleted once empty.
 */
const revisionKey = "deployment.kubernetes.io/revision"
const hashLabel = "pod-template-hash"
const changeCause = "kubernetes.io/change-cause"

const revisionOf = (set: KubeObject) => Number(set.metadata.annotations?.[revisionKey] ?? 0)
const replicasOf = (object: KubeObject) => (typeof specOf(object).replicas === "number" ? (specOf(object).replicas as number) : 1)

/** maxSurge and maxUnavailable: a count, or a percentage of replicas (surge rounded up, unavailable down). */
const resolve = (value: unknown, replicas: number, roundUp: boolean) => {
  if (typeof value === "number") return value
  const percent = /^(\d+)%$/.exec(String(value ?? "25%"))
  const fraction = (Number(percent?.[1] ?? 25) * replicas) / 100
  return roundUp ? Math.ceil(fraction) : Math.floor(fraction)
}

const isoSeconds = () => new Date().toISOString().replace(/\.\d+Z$/, "Z")

type Condition = { type: string; status: string; reason: string; message: string; lastUpdateTime?: string; lastTransitionTime?: string }

/** Conditions keep their times while they say the same thing, so a status is rewritten only when it changes. */
const withTimes = (previous: ReadonlyArray<Condition>, next: ReadonlyArray<Condition>) =>
  next.map((condition) => {
    const before = previous.find((candidate) => candidate.type === condition.type)
    const same = before !== undefined && before.status === condition.status && before.reason === condition.reason
    return {
      ...condition,
      lastUpdateTime: same ? before.lastUpdateTime : isoSeconds(),
      lastTransitionTime: before !== undefined && before.status === condition.status ? before.lastTransitionTime : isoSeconds()
    }
  })

const reconcile = (store: Store, deployment: KubeObject, events: EventRecorder) => {
  const namespace = deployment.metadata.namespace as string
  const name = deployment.metadata.name as string
  const replicas = replicasOf(deployment)
  const template = (specOf(deployment).template ?? {}) as { metadata?: KubeObject["metadata"]; spec?: Record<string, unknown> }
  const hash = templateHash(template)
  const selector = (specOf(deployment).selector ?? {}) as { matchLabels?: Record<string, string> }
  const sets = list(store, "replicasets", namespace).filter((set) => ownedBy(set, deployment))
  const pods = list(store, "pods", namespace).filter((pod) => !pod.metadata.deletionTimestamp)
  const podsOf = (set: KubeObject) => pods.filter((pod) => ownedBy(pod, set))
  const topRevision = Math.max(0, ...sets.map(revisionOf))
  const cause = deployment.metadata.annotations?.[changeCause]
  const scale = (set: KubeObject, to: number) => {
    const from = replicasOf(set)
    if (from === to) return set
    const updated = store.update(kind("replicasets"), namespace, set.metadata.name as string, {
      ...set,
      spec: { ...specOf(set), replicas: to }
    })
    events.record(
      deployment,
      "Normal",
      "ScalingReplicaSet",
      `Scaled ${to > from ? "up" : "down"} replica set ${set.metadata.name} from ${from} to ${to}`
    )
    return updated
  }

  let newSet = sets.find((set) => set.metadata.labels?.[hashLabel] === hash)
  if (newSet === undefined)
    newSet = store.create(kind("replicasets"), namespace, {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name: `${name}-${hash}`,
        labels: { ...(template.metadata?.labels ?? {}), [hashLabel]: hash },
        annotations: {
          [revisionKey]: String(topRevision + 1),
          "deployment.kubernetes.io/desired-replicas": String(replicas),
          ...(cause === undefined ? {} : { [changeCause]: cause })
        },
        ownerReferences: [controllerRef(deployment)]
      },
      spec: {
        replicas: 0,
        selector: { ...selector, matchLabels: { ...(selector.matchLabels ?? {}), [hashLabel]: hash } },
        template: {
          ...template,
          metadata: { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [hashLabel]: hash } }
        }
      }
    })
  else if (revisionOf(newSet) < topRevision || (cause !== undefined && newSet.metadata.annotations?.[changeCause] !== cause)) {
    // A template that comes back (rollout undo) is the newest revision again.
    const annotations: Record<string, string> = {
      ...(newSet.metadata.annotations ?? {}),
      [revisionKey]: String(revisionOf(newSet) < topRevision ? topRevision + 1 : revisionOf(newSet))
    }
    if (cause !== undefined) annotations[changeCause] = cause
    newSet = store.update(kind("replicasets"), namespace, newSet.metadata.name as string, {
      ...newSet,
      metadata: { ...newSet.metadata, annotations }
    })
  }
  const current = newSet
  // The Deployment carries its current revision too (and `kubectl rollout undo` patches its annotations).
  const revision = current.metadata.annotations?.[revisionKey]
  if (revision !== undefined && deployment.metadata.annotations?.[revisionKey] !== revision) {
    const annotations = { ...(deployment.metadata.annotations ?? {}), [revisionKey]: revision }
    const { resourceVersion: _any, ...metadata } = deployment.metadata
    store.update(kind("deployments"), namespace, name, { ...deployment, metadata: { ...metadata, annotations } })
  }
  const oldSets = sets.filter((set) => set.metadata.uid !== current.metadata.uid).sort((a, b) => revisionOf(a) - revisionOf(b))
  const strategy = (specOf(deployment).strategy ?? {}) as {
    type?: string
    rollingUpdate?: { maxSurge?: unknown; maxUnavailable?: unknown }
  }
  const surge = resolve(strategy.rollingUpdate?.maxSurge, replicas, true)
  let unavailable = resolve(strategy.rollingUpdate?.maxUnavailable, replicas, false)
  if (surge === 0 && unavailable === 0) unavailable = 1

  if (strategy.type === "Recreate") {
    for (const set of oldSets) scale(set, 0)
    // The new pods start only once every old one has gone.
    if (oldSets.every((set) => podsOf(set).length === 0)) newSet = scale(newSet, replicas)
  } else {
    const total = oldSets.reduce((sum, set) => sum + replicasOf(set), replicasOf(newSet))
    const room = replicas + surge - total
    if (replicasOf(newSet) < replicas && room > 0) newSet = scale(newSet, Math.min(replicas, replicasOf(newSet) + room))
    if (replicasOf(newSet) > replicas) newSet = scale(newSet, replicas)
    const all = oldSets.reduce((sum, set) => sum + replicasOf(set), replicasOf(newSet))
    const newUnavailable = Math.max(0, replicasOf(newSet) - podsOf(newSet).filter(isPodReady).length)
    let down = all - (replicas - unavailable) - newUnavailable
    for (const set of oldSets) {
      if (down <= 0) break
      const by = Math.min(replicasOf(set), down)
      if (by > 0) scale(set, replicasOf(set) - by)
      down -= by
    }
  }

  // History: empty old ReplicaSets beyond the limit go, oldest first.
  const limit = typeof specOf(deployment).revisionHistoryLimit === "number" ? (specOf(deployment).revisionHistoryLimit as number) : 10
  const empty = oldSets.filter((set) => replicasOf(set) === 0 && podsOf(set).length === 0)
  for (const set of empty.slice(0, Math.max(0, empty.length - limit)))
    store.delete(kind("replicasets"), namespace, set.metadata.name as string)

  const allPods = [newSet, ...oldSets].flatMap(podsOf)
  const updatedPods = podsOf(newSet)
  const available = allPods.filter(isPodReady).length
  const complete = updatedPods.length === replicas && allPods.length === replicas && updatedPods.filter(isPodReady).length === replicas
  const conditions = withTimes((statusOf(deployment).conditions ?? []) as Array<Condition>, [
    available >= replicas - unavailable
      ? { type: "Available", status: "True", reason: "MinimumReplicasAvailable", message: "Deployment has minimum availability." }
      : {
          type: "Available",
          status: "False",
          reason: "MinimumReplicasUnavailable",
          message: "Deployment does not have minimum availability."
        },
    complete
      ? {
          type: "Progressing",
          status: "True",
          reason: "NewReplicaSetAvailable",
          message: `ReplicaSet "${newSet.metadata.name}" has successfully progressed.`
        }
      : {
          type: "Progressing",
          status: "True",
          reason: "ReplicaSetUpdated",
          message: `ReplicaSet "${newSet.metadata.name}" is progressing.`
        }
  ])
  const status = {
    observedGeneration: deployment.metadata.generation,
    replicas: allPods.length,
    updatedReplicas: updatedPods.length,
    readyReplicas: available,
    availableReplicas: available,
    ...(replicas - available > 0 ? { unavailableReplicas: replicas - available } : {}),
    conditions
  }
  if (JSON.stringify(statusOf(deployment)) !== JSON.stringify(status))
    store.update(kind("deployments"), namespace, name, { metadata: { name }, status }, "status")
}

export const startDeploymentController = (store: Store) => {
  const events = new EventRecorder(store, { component: "deployment-controller" })
  return startWorkloadController(store, "deployments", (current, deployment) => reconcile(current, deployment, events))
}
