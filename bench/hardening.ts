// The two figures the hardening work is held to: how hard an agent leans on a server that ends
// every watch at once, and how soon an FDB entry deleted while a pass is writing comes back.
import { request } from "node:http"
import { endpointSlice, makePodNetwork, run, startAgent, startKubeFakeInNetns } from "@kubelan/testkit"
import { fdbEvents } from "./fdbEvents.ts"
import { fmt, verdict } from "./stats.ts"

const slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))
const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

/** A watch request over the server's Unix socket, read to its end. */
const watchOnce = (socketPath: string, path: string) =>
  new Promise<void>((resolve, reject) => {
    const req = request({ socketPath, path, headers: { "user-agent": "bench-hot-loop" } }, (response) => {
      response.resume()
      response.on("end", () => resolve())
    })
    req.on("error", reject)
    req.end()
  })

/**
 * Against kube-fake set to end every watch at once: the agent's requests per second per service,
 * beside a client that re-watches at once (what the follower did before), in the same run.
 */
export const benchShortWatches = async (seconds: number) => {
  const net = await makePodNetwork({ purpose: "bench-short", pods: 1 })
  const netns = net.pods[0]!.netns
  const api = await startKubeFakeInNetns(netns, { bookmarkSeconds: 3600 })
  try {
    await api.api("POST", slices, endpointSlice("lan", "lan-1", ["10.99.0.50"]))
    const agent = startAgent({ netns, config: "services: [lan]\n", env: { KUBECONFIG: api.kubeconfig, KL_NAMESPACE: "default" } })
    try {
      await agent.waitReady(30_000)
      await api.fault({ endWatchesAtOnce: true, dropWatches: true })
      await api.api("DELETE", "/_fake/clients")
      await sleep(seconds * 1000)
      const agentRequests = Object.entries(await api.clients())
        .filter(([client]) => client !== "kubelan-test")
        .reduce((sum, [, traffic]) => sum + traffic.requests, 0)
      const resourceVersion = (await api.api("GET", slices)).body.metadata.resourceVersion as string
      const path = `${slices}?watch=true&labelSelector=kubernetes.io%2Fservice-name%3Dlan&resourceVersion=${resourceVersion}`
      let hot = 0
      const until = performance.now() + 2000
      while (performance.now() < until) {
        await watchOnce(api.socket, path)
        hot++
      }
      return { perSecond: agentRequests / seconds, hotPerSecond: hot / 2, seconds }
    } finally {
      await agent.kill("SIGKILL")
    }
  } finally {
    await api.stop()
    await net.destroy()
  }
}

/**
 * An agent holding 2000 static peers. Each try deletes those 2000 entries by hand, so the agent
 * runs a pass that writes them back; once the first is back (the pass is writing) it deletes one
 * more entry and times its repair. Beside it, the repair of an entry deleted while the agent is idle.
 */
export const benchRepairDuringPass = async (tries: number) => {
  const net = await makePodNetwork({ purpose: "bench-race", pods: 1 })
  const netns = net.pods[0]!.netns
  const bulk = Array.from({ length: 2000 }, (_, i) => `10.101.${i >> 8}.${i & 255}`)
  const victim = "10.102.0.1"
  const config = [
    "services: [default/lan]",
    "discovery:",
    "  backend: static",
    "  static:",
    `    default/lan: [${[victim, ...bulk].join(", ")}]`
  ].join("\n")
  const agent = startAgent({ netns, config })
  const events = fdbEvents(netns)
  const deleteEntries = (dsts: ReadonlyArray<string>) =>
    run("bridge", ["-n", netns, "-batch", "-"], { input: dsts.map((dst) => `fdb del 00:00:00:00:00:00 dev kubelan dst ${dst}\n`).join("") })
  try {
    await agent.waitReady(30_000)
    await sleep(500)
    const idle: Array<number> = []
    for (let i = 0; i < Math.min(tries, 20); i++) {
      const back = events.appeared(victim)
      const deleted = performance.now()
      await deleteEntries([victim])
      idle.push((await back) - deleted)
      await sleep(50)
    }
    const during: Array<number> = []
    for (let i = 0; i < tries; i++) {
      const writing = events.next((line) => line.startsWith("00:00:00:00:00:00 dev kubelan dst 10.101."))
      const last = events.appeared(bulk.at(-1) as string)
      await deleteEntries(bulk)
      await writing
      const back = events.appeared(victim)
      const deleted = performance.now()
      await deleteEntries([victim])
      during.push((await back) - deleted)
      await last
    }
    return {
      tries,
      during: { p50: percentile(during, 50), p99: percentile(during, 99) },
      idle: { p50: percentile(idle, 50) }
    }
  } finally {
    events.stop()
    await agent.kill("SIGKILL")
    await net.destroy()
  }
}

export const printHardening = (
  short: Awaited<ReturnType<typeof benchShortWatches>>,
  repair: Awaited<ReturnType<typeof benchRepairDuringPass>>
) => {
  console.log("Hardening")
  console.log(
    `  watch requests against a server that ends every watch at once: ${short.perSecond.toFixed(2)}/s per service over ${short.seconds} s (a client that re-watches at once: ${short.hotPerSecond.toFixed(0)}/s, ratio ${(short.perSecond / short.hotPerSecond).toFixed(4)})  target ≤ 5/s: ${verdict(short.perSecond, 5)}`
  )
  console.log(
    `  FDB entry deleted during a pass, to its repair, ${repair.tries} tries: p50 ${fmt(repair.during.p50)}, p99 ${fmt(repair.during.p99)} (deleted while idle: p50 ${fmt(repair.idle.p50)}, ratio ${(repair.during.p50 / repair.idle.p50).toFixed(1)}; the periodic resync would catch it only after up to 60 s)`
  )
}
