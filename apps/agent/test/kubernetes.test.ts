import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import {
  type AgentProcess,
  agentBundle,
  endpointSlice,
  eventually,
  fdbDestinations,
  floodEntryEvents,
  type KubeFakeProcess,
  makePodNetwork,
  type PodNetwork,
  run,
  startAgent,
  startKubeFakeInNetns,
  watchFdbEvents
} from "@kubelan/testkit"
import { afterEach, describe, expect, it } from "vitest"

/**
 * The agent with the kubernetes backend against kube-fake serving inside the pod's own
 * namespace: the real client-node, the real kernel.
 */
let net: PodNetwork | undefined
let api: KubeFakeProcess | undefined
let agent: AgentProcess | undefined
afterEach(async () => {
  await agent?.kill("SIGKILL")
  await api?.stop()
  await net?.destroy()
  agent = undefined
  api = undefined
  net = undefined
})

const slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"

const start = async (purpose: string, extra = "") => {
  net = await makePodNetwork({ purpose, pods: 1 })
  const pod = net.pods[0]!
  const kube = await startKubeFakeInNetns(pod.netns)
  api = kube
  const config = ["services: [a, b]", "resync_interval: 1s", "discovery:", "  kubernetes:", "    watch_timeout: 3s", extra].join("\n")
  const restart = () => {
    agent = startAgent({ netns: pod.netns, config, env: { KUBECONFIG: kube.kubeconfig, KL_NAMESPACE: "default" } })
    return agent
  }
  const running = restart()
  await running.waitReady()
  return { pod, api: kube, agent: running, restart }
}

const put = async (kube: KubeFakeProcess, slice: ReturnType<typeof endpointSlice>) => {
  const existing = await kube.api("GET", `${slices}/${slice.metadata.name}`)
  const response =
    existing.status === 200
      ? await kube.api("PUT", `${slices}/${slice.metadata.name}`, {
          ...slice,
          metadata: { ...slice.metadata, resourceVersion: existing.body.metadata.resourceVersion }
        })
      : await kube.api("POST", slices, slice)
  expect(response.status, JSON.stringify(response.body)).toBeLessThan(300)
}

const fdbBecomes = (netns: string, expected: ReadonlyArray<string>, timeoutMillis = 10_000) =>
  eventually(
    async () => (JSON.stringify(await fdbDestinations(netns, "kubelan")) === JSON.stringify([...expected].sort()) ? true : undefined),
    {
      timeoutMillis,
      what: `FDB = ${expected.join(" ")}`
    }
  )

describe("kubernetes backend", () => {
  it("follows EndpointSlices of two services exactly; shared and moving pods never leave the FDB", async () => {
    const { pod, api: kube } = await start("k8s")
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50", "10.99.0.51"]))
    await put(kube, endpointSlice("b", "b-1", ["10.99.0.51", "10.99.0.52", pod.ip]))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.51", "10.99.0.52"])

    const monitor = await watchFdbEvents(pod.netns)
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50"]))
    await put(kube, endpointSlice("b", "b-2", ["10.99.0.52"]))
    await put(kube, endpointSlice("b", "b-1", ["10.99.0.51", pod.ip]))
    await put(kube, endpointSlice("a", "a-2", ["10.99.0.53"]))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.51", "10.99.0.52", "10.99.0.53"])
    expect((await kube.api("DELETE", `${slices}/a-1`)).status).toBe(200)
    await fdbBecomes(pod.netns, ["10.99.0.51", "10.99.0.52", "10.99.0.53"])
    const events = floodEntryEvents(await monitor.stop())
    expect(events.filter((line) => /dst 10\.99\.0\.5[12] /.test(line))).toEqual([])
    expect(events.sort()).toEqual([
      "00:00:00:00:00:00 dev kubelan dst 10.99.0.53 self permanent",
      "Deleted 00:00:00:00:00:00 dev kubelan dst 10.99.0.50 self permanent"
    ])
  })

  it("records Events about its pod: a failing hook once with a growing count, a rejected reload, a recreated interface, a non-member filtered", async () => {
    net = await makePodNetwork({ purpose: "k8sevents", pods: 2 })
    const pod = net.pods[0]!
    const outsider = net.pods[1]!
    const kube = await startKubeFakeInNetns(pod.netns)
    api = kube
    const uid = "6f1c2a9e-1d2b-4c3d-8e4f-5a6b7c8d9e0f"
    const config = (vni: number | string) =>
      [
        "services: [a, b]",
        "resync_interval: 1s",
        `vxlan:\n  vni: ${vni}\n  filter: true\n  address: ['192.168.69.1/24']`,
        "hooks:",
        "  change: ['sh', '-c', 'echo no route to the lan >&2; exit 3']"
      ].join("\n")
    agent = startAgent({
      netns: pod.netns,
      config: config(6969),
      env: { KUBECONFIG: kube.kubeconfig, KL_NAMESPACE: "default", KL_POD_NAME: "lan-0", KL_POD_UID: uid }
    })
    await agent.waitReady()
    const events = async () =>
      (await kube.api("GET", "/apis/events.k8s.io/v1/namespaces/default/events")).body.items as Array<{
        reason: string
        type: string
        note: string
        regarding: { kind: string; name: string; uid?: string }
        reportingController: string
        series?: { count: number }
      }>
    const byReason = async (reason: string) => (await events()).filter((event) => event.reason === reason)
    // Each service's change runs the failing hook: one Event, its count growing.
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50"]))
    await put(kube, endpointSlice("b", "b-1", ["10.99.0.51"]))
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.52"]))
    await eventually(async () => ((await byReason("HookFailed"))[0]?.series?.count ?? 0) >= 3 || undefined, {
      what: "the HookFailed Event's count to grow"
    })
    const [hookFailed, ...others] = await byReason("HookFailed")
    expect(others).toEqual([])
    expect(hookFailed).toMatchObject({
      type: "Warning",
      note: 'change hook "sh" failed (exit 3): no route to the lan',
      regarding: { kind: "Pod", name: "lan-0", uid },
      reportingController: "kubelan.io/agent"
    })
    // A reload the agent refuses.
    agent.writeConfig(config(0))
    await eventually(async () => ((await byReason("ConfigRejected")).length === 1 ? true : undefined), { what: "the ConfigRejected Event" })
    expect((await byReason("ConfigRejected"))[0]?.note).toMatch(
      /^config reload rejected, keeping the running config: vxlan\.vni .*0 is outside 1\.\.16777215/
    )
    // A VNI change recreates the interface.
    agent.writeConfig(config(77))
    await eventually(async () => ((await byReason("InterfaceRecreated")).length === 1 ? true : undefined), {
      what: "the InterfaceRecreated Event"
    })
    expect((await byReason("InterfaceRecreated"))[0]?.note).toContain("vni: 6969 vs 77")
    // A pod that is no member sends VXLAN at it: the filter drops it, and says who.
    for (const args of [
      ["link", "add", "kubelan", "type", "vxlan", "id", "77", "dstport", "4789", "local", outsider.ip],
      ["address", "add", "192.168.69.2/24", "dev", "kubelan"],
      ["link", "set", "kubelan", "up"]
    ])
      await run("ip", ["-n", outsider.netns, ...args])
    await run("bridge", ["-n", outsider.netns, "fdb", "append", "00:00:00:00:00:00", "dev", "kubelan", "dst", pod.ip])
    await run("ip", ["netns", "exec", outsider.netns, "ping", "-c", "2", "-W", "1", "192.168.69.1"], { allowFailure: true })
    await eventually(async () => ((await byReason("VxlanFiltered")).length === 1 ? true : undefined), { what: "the VxlanFiltered Event" })
    expect((await byReason("VxlanFiltered"))[0]?.note).toBe(
      `dropped VXLAN packets on kubelan from ${outsider.ip}, which is not a member of default/a, default/b`
    )
    // kubectl describe pod reads the core/v1 view, by the pod's name and UID.
    const core = await kube.api(
      "GET",
      `/api/v1/namespaces/default/events?fieldSelector=${encodeURIComponent(`involvedObject.name=lan-0,involvedObject.uid=${uid}`)}`
    )
    expect(core.body.items.map((event: { reason: string }) => event.reason).sort()).toEqual([
      "ConfigRejected",
      "HookFailed",
      "InterfaceRecreated",
      "VxlanFiltered"
    ])
  })

  it("is sent none of 1000 unrelated EndpointSlices churning", async () => {
    const { pod, api: kube } = await start("k8snoise")
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50"]))
    await fdbBecomes(pod.netns, ["10.99.0.50"])
    for (let i = 0; i < 1000; i++) await put(kube, endpointSlice("noise", `noise-${i}`, [`10.98.${i >> 8}.${i & 255}`]))
    for (let i = 0; i < 1000; i += 7) await put(kube, endpointSlice("noise", `noise-${i}`, ["10.97.0.1"]))
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50", "10.99.0.54"]))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.54"])
    const clients = await kube.clients()
    const agentClients = Object.entries(clients).filter(([name]) => name !== "kubelan-test")
    expect(agentClients.length).toBeGreaterThan(0)
    for (const [, traffic] of agentClients)
      for (const path of traffic.paths)
        if (path.includes("endpointslices")) expect(path).toMatch(/labelSelector=kubernetes\.io%2Fservice-name%3D(a|b)/)
    // Exactly the two changes to service a's slice: its creation and its update.
    expect(agentClients.reduce((sum, [, traffic]) => sum + (traffic.eventsByKind.EndpointSlice ?? 0), 0)).toBe(2)
  })

  it("skips and counts malformed slices and endpoints; the rest still apply", async () => {
    const { pod, api: kube, agent: running } = await start("k8sbad")
    await put(kube, endpointSlice("a", "a-good", ["10.99.0.50"]))
    await put(kube, endpointSlice("a", "a-invalid", ["10.99.0.51", "10.0.0.999", "fd00::1"]))
    await put(kube, endpointSlice("a", "a-fqdn", ["db.example.com"], { addressType: "FQDN" }))
    await put(kube, endpointSlice("b", "b-conditions", ["10.99.0.52"], { conditions: { ready: "yes" } }))
    await put(kube, endpointSlice("b", "b-noconditions", ["10.99.0.53"], { conditions: {} }))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.51", "10.99.0.53"])
    const metrics = (await running.http("/metrics")).body
    expect(metrics).toContain('kubelan_skipped_endpoints_total{service="default/a",reason="not an IPv4 address"} 2')
    expect(metrics).toContain('kubelan_skipped_endpoints_total{service="default/a",reason="FQDN address type is not an IP family"} 1')
    expect(metrics).toContain(
      'kubelan_skipped_endpoints_total{service="default/b",reason="malformed endpoint (needs addresses, and boolean conditions)"} 1'
    )
    expect(running.output()).toContain('skipped endpoint \\"db.example.com\\" of default/a: FQDN address type is not an IP family')
  })
})

describe("the bundle as the image carries it", () => {
  it("runs alone, with plain node and iproute2, and follows EndpointSlices", async () => {
    // A directory with no node_modules anywhere above it: everything must be inside the bundle's own files.
    const alone = mkdtempSync("/kubelan-bundle-")
    try {
      cpSync(dirname(agentBundle), alone, { recursive: true })
      net = await makePodNetwork({ purpose: "k8sbundle", pods: 1 })
      const pod = net.pods[0]!
      api = await startKubeFakeInNetns(pod.netns)
      agent = startAgent({
        netns: pod.netns,
        config: "services: [a]\n",
        env: { KUBECONFIG: api.kubeconfig, KL_NAMESPACE: "default" },
        bundle: join(alone, "kubelan.mjs")
      })
      await agent.waitReady()
      await put(api, endpointSlice("a", "a-1", ["10.99.0.50"]))
      await fdbBecomes(pod.netns, ["10.99.0.50"])
    } finally {
      rmSync(alone, { recursive: true, force: true })
    }
  })
})

describe("kubernetes backend, dual-stack", () => {
  it("an IPv6-underlay pod takes the IPv6 slice of a dual-stack service and ignores the IPv4 one", async () => {
    net = await makePodNetwork({ purpose: "k8sdual", pods: 1, family: 6 })
    const pod = net.pods[0]!
    api = await startKubeFakeInNetns(pod.netns)
    agent = startAgent({ netns: pod.netns, config: "services: [a]\n", env: { KUBECONFIG: api.kubeconfig, KL_NAMESPACE: "default" } })
    await agent.waitReady()
    await put(api, endpointSlice("a", "a-v4", ["10.99.0.50"]))
    await put(api, endpointSlice("a", "a-v6", ["fd99::50", pod.ip], { addressType: "IPv6" }))
    await fdbBecomes(pod.netns, ["fd99::50"])
    const peers = JSON.parse((await agent.http("/peers")).body)
    expect(peers.services["default/a"]).toEqual({ synced: true, endpoints: 3, peers: ["fd99::50"] })
  })
})

describe("kubernetes backend under API faults", () => {
  it("API failing for 10 s, then unreachable for 10 s: the FDB is unchanged, and converges after", async () => {
    const { pod, api: kube } = await start("k8sfail")
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50", "10.99.0.51"]))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.51"])
    const monitor = await watchFdbEvents(pod.netns)
    await kube.fault({ failNext: { count: 1_000_000, code: 500 }, dropWatches: true })
    await new Promise((resolve) => setTimeout(resolve, 10_000))
    await kube.fault({ reset: true, refuseMillis: 10_000, dropWatches: true })
    await new Promise((resolve) => setTimeout(resolve, 10_000))
    expect(floodEntryEvents(await monitor.stop())).toEqual([])
    expect(await fdbDestinations(pod.netns, "kubelan")).toEqual(["10.99.0.50", "10.99.0.51"])
    await kube.fault({ reset: true })
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50", "10.99.0.55"]))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.55"], 15_000)
  })

  it("a forced 410 relists without a spurious removal; dropped watches re-watch", async () => {
    const { pod, api: kube, agent: running } = await start("k8s410")
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50"]))
    await put(kube, endpointSlice("b", "b-1", ["10.99.0.51"]))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.51"])
    const monitor = await watchFdbEvents(pod.netns)
    for (let i = 0; i < 5; i++) await put(kube, endpointSlice("noise", `noise-${i}`, ["10.98.0.1"]))
    await kube.fault({ compact: true, dropWatches: true })
    await eventually(async () => (running.output().includes("relisting") ? true : undefined), { what: "a relist after 410" })
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50", "10.99.0.56"]))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.51", "10.99.0.56"])
    expect(floodEntryEvents(await monitor.stop())).toEqual(["00:00:00:00:00:00 dev kubelan dst 10.99.0.56 self permanent"])
    await kube.fault({ dropWatches: true })
    await put(kube, endpointSlice("b", "b-1", []))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.56"])
  })

  it("a hung watch: the watchdog restarts it within its period", async () => {
    const { pod, api: kube, agent: running } = await start("k8shang")
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50"]))
    await fdbBecomes(pod.netns, ["10.99.0.50"])
    // New connections hang for a minute; the agent's next watch is caught by it.
    await kube.fault({ hangMillis: 60_000, dropWatches: true })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await kube.fault({ reset: true })
    const changed = Date.now()
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50", "10.99.0.57"]))
    // watch_timeout 3 s + grace 2 s: the watchdog gives up on the hung watch and re-watches.
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.57"], 10_000)
    expect(Date.now() - changed).toBeLessThan(8_000)
    expect(running.output()).toContain("past its timeout; restarting it")
  })
})

describe("kubernetes backend, hardened", () => {
  it("restarted while the API is unreachable, the agent adopts its interface and keeps every FDB entry until the API answers", async () => {
    const { pod, api: kube, agent: first, restart } = await start("k8sguard")
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50", "10.99.0.51"]))
    await put(kube, endpointSlice("b", "b-1", ["10.99.0.52"]))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.51", "10.99.0.52"])
    await first.kill("SIGKILL")
    const monitor = await watchFdbEvents(pod.netns)
    await kube.fault({ refuseMillis: 60_000 })
    const second = restart()
    await eventually(async () => ((await second.http("/health")).status === 204 ? true : undefined), { what: "the interface adopted" })
    await new Promise((resolve) => setTimeout(resolve, 3000))
    expect(await fdbDestinations(pod.netns, "kubelan")).toEqual(["10.99.0.50", "10.99.0.51", "10.99.0.52"])
    expect((await second.http("/readyz")).status).toBe(503)
    expect(JSON.parse((await second.http("/peers")).body).interface.action).toBe("adopted")
    await kube.fault({ reset: true })
    await second.waitReady(20_000)
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50"]))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.52"])
    expect(floodEntryEvents(await monitor.stop())).toEqual(["Deleted 00:00:00:00:00:00 dev kubelan dst 10.99.0.51 self permanent"])
  })

  it("against a server that ends every watch at once, makes a handful of requests a second and still converges", async () => {
    const { pod, api: kube } = await start("k8sshort")
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50"]))
    await fdbBecomes(pod.netns, ["10.99.0.50"])
    await kube.fault({ endWatchesAtOnce: true, dropWatches: true })
    await kube.api("DELETE", "/_fake/clients")
    const window = 10
    await new Promise((resolve) => setTimeout(resolve, window * 1000))
    const agentRequests = Object.entries(await kube.clients())
      .filter(([client]) => client !== "kubelan-test")
      .reduce((sum, [, traffic]) => sum + traffic.requests, 0)
    // Two services; client-go's rule backs a short watch off, where a retry at once made ~850 a second each.
    expect(agentRequests / window / 2).toBeLessThanOrEqual(5)
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50", "10.99.0.58"]))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.58"], 15_000)
  })

  it("an API server restored from empty storage: the membership is kept, then follows what the server lists again", async () => {
    const { pod, api: kube, agent: running } = await start("k8srestore")
    await put(kube, endpointSlice("a", "a-1", ["10.99.0.50", "10.99.0.51"]))
    await put(kube, endpointSlice("b", "b-1", ["10.99.0.52"]))
    for (let i = 0; i < 10; i++) await put(kube, endpointSlice("noise", `noise-${i}`, ["10.98.0.1"]))
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.51", "10.99.0.52"])
    await kube.restart()
    // Both services relist, also one whose watch the restored server's resourceVersion caught up with
    // (the agent's own Events count up the new server's resourceVersion): one follower noticing tells the others.
    for (const [service, held] of [
      ["a", 2],
      ["b", 1]
    ] as const)
      await eventually(
        async () =>
          running.output().includes(`the relist found no EndpointSlices of default/${service} where ${held} endpoints were listed`)
            ? true
            : undefined,
        { timeoutMillis: 20_000, what: `the empty relist of ${service} to be noticed` }
      )
    expect(running.output()).toContain("resourceVersion went backwards")
    expect(await fdbDestinations(pod.netns, "kubelan")).toEqual(["10.99.0.50", "10.99.0.51", "10.99.0.52"])
    await put(kube, endpointSlice("a", "a-9", ["10.99.0.51", "10.99.0.53"]))
    await fdbBecomes(pod.netns, ["10.99.0.51", "10.99.0.52", "10.99.0.53"], 15_000)
    await put(kube, endpointSlice("b", "b-9", []))
    await fdbBecomes(pod.netns, ["10.99.0.51", "10.99.0.53"], 15_000)
  })

  it("an unspecified address in a slice never becomes a peer, so removing it cannot empty the FDB", async () => {
    const { pod, api: kube, agent: running } = await start("k8szero")
    const peers = Array.from({ length: 33 }, (_, i) => `10.99.1.${i + 10}`)
    await put(kube, endpointSlice("a", "a-1", [...peers, "0.0.0.0", "127.0.0.1", "224.0.0.18"]))
    await fdbBecomes(pod.netns, peers)
    const monitor = await watchFdbEvents(pod.netns)
    await put(kube, endpointSlice("a", "a-1", peers))
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(floodEntryEvents(await monitor.stop())).toEqual([])
    expect(await fdbDestinations(pod.netns, "kubelan")).toEqual([...peers].sort())
    const metrics = (await running.http("/metrics")).body
    expect(metrics).toContain('kubelan_skipped_endpoints_total{service="default/a",reason="an unspecified address (0.0.0.0/8)"} 1')
  })
})
