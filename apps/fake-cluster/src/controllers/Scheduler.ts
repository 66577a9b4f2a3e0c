import { isRecord, type KubeObject, type Store } from "@kubelan/kube-fake"
import { coalesce, kind, list, specOf, statusOf, watchKind } from "../Api.ts"
import { EventRecorder } from "../Events.ts"
import { isPhantom } from "../Phantoms.ts"

/**
 * Binds each pod without a node to one, as kube-scheduler does for the simple cases: a node
 * that is Ready and matches the pod's `nodeSelector`, the one running the fewest pods of the
 * same sort (real or phantom), ties to the lowest name. A pod no node fits waits, Pending.
 */
const nodeReady = (node: KubeObject) =>
  ((statusOf(node).conditions ?? []) as Array<{ type: string; status: string }>).some(
    (condition) => condition.type === "Ready" && condition.status === "True"
  )

const fits = (pod: KubeObject, node: KubeObject) => {
  const selector = specOf(pod).nodeSelector
  if (!isRecord(selector)) return true
  return Object.entries(selector).every(([key, value]) => node.metadata.labels?.[key] === value)
}

/** Pods bound to each node, by sort (real or phantom): what spreading weighs. */
type Load = Map<string, number>
const loadKey = (node: string, pod: KubeObject) => `${isPhantom(pod) ? "phantom" : "real"}/${node}`

export const loadOf = (pods: ReadonlyArray<KubeObject>): Load => {
  const load: Load = new Map()
  for (const pod of pods) {
    const bound = specOf(pod).nodeName
    if (typeof bound === "string" && !pod.metadata.deletionTimestamp)
      load.set(loadKey(bound, pod), (load.get(loadKey(bound, pod)) ?? 0) + 1)
  }
  return load
}

export const chooseNode = (pod: KubeObject, nodes: ReadonlyArray<KubeObject>, load: Load) =>
  nodes
    .filter((node) => nodeReady(node) && fits(pod, node) && specOf(node).unschedulable !== true)
    .sort(
      (a, b) =>
        (load.get(loadKey(a.metadata.name as string, pod)) ?? 0) - (load.get(loadKey(b.metadata.name as string, pod)) ?? 0) ||
        (a.metadata.name as string).localeCompare(b.metadata.name as string)
    )[0]

export const startScheduler = (store: Store) => {
  const events = new EventRecorder(store, { component: "default-scheduler" })
  const run = coalesce(5, () => {
    const nodes = list(store, "nodes")
    const pods = list(store, "pods")
    const load = loadOf(pods)
    for (const pod of pods) {
      if (specOf(pod).nodeName !== undefined || pod.metadata.deletionTimestamp) continue
      const node = chooseNode(pod, nodes, load)
      if (node === undefined) continue
      try {
        store.update(kind("pods"), pod.metadata.namespace, pod.metadata.name as string, {
          ...pod,
          spec: { ...specOf(pod), nodeName: node.metadata.name }
        })
        const key = loadKey(node.metadata.name as string, pod)
        load.set(key, (load.get(key) ?? 0) + 1)
        // Phantoms are many and nobody reads their story.
        if (!isPhantom(pod))
          events.record(
            pod,
            "Normal",
            "Scheduled",
            `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${node.metadata.name}`
          )
      } catch (error) {
        process.stderr.write(`scheduler: ${pod.metadata.namespace}/${pod.metadata.name}: ${String(error)}\n`)
      }
    }
  })
  const stops = [watchKind(store, "pods", run), watchKind(store, "nodes", run)]
  return () => {
    for (const stop of stops) stop()
  }
}
