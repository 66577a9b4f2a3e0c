import {
  type AgentProcess,
  type DnsFixture,
  eventually,
  fdbDestinations,
  floodEntryEvents,
  makePodNetwork,
  type PodNetwork,
  startAgent,
  startDnsInNetns,
  watchFdbEvents
} from "@kubelan/testkit"
import { afterEach, describe, expect, it } from "vitest"

/** The dns backend against a DNS server the test runs on the pod's own loopback. */
let net: PodNetwork | undefined
let dns: DnsFixture | undefined
let agent: AgentProcess | undefined
afterEach(async () => {
  await agent?.kill("SIGKILL")
  await dns?.stop()
  await net?.destroy()
  agent = dns = net = undefined
})

const fdbBecomes = (netns: string, expected: ReadonlyArray<string>) =>
  eventually(async () => (JSON.stringify(await fdbDestinations(netns, "kubelan")) === JSON.stringify(expected) ? true : undefined), {
    what: `FDB = ${expected.join(" ")}`
  })

describe("dns backend", () => {
  it("resolves <service>.<namespace>.svc.<domain> every interval and follows the answers", async () => {
    net = await makePodNetwork({ purpose: "dns", pods: 1 })
    const pod = net.pods[0]!
    dns = await startDnsInNetns(pod.netns, { "lan.team.svc.cluster.local": [pod.ip, "10.99.0.50", "10.99.0.51", "fd99::50"] })
    const config = ["services: [team/lan, team/empty]", "discovery:", "  backend: dns", "  dns:", "    interval: 500ms"].join("\n")
    agent = startAgent({ netns: pod.netns, config })
    await agent.waitReady()
    await fdbBecomes(pod.netns, ["10.99.0.50", "10.99.0.51"])
    dns.setRecords({ "lan.team.svc.cluster.local": [pod.ip, "10.99.0.51", "10.99.0.52"], "empty.team.svc.cluster.local": ["10.99.0.53"] })
    await fdbBecomes(pod.netns, ["10.99.0.51", "10.99.0.52", "10.99.0.53"])
    const peers = JSON.parse((await agent.http("/peers")).body)
    expect(peers.backend).toBe("dns")
    expect(peers.services["team/empty"]).toEqual({ synced: true, endpoints: 1, peers: ["10.99.0.53"] })
  })

  it("keeps the last membership while the resolver does not answer", async () => {
    net = await makePodNetwork({ purpose: "dnsdown", pods: 1 })
    const pod = net.pods[0]!
    dns = await startDnsInNetns(pod.netns, { "lan.team.svc.example.org": ["10.99.0.50"] })
    const config = [
      "services: [team/lan]",
      "discovery:",
      "  backend: dns",
      "  dns:",
      "    interval: 500ms",
      "    cluster_domain: example.org"
    ].join("\n")
    agent = startAgent({ netns: pod.netns, config })
    await agent.waitReady()
    await fdbBecomes(pod.netns, ["10.99.0.50"])
    await dns.stop()
    dns = undefined
    await eventually(async () => (agent?.output().includes("keeping the last membership") ? true : undefined), {
      what: "a failed resolution"
    })
    expect(await fdbDestinations(pod.netns, "kubelan")).toEqual(["10.99.0.50"])
  })

  it("a reload while a slow answer is on its way never lets that older answer replace a newer one", async () => {
    net = await makePodNetwork({ purpose: "dnsrace", pods: 1 })
    const pod = net.pods[0]!
    const name = "lan.team.svc.cluster.local"
    dns = await startDnsInNetns(pod.netns, { [name]: ["10.99.0.50"] })
    const config = (services: string) =>
      [`services: [${services}]`, "discovery:", "  backend: dns", "  dns:", "    interval: 3s"].join("\n")
    agent = startAgent({ netns: pod.netns, config: config("team/lan") })
    await agent.waitReady()
    await fdbBecomes(pod.netns, ["10.99.0.50"])
    const monitor = await watchFdbEvents(pod.netns)
    // The next periodic resolution is answered slowly, with the old address...
    dns.setRecords({ [name]: ["10.99.0.50"] }, { [name]: 1500 })
    const asked = dns.queries().length
    await eventually(async () => (dns!.queries().length > asked ? true : undefined), { what: "the slow query", timeoutMillis: 6000 })
    // ...and while it is on its way the address changes and a reload asks again.
    dns.setRecords({ [name]: ["10.99.0.51"] })
    agent.writeConfig(config("team/lan, team/other"))
    await fdbBecomes(pod.netns, ["10.99.0.51"])
    await new Promise((resolve) => setTimeout(resolve, 2000))
    expect(await fdbDestinations(pod.netns, "kubelan")).toEqual(["10.99.0.51"])
    const events = floodEntryEvents(await monitor.stop())
    const added = events.findIndex((line) => line.includes("dst 10.99.0.51 "))
    expect(events.slice(added).filter((line) => !line.startsWith("Deleted") && line.includes("dst 10.99.0.50 "))).toEqual([])
  })
})
