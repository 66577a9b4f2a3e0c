import type { Store } from "@kubelan/kube-fake"
import { coalesce, list, watchKind } from "../Api.ts"
import type { Kubelet } from "../kubelet/Kubelet.ts"
import { egressChain, ingressChain, podRules, restoreInput } from "./PolicyRules.ts"
import { setSandboxPolicy } from "./Sandbox.ts"

const openInput = restoreInput({ ingress: undefined, egress: undefined })

/**
 * NetworkPolicy enforced as a CNI plugin does it: iptables chains in each running pod's network
 * namespace, rebuilt whenever a policy, a pod (its labels, its address) or a namespace changes.
 * A pod's chains are written only when what they should hold has changed; one sync at a time.
 */
export const startNetworkPolicyController = (store: Store, kubelets: () => ReadonlyArray<Kubelet>) => {
  const applied = new Map<string, string>()
  let syncing = false
  let again = false
  const syncOnce = async () => {
    const world = { policies: list(store, "networkpolicies"), pods: list(store, "pods"), namespaces: list(store, "namespaces") }
    const pods = new Map(world.pods.map((pod) => [pod.metadata.uid as string, pod]))
    const running = kubelets().flatMap((kubelet) => kubelet.running())
    for (const sandbox of running) {
      const pod = pods.get(sandbox.uid)
      if (pod === undefined || sandbox.phantom || sandbox.terminating) continue
      const input = restoreInput(podRules(pod, world, sandbox.node.subnet.gateway))
      // A pod no policy has ever selected needs no chains at all.
      if (applied.get(sandbox.uid) === input || (input === openInput && !applied.has(sandbox.uid))) continue
      try {
        await setSandboxPolicy(sandbox.netns, input, { ingress: ingressChain, egress: egressChain })
        applied.set(sandbox.uid, input)
      } catch (error) {
        // Its sandbox is not made yet, or already gone: the next sync (at the latest the tick) tries again.
        if (!sandbox.terminating) process.stderr.write(`networkpolicy: ${sandbox.namespace}/${sandbox.name}: ${String(error)}\n`)
      }
    }
    const live = new Set(running.map((sandbox) => sandbox.uid))
    for (const uid of applied.keys()) if (!live.has(uid)) applied.delete(uid)
  }
  const sync = async () => {
    if (syncing) {
      again = true
      return
    }
    syncing = true
    try {
      do {
        again = false
        await syncOnce()
      } while (again)
    } finally {
      syncing = false
    }
  }
  const run = coalesce(20, () => void sync())
  const stops = ["networkpolicies", "pods", "namespaces"].map((resource) => watchKind(store, resource, run))
  const tick = setInterval(run, 2000)
  return () => {
    clearInterval(tick)
    for (const stop of stops) stop()
  }
}
