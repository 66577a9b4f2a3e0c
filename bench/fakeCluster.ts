// The seed's example at 20 replicas on kubelan-sim: from `kubectl apply` until every pod's FDB
// holds every other pod, and how that time splits between pod start-up and the agents.
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { startKubeFake } from "@kubelan/kube-fake"
import { fdbDestinations, testPrefix } from "@kubelan/testkit"
import { execa } from "execa"
import { kind } from "../apps/fake-cluster/src/Api.ts"
import { startEndpointSliceController } from "../apps/fake-cluster/src/controllers/EndpointSlices.ts"
import { fmt } from "./stats.ts"

const root = fileURLToPath(new URL("..", import.meta.url))

export const benchTwentyReplicas = async (replicas = 20) => {
  const env = {
    KUBELAN_SIM_STATE: mkdtempSync(join(tmpdir(), "klsim-bench-")),
    KUBELAN_SIM_PREFIX: `${testPrefix}bench-sim${randomBytes(2).toString("hex")}-`
  }
  const sim = (args: ReadonlyArray<string>) =>
    execa(process.execPath, [`${root}apps/fake-cluster/src/cli.ts`, ...args], { env, reject: false, all: true })
  const kubeconfig = join(env.KUBELAN_SIM_STATE, "kubeconfig")
  const kubectl = (args: ReadonlyArray<string>, input?: string) =>
    execa("kubectl", ["--kubeconfig", kubeconfig, "--cache-dir", join(env.KUBELAN_SIM_STATE, "cache"), ...args], {
      reject: false,
      all: true,
      ...(input ? { input } : {})
    })
  // The process runtime, so the agents' share compares across runs; the image's start-up is the image section's.
  const up = await sim(["up", "--listen", "127.0.0.1:0", "--runtime", "process"])
  if (up.exitCode !== 0) throw new Error(up.all)
  try {
    const manifest = readFileSync(`${root}deploy/k8s-example.yaml`, "utf8")
      .replace("replicas: 3", `replicas: ${replicas}`)
      .replace("  serviceName: kubelan\n", "  serviceName: kubelan\n  podManagementPolicy: Parallel\n")
    const pods = Array.from({ length: replicas }, (_, i) => `kubelan-${i}`)
    // The simulator names a pod's namespace and directory by its UID.
    const uids = new Map<string, string>()
    const readUids = async () => {
      const listed = await kubectl(["get", "pods", "-o", 'jsonpath={range .items[*]}{.metadata.name}={.metadata.uid}{"\\n"}{end}'])
      for (const line of listed.stdout.split("\n")) {
        const [name, uid] = line.split("=")
        if (name && uid) uids.set(name, uid)
      }
    }
    const netns = (pod: string) => `${env.KUBELAN_SIM_PREFIX}p-${uids.get(pod) ?? "unknown"}`
    const applied = performance.now()
    const appliedAt = Date.now()
    const result = await kubectl(["apply", "-f", "-"], manifest)
    if (result.exitCode !== 0) throw new Error(result.all)
    for (;;) {
      if (uids.size < replicas) await readUids()
      const complete = await Promise.all(
        pods.map((pod) =>
          fdbDestinations(netns(pod), "kubelan")
            .then((fdb) => fdb.length === replicas - 1)
            .catch(() => false)
        )
      )
      if (complete.every(Boolean)) break
      if (performance.now() - applied > 180_000) throw new Error("the 20 pods did not all converge in 3 minutes")
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const total = performance.now() - applied
    // Per pod, from its log: when the kubelet started the agent, and when the agent was ready.
    const timings = pods.map((pod) => {
      const log = readFileSync(join(env.KUBELAN_SIM_STATE, "pods", uids.get(pod) ?? "", "kubelan.log"), "utf8")
      const started = Date.parse(/kubelan-sim: (\S+) starting container kubelan/.exec(log)?.[1] ?? "")
      const ready = JSON.parse(log.split("\n").find((line) => line.includes("first full membership sync programmed")) ?? "{}").time
      return { started: started - appliedAt, agentReady: Date.parse(ready) - started }
    })
    const lastStart = Math.max(...timings.map((timing) => timing.started))
    let answered = 0
    for (let from = 0; from < replicas; from++)
      for (let to = 0; to < replicas; to++)
        if (
          from !== to &&
          (
            await execa(
              "ip",
              ["netns", "exec", netns(pods[from] as string), "arping", "-c", "1", "-w", "2", "-I", "kubelan", `192.168.69.${to + 1}`],
              { reject: false }
            )
          ).exitCode === 0
        )
          answered++
    return {
      replicas,
      total,
      lastStart,
      agentReadyMedian: timings.map((timing) => timing.agentReady).sort((a, b) => a - b)[replicas >> 1] as number,
      answered
    }
  } finally {
    await kubectl(["delete", "-f", `${root}deploy/k8s-example.yaml`, "--wait=false"])
    await sim(["down"])
  }
}

export const printTwentyReplicas = (r: Awaited<ReturnType<typeof benchTwentyReplicas>>) => {
  console.log(
    `kubelan-sim: kubectl apply of a ${r.replicas}-replica example (podManagementPolicy: Parallel) until every FDB holds every peer`
  )
  console.log(`  total: ${fmt(r.total)}; all ${r.answered} of ${r.replicas * (r.replicas - 1)} pairs then answered arping`)
  console.log(
    `  pod start-up (apply → last agent process started): ${fmt(r.lastStart)} = ${((100 * r.lastStart) / r.total).toFixed(0)}% of the total`
  )
  console.log(
    `  agents (last agent started → full mesh): ${fmt(r.total - r.lastStart)} = ${((100 * (r.total - r.lastStart)) / r.total).toFixed(0)}%; median agent start-to-ready ${fmt(r.agentReadyMedian)}`
  )
}

/** The EndpointSlice controller: pod readiness flips to the slice reflecting it (target ≤ 100 ms). */
export const benchSliceUpdates = async (changes: number) => {
  const server = await startKubeFake()
  const stop = startEndpointSliceController(server.store)
  const store = server.store
  try {
    store.create(kind("services"), "default", { metadata: { name: "lan" }, spec: { selector: { app: "lan" } } })
    for (let i = 0; i < 50; i++) {
      const pod = store.create(kind("pods"), "default", {
        metadata: { name: `p${i}`, labels: { app: "lan" } },
        spec: { containers: [{ name: "c" }] }
      })
      store.update(
        kind("pods"),
        "default",
        `p${i}`,
        { ...pod, status: { podIP: `10.0.0.${i + 1}`, conditions: [{ type: "Ready", status: "True" }] } },
        "status"
      )
    }
    const latencies: Array<number> = []
    for (let i = 0; i < changes; i++) {
      const name = `p${i % 50}`
      const pod = store.get(kind("pods"), "default", name)
      // Flip this pod's readiness: a write that changes nothing would (rightly) produce no event.
      const ready = !((pod.status as { conditions?: Array<{ type: string; status: string }> }).conditions ?? []).some(
        (condition) => condition.type === "Ready" && condition.status === "True"
      )
      const seen = new Promise<number>((resolve) => {
        const watch = store.watch(
          { resource: kind("endpointslices"), namespace: "default", labels: [], fields: [] },
          String(store.resourceVersion),
          (event) => {
            const endpoint = (
              (event.object as { endpoints?: Array<{ targetRef: { name: string }; conditions: { ready: boolean } }> }).endpoints ?? []
            ).find((candidate) => candidate.targetRef.name === name)
            if (endpoint?.conditions.ready === ready) {
              watch.close()
              resolve(performance.now())
            }
          }
        )
      })
      const changed = performance.now()
      store.update(
        kind("pods"),
        "default",
        name,
        { ...pod, status: { podIP: `10.0.0.${(i % 50) + 1}`, conditions: [{ type: "Ready", status: ready ? "True" : "False" }] } },
        "status"
      )
      latencies.push((await seen) - changed)
    }
    const sorted = latencies.sort((a, b) => a - b)
    return { p50: sorted[sorted.length >> 1] as number, max: sorted[sorted.length - 1] as number, changes }
  } finally {
    stop()
    await server.close()
  }
}

export const printSliceUpdates = (r: Awaited<ReturnType<typeof benchSliceUpdates>>) =>
  console.log(
    `  EndpointSlice update after a pod readiness change (50 pods, ${r.changes} changes): p50 ${fmt(r.p50)}, max ${fmt(r.max)}  target ≤ 100 ms: ${r.max <= 100 ? "meets target" : "MISSES target"}`
  )
