import { isRecord, type KubeObject, type Store } from "@kubelan/kube-fake"
import { coalesce, kind, list, specOf, statusOf, watchKind } from "../Api.ts"
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

export const chooseNode = (pod: KubeObject, nodes: ReadonlyArray<KubeObject>, pods: ReadonlyArray<KubeObject>) => {
  const load = new Map<string, number>()
  for (const other of pods) {
    const bound = specOf(other).nodeName
    if (typeof bound === "string" && !other.metadata.deletionTimestamp && isPhantom(other) === isPhantom(pod))
      load.set(bound, (load.get(bound) ?? 0) + 1)
  }
  return nodes
    .filter((node) => nodeReady(node) && fits(pod, node) && specOf(node).unschedulable !== true)
    .sort(
      (a, b) =>
        (load.get(a.metadata.name as string) ?? 0) - (load.get(b.metadata.name as string) ?? 0) ||
        (a.metadata.name as string).localeCompare(b.metadata.name as string)
    )[0]
}

export const startScheduler = (store: Store) => {
  const run = coalesce(5, () => {
    const nodes = list(store, "nodes")
    const pods = list(store, "pods")
    for (const pod of pods) {
      if (specOf(pod).nodeName !== undefined || pod.metadata.deletionTimestamp) continue
      const node = chooseNode(pod, nodes, pods)
      if (node === undefined) continue
      try {
        const bound = store.update(kind("pods"), pod.metadata.namespace, pod.metadata.name as string, {
          ...pod,
          spec: { ...specOf(pod), nodeName: node.metadata.name }
        })
        pods[pods.indexOf(pod)] = bound
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
