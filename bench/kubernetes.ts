// The kubernetes backend end to end: kube-fake in the pod's namespace, the agent bundle run as
// the image runs it, the kernel's own FDB events as the clock.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startKubeFake, writeKubeconfig } from "@kubelan/kube-fake"
import { v1beta1Follower } from "@kubelan/kube-real"
import { type AgentProcess, endpointSlice, makePodNetwork, startAgent, startKubeFakeInNetns } from "@kubelan/testkit"
import { execa } from "execa"
import { fdbEvents } from "./fdbEvents.ts"

const slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
export const peerAddress = (i: number) => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`
const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

export const withAgent = async <A>(
  purpose: string,
  setup: (api: Awaited<ReturnType<typeof startKubeFakeInNetns>>) => Promise<void>,
  body: (context: {
    netns: string
    api: Awaited<ReturnType<typeof startKubeFakeInNetns>>
    agent: AgentProcess
    startedAt: number
    /** When the agent logged that its first full sync was programmed (watched from its start). */
    readyAt: number
  }) => Promise<A>,
  nodeFlags?: ReadonlyArray<string>
) => {
  const net = await makePodNetwork({ purpose, pods: 1 })
  const netns = net.pods[0]!.netns
  const api = await startKubeFakeInNetns(netns, { bookmarkSeconds: 3600 })
  try {
    await setup(api)
    const startedAt = performance.now()
    const agent = startAgent({
      netns,
      config: "services: [lan]\n",
      env: { KUBECONFIG: api.kubeconfig, KL_NAMESPACE: "default" },
      ...(nodeFlags === undefined ? {} : { nodeFlags })
    })
    const ready = (async () => {
      for (let polls = 0; polls < 15_000; polls++) {
        if (agent.output().includes("ready: first full membership sync programmed")) return performance.now()
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
      return Number.NaN
    })()
    try {
      await agent.waitReady(30_000)
      return await body({ netns, api, agent, startedAt, readyAt: await ready })
    } finally {
      await agent.kill("SIGKILL")
    }
  } finally {
    await api.stop()
    await net.destroy()
  }
}

export const createSlices = async (
  api: Awaited<ReturnType<typeof startKubeFakeInNetns>>,
  service: string,
  count: number,
  perSlice: number,
  offset = 0
) => {
  for (let s = 0; s * perSlice < count; s++) {
    const addresses = Array.from({ length: Math.min(perSlice, count - s * perSlice) }, (_, i) => peerAddress(offset + s * perSlice + i))
    await api.api("POST", slices, endpointSlice(service, `${service}-${s}`, addresses))
  }
}

export const benchEventToKernel = async (changes: number) =>
  withAgent(
    "bench-evk",
    (api) => createSlices(api, "lan", 1000, 100),
    async ({ netns, api }) => {
      const waiter = fdbEvents(netns)
      await new Promise((resolve) => setTimeout(resolve, 300))
      const latencies: Array<number> = []
      const extra: Array<string> = []
      let version: string | undefined
      for (let i = 0; i < changes; i++) {
        const dst = peerAddress(50_000 + i)
        extra.push(dst)
        const appeared = waiter.appeared(dst)
        const slice = endpointSlice("lan", "lan-extra", extra)
        const sent = performance.now()
        const response =
          version === undefined
            ? await api.api("POST", slices, slice)
            : await api.api("PUT", `${slices}/lan-extra`, { ...slice, metadata: { ...slice.metadata, resourceVersion: version } })
        version = response.body.metadata.resourceVersion
        latencies.push((await appeared) - sent)
      }
      waiter.stop()
      return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), changes }
    }
  )

/** Traffic to the agent per membership change, measured by kube-fake's request log. */
export const benchTrafficPerChange = async (changes: number, unrelated: number) =>
  withAgent(
    `bench-traffic${unrelated}`,
    async (api) => {
      await createSlices(api, "lan", 10, 10)
      if (unrelated > 0) await createSlices(api, "noise", unrelated, 1, 60_000)
    },
    async ({ api, netns }) => {
      const agentTotals = async () => {
        const clients = await api.clients()
        return Object.entries(clients)
          .filter(([name]) => name !== "kubelan-test")
          .reduce(
            (sum, [, traffic]) => ({
              bytes: sum.bytes + traffic.bytesSent,
              events: sum.events + (traffic.eventsByKind.EndpointSlice ?? 0)
            }),
            { bytes: 0, events: 0 }
          )
      }
      const waiter = fdbEvents(netns)
      await new Promise((resolve) => setTimeout(resolve, 300))
      const before = await agentTotals()
      let version = (await api.api("GET", `${slices}/lan-0`)).body.metadata.resourceVersion as string
      for (let i = 0; i < changes; i++) {
        if (unrelated > 0)
          for (let n = 0; n < unrelated; n += 10) {
            const churned = endpointSlice("noise", `noise-${n}`, [peerAddress(70_000 + i)])
            const current = (await api.api("GET", `${slices}/noise-${n}`)).body.metadata.resourceVersion
            await api.api("PUT", `${slices}/noise-${n}`, { ...churned, metadata: { ...churned.metadata, resourceVersion: current } })
          }
        const dst = peerAddress(80_000 + i)
        const appeared = waiter.appeared(dst)
        const slice = endpointSlice("lan", "lan-0", [...Array.from({ length: 10 }, (_, j) => peerAddress(j)), dst])
        version = (await api.api("PUT", `${slices}/lan-0`, { ...slice, metadata: { ...slice.metadata, resourceVersion: version } })).body
          .metadata.resourceVersion
        await appeared
      }
      waiter.stop()
      const after = await agentTotals()
      return { bytes: (after.bytes - before.bytes) / changes, events: (after.events - before.events) / changes, unrelated }
    }
  )

/**
 * The same churn, received by the original kubelan's watch: client-go v0.19's informer on every
 * EndpointSlice in the cluster (discovery.k8s.io/v1beta1), as tools/v1beta1-follower runs it.
 * The original itself cannot be built here (the Go module proxy refuses it); its client can.
 */
export const benchOriginalWatchTraffic = async (changes: number, unrelated: number) => {
  const server = await startKubeFake({ bookmarkMillis: 3_600_000 })
  const dir = mkdtempSync(join(tmpdir(), "kubelan-bench-original-"))
  const kubeconfig = join(dir, "kubeconfig")
  writeKubeconfig(kubeconfig, server.url)
  const api = async <A = { metadata: { resourceVersion: string } }>(method: string, path: string, body?: unknown) =>
    (await (
      await fetch(`${server.url}${path}`, {
        method,
        headers: { "content-type": "application/json", "user-agent": "kubelan-test" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
    ).json()) as A
  const put = async (name: string, slice: ReturnType<typeof endpointSlice>) => {
    const current = (await api("GET", `${slices}/${name}`)).metadata.resourceVersion
    return api("PUT", `${slices}/${name}`, { ...slice, metadata: { ...slice.metadata, resourceVersion: current } })
  }
  const follower = execa(v1beta1Follower(), [kubeconfig], { reject: false, buffer: false })
  let last = ""
  follower.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    const lines = chunk.split("\n").filter((line) => line.trim() !== "")
    if (lines.length > 0) last = lines.at(-1) as string
  })
  const sees = async (address: string) => {
    while (!last.includes(`"${address}@`)) await new Promise((resolve) => setTimeout(resolve, 2))
  }
  const totals = async () => {
    const clients = await api<Record<string, { bytesSent: number; eventsByKind: Record<string, number> }>>("GET", "/_fake/clients")
    return Object.entries(clients)
      .filter(([name]) => name !== "kubelan-test")
      .reduce(
        (sum, [, traffic]) => ({ bytes: sum.bytes + traffic.bytesSent, events: sum.events + (traffic.eventsByKind.EndpointSlice ?? 0) }),
        { bytes: 0, events: 0 }
      )
  }
  try {
    await api(
      "POST",
      slices,
      endpointSlice(
        "lan",
        "lan-0",
        Array.from({ length: 10 }, (_, j) => peerAddress(j))
      )
    )
    for (let n = 0; n < unrelated; n++) await api("POST", slices, endpointSlice("noise", `noise-${n}`, [peerAddress(60_000 + n)]))
    await sees(peerAddress(9))
    const before = await totals()
    for (let i = 0; i < changes; i++) {
      for (let n = 0; n < unrelated; n += 10) await put(`noise-${n}`, endpointSlice("noise", `noise-${n}`, [peerAddress(70_000 + i)]))
      const dst = peerAddress(80_000 + i)
      await put("lan-0", endpointSlice("lan", "lan-0", [...Array.from({ length: 10 }, (_, j) => peerAddress(j)), dst]))
      await sees(dst)
    }
    const after = await totals()
    return { bytes: (after.bytes - before.bytes) / changes, events: (after.events - before.events) / changes, unrelated }
  } finally {
    follower.kill("SIGKILL")
    await follower
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export const printKubernetes = (
  quiet: Awaited<ReturnType<typeof benchTrafficPerChange>>,
  noisy: Awaited<ReturnType<typeof benchTrafficPerChange>>,
  original: Awaited<ReturnType<typeof benchOriginalWatchTraffic>>
) => {
  console.log("Kubernetes backend (kube-fake in the pod's namespace)")
  console.log(
    `  per membership change: ${quiet.bytes.toFixed(0)} bytes, ${quiet.events.toFixed(2)} EndpointSlice events (no unrelated slices)`
  )
  const sameEvents = quiet.events === noisy.events
  const byteDelta = noisy.bytes - quiet.bytes
  console.log(
    `  per membership change: ${noisy.bytes.toFixed(0)} bytes, ${noisy.events.toFixed(2)} EndpointSlice events (${noisy.unrelated} unrelated slices churning)  target identical: ${sameEvents ? "same events" : "DIFFERENT events"}, bytes ${byteDelta >= 0 ? "+" : ""}${byteDelta.toFixed(0)} (resourceVersions grow longer as the store counts up)`
  )
  console.log(
    `  the original's watch, same churn (client-go v0.19 informer on every EndpointSlice, v1beta1; tools/v1beta1-follower): ${original.bytes.toFixed(0)} bytes, ${original.events.toFixed(2)} EndpointSlice events per change = ${(original.bytes / noisy.bytes).toFixed(1)}× kubelan's bytes`
  )
  console.log(
    "  the original agent itself: not measured (the Go module proxy refuses github.com/devplayer0/kubelan: 403 for every version), so no convergence, wrong-removal, RSS or CPU figures for it"
  )
}
