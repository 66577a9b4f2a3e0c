import { readFileSync } from "node:fs"
import { execa } from "execa"
import { isPodReady, kind, list, specOf, statusOf, tryGet } from "../Api.ts"
import type { Cluster } from "../Cluster.ts"
import { execArgv } from "../kubelet/Containers.ts"
import type { RunningPod } from "../kubelet/Kubelet.ts"
import { paths } from "../Paths.ts"
import type { Fault, FdbHistory, MembershipEvent } from "./Analysis.ts"
import { type ManifestSource, millisOf, type Step } from "./ScenarioFile.ts"
import { type Selector, selectPods } from "./Selection.ts"

/** What a step can reach: the cluster in process, kubectl, the recorders, and where results go. */
export interface StepContext {
  readonly cluster: Cluster
  readonly random: () => number
  readonly membership: { readonly events: ReadonlyArray<MembershipEvent> }
  readonly histories: () => ReadonlyArray<FdbHistory>
  readonly agentEnded: (uid: string) => void
  readonly measures: Map<string, number>
  readonly checks: { passed: number; failed: number; failures: Array<string> }
  /** The faults that cut pods off, as they happened: which probe losses they explain. */
  readonly faults: Array<Fault>
  readonly now: () => number
  readonly log: (message: string) => void
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

export const kubectl = (args: ReadonlyArray<string>, input?: string) =>
  execa("kubectl", ["--kubeconfig", paths.kubeconfig, "--cache-dir", `${paths.pods}/../kubectl-cache`, ...args], {
    reject: false,
    all: true,
    timeout: 60_000,
    ...(input === undefined ? {} : { input })
  })

export const manifestText = (manifest: ManifestSource): string => {
  if (typeof manifest === "string") return readFileSync(manifest, "utf8")
  if ("inline" in manifest) return manifest.inline
  let text = readFileSync(manifest.file, "utf8")
  for (const [from, to] of Object.entries(manifest.replace ?? {})) text = text.replaceAll(from, to)
  return text
}

const realAgents = (cluster: Cluster): ReadonlyArray<RunningPod> =>
  cluster.kubelets
    .flatMap((kubelet) => kubelet.running())
    .filter(
      (running) =>
        !running.phantom && !running.terminating && [...running.containers.values()].some((container) => container.runtime === "agent")
    )

const kubeletOf = (cluster: Cluster, uid: string) =>
  cluster.kubelets.find((kubelet) => kubelet.running().some((running) => running.uid === uid))

/** Every real agent is Ready and its FDB holds exactly the members but itself. */
export const converged = (context: StepContext): boolean => {
  const agents = realAgents(context.cluster)
  if (agents.length === 0) return false
  const members = new Set(context.membership.events.at(-1)?.members ?? [])
  const histories = context.histories()
  return agents.every((running) => {
    const pod = tryGet(context.cluster.store, "pods", running.namespace, running.name)
    if (pod === undefined || pod.metadata.uid !== running.uid || !isPodReady(pod)) return false
    const history = histories
      .filter((candidate) => candidate.agent.startsWith(`${running.namespace}/${running.name}@${running.uid.slice(0, 8)}#`))
      .at(-1)
    if (history === undefined || history.live.to !== undefined) return false
    const fdb = new Set(history.start.entries)
    for (const change of history.changes) {
      if (change.added) fdb.add(change.dst)
      else fdb.delete(change.dst)
    }
    const expected = [...members].filter((address) => address !== running.ip)
    return fdb.size === expected.length && expected.every((address) => fdb.has(address))
  })
}

/** Until `check` has held for `quietMillis` in a row: a state seen once, just after a change, may not have begun to move yet. */
const waitUntil = async (what: string, check: () => boolean, timeoutMillis: number, quietMillis = 500) => {
  const deadline = Date.now() + timeoutMillis
  let since: number | undefined
  for (;;) {
    if (check()) since ??= Date.now()
    else since = undefined
    if (since !== undefined && Date.now() - since >= quietMillis) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMillis / 1000}s waiting for ${what}`)
    await sleep(100)
  }
}

const chosenPods = (context: StepContext, selector: Selector) => {
  const chosen = selectPods(list(context.cluster.store, "pods"), selector, context.random)
  if (chosen.length === 0) throw new Error(`no running pod matches ${JSON.stringify(selector.selector)}`)
  return chosen
}

/** `namespace/name` of a running pod, or its RunningPod (for commands in it). */
const runningPod = (context: StepContext, namespace: string, name: string) =>
  context.cluster.kubelets
    .flatMap((kubelet) => kubelet.running())
    .find((running) => running.namespace === namespace && running.name === name && !running.terminating)

/** A command in a pod (or one of its containers, as `kubectl exec -c`); a container that is not running is a failure. */
const inPod = async (running: RunningPod, container: string | undefined, command: ReadonlyArray<string>) => {
  const argv = execArgv(
    running.uid,
    [...running.containers.values()].map((state) => state.spec),
    container,
    command
  )
  if (argv === undefined) return { exitCode: 1, all: `container ${container} is not running` }
  const [file = "ip", ...args] = argv
  return execa(file, args, { reject: false, all: true, timeout: 30_000, env: { HOSTNAME: running.name } })
}

/** Runs one step; a step with `for` holds its fault that long and then heals it. A failure throws with what went wrong. */
export const runStep = async (step: Step, context: StepContext): Promise<void> => {
  const { cluster } = context
  /** The pods a node runs now, by `namespace/name`. */
  const podsOn = (node: string) =>
    cluster.kubelets
      .flatMap((kubelet) => kubelet.running())
      .filter((running) => running.node.name === node)
      .map((running) => `${running.namespace}/${running.name}`)
  const held = async (duration: string, heal: () => Promise<void>, cutOff: ReadonlyArray<string> = []) => {
    const from = context.now()
    try {
      await sleep(millisOf(duration))
    } finally {
      await heal()
      if (cutOff.length > 0) context.faults.push({ kind: step.kind, pods: cutOff, from, to: context.now() })
    }
  }
  switch (step.kind) {
    case "apply":
    case "delete": {
      const args = step.kind === "apply" ? ["apply", "-f", "-"] : ["delete", "-f", "-", "--wait=false", "--ignore-not-found"]
      const result = await kubectl(args, manifestText(step.spec))
      if (result.exitCode !== 0) throw new Error(`kubectl ${step.kind}: ${result.all}`)
      return context.log(result.all.trim())
    }
    case "scale": {
      const target = step.spec.statefulset !== undefined ? `statefulset/${step.spec.statefulset}` : `deployment/${step.spec.deployment}`
      const result = await kubectl(["scale", target, `--replicas=${step.spec.replicas}`, "-n", step.spec.namespace ?? "default"])
      if (result.exitCode !== 0) throw new Error(`kubectl scale: ${result.all}`)
      return context.log(result.all.trim())
    }
    case "pod-kill": {
      const grace = step.spec.gracePeriod ?? 0
      for (const pod of chosenPods(context, step.spec)) {
        cluster.store.delete(kind("pods"), pod.metadata.namespace, pod.metadata.name as string, { gracePeriodSeconds: grace })
        if (grace === 0) context.agentEnded(pod.metadata.uid as string)
        context.log(`pod-kill: ${pod.metadata.namespace}/${pod.metadata.name}${grace === 0 ? "" : ` (grace period ${grace}s)`}`)
      }
      return
    }
    case "container-kill": {
      for (const pod of chosenPods(context, step.spec)) {
        const uid = pod.metadata.uid as string
        context.agentEnded(uid)
        kubeletOf(cluster, uid)?.killAgent(uid)
        context.log(`container-kill: the agent of ${pod.metadata.namespace}/${pod.metadata.name} (SIGKILL)`)
      }
      return
    }
    case "api-outage":
      await cluster.fabric.setApiReachable(false)
      context.log(`api-outage: pods cannot reach the API for ${step.spec.for}`)
      return held(step.spec.for, () => cluster.fabric.setApiReachable(true))
    case "partition": {
      const node = step.spec.node
      if (node !== undefined) {
        await cluster.setNodeLink(node, { partitioned: true })
        context.log(`partition: ${node} cut off the fabric for ${step.spec.for}`)
        return held(step.spec.for, () => cluster.setNodeLink(node, { partitioned: false }), podsOn(node))
      }
      if (step.spec.pods === undefined) throw new Error("partition needs node or pods")
      const pods = chosenPods(context, step.spec.pods)
      for (const pod of pods) await kubeletOf(cluster, pod.metadata.uid as string)?.setPartitioned(pod.metadata.uid as string, true)
      context.log(`partition: ${pods.map((pod) => pod.metadata.name).join(", ")} cut off for ${step.spec.for}`)
      return held(
        step.spec.for,
        async () => {
          for (const pod of pods) await kubeletOf(cluster, pod.metadata.uid as string)?.setPartitioned(pod.metadata.uid as string, false)
        },
        pods.map((pod) => `${pod.metadata.namespace}/${pod.metadata.name}`)
      )
    }
    case "loss":
      await cluster.setNodeLink(step.spec.node, { loss: step.spec.probability })
      context.log(`loss: ${step.spec.probability * 100}% on ${step.spec.node}'s uplink for ${step.spec.for}`)
      return held(step.spec.for, () => cluster.setNodeLink(step.spec.node, { loss: 0 }), podsOn(step.spec.node))
    case "bandwidth":
      await cluster.setNodeLink(step.spec.node, { bandwidth: step.spec.rate })
      context.log(`bandwidth: ${step.spec.rate} on ${step.spec.node}'s uplink for ${step.spec.for}`)
      return held(step.spec.for, () => cluster.setNodeLink(step.spec.node, { bandwidth: "" }))
    case "mtu":
      await cluster.setNodeLink(step.spec.node, { mtu: step.spec.mtu })
      return context.log(`mtu: ${step.spec.node} and its pods at ${step.spec.mtu}`)
    case "configmap": {
      const result = await kubectl([
        "patch",
        "configmap",
        step.spec.name,
        "-n",
        step.spec.namespace ?? "default",
        "--type",
        "merge",
        "-p",
        JSON.stringify({ data: step.spec.data })
      ])
      if (result.exitCode !== 0) throw new Error(`kubectl patch: ${result.all}`)
      return context.log(result.all.trim())
    }
    case "rolling-restart": {
      const result = await kubectl(["rollout", "restart", `statefulset/${step.spec.statefulset}`, "-n", step.spec.namespace ?? "default"])
      if (result.exitCode !== 0) throw new Error(`kubectl rollout restart: ${result.all}`)
      return context.log(result.all.trim())
    }
    case "wait": {
      const timeout = millisOf(step.spec.timeout ?? "120s")
      if (step.spec.ready !== undefined) {
        const [resource, name] = step.spec.ready.split("/") as [string, string]
        await waitUntil(
          `${step.spec.ready} to be ready`,
          () => {
            const object = tryGet(cluster.store, resource === "deployment" ? "deployments" : "statefulsets", "default", name)
            if (object === undefined) return false
            const replicas = specOf(object).replicas ?? 1
            // The workload's own pods, each Ready and none going: its status can lag a kill.
            const pods = list(cluster.store, "pods", "default").filter((pod) =>
              (pod.metadata.ownerReferences ?? []).some((owner) => owner.uid === object.metadata.uid)
            )
            return (
              statusOf(object).readyReplicas === replicas &&
              pods.length === replicas &&
              pods.every((pod) => isPodReady(pod) && !pod.metadata.deletionTimestamp)
            )
          },
          timeout
        )
      }
      if (step.spec.converged !== false) await waitUntil("every agent's FDB to match the membership", () => converged(context), timeout)
      return
    }
    case "sleep":
      return void (await sleep(millisOf(step.spec)))
    case "measure": {
      const started = Date.now()
      const deadline = started + millisOf(step.spec.timeout ?? "60s")
      for (;;) {
        const running = runningPod(context, step.spec.namespace ?? "default", step.spec.pod)
        if (running !== undefined && (await inPod(running, step.spec.container, step.spec.command)).exitCode === 0) break
        if (Date.now() > deadline)
          throw new Error(`${step.spec.name}: ${step.spec.command.join(" ")} did not succeed in ${step.spec.pod} within the timeout`)
        await sleep(100)
      }
      context.measures.set(step.spec.name, Date.now() - started)
      return context.log(`measure ${step.spec.name}: ${Date.now() - started} ms`)
    }
    case "check": {
      for (const pod of chosenPods(context, step.spec.pods)) {
        const running = runningPod(context, pod.metadata.namespace as string, pod.metadata.name as string)
        let ok = false
        let output = ""
        for (let attempt = 0; attempt <= (step.spec.retries ?? 0) && !ok; attempt++) {
          if (attempt > 0) await sleep(1000)
          const result = running === undefined ? undefined : await inPod(running, step.spec.container, step.spec.command)
          ok = result?.exitCode === 0
          output = result?.all ?? "the pod is not running"
        }
        if (ok) context.checks.passed++
        else {
          context.checks.failed++
          context.checks.failures.push(`${step.spec.name} in ${pod.metadata.name}: ${output.trim().split("\n").at(-1) ?? ""}`)
        }
      }
      return
    }
  }
}
