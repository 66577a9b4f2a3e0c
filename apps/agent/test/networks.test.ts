import { type AgentProcess, fdbDestinations, makePodNetwork, type Pod, type PodNetwork, run, startAgent } from "@kubelan/testkit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

/**
 * A pod on two networks: pod 0 is a member of Service a (with pod 1) and of Service b (with
 * pod 2), each its own VNI and interface; pods 1 and 2 run the original's single-network config.
 */
let net: PodNetwork
const agents: Array<AgentProcess> = []
beforeAll(async () => {
  net = await makePodNetwork({ purpose: "networks", pods: 3 })
})
afterAll(async () => {
  await Promise.all(agents.map((agent) => agent.kill("SIGKILL")))
  await net?.destroy()
})

/** The static backend's members of the services named (a: pods 0 and 1, b: pods 0 and 2). */
const membership = (pods: ReadonlyArray<Pod>, services: ReadonlyArray<"a" | "b">) => [
  "discovery:",
  "  backend: static",
  "  static:",
  ...services.map((service) => `    default/${service}: [${pods[0]?.ip}, ${pods[service === "a" ? 1 : 2]?.ip}]`)
]
const ping = (from: Pod, to: string) => run("ip", ["netns", "exec", from.netns, "ping", "-c", "1", "-W", "2", to], { allowFailure: true })

describe("networks", () => {
  it("a pod on two networks reaches the members of each on its own interface, and only those", async () => {
    const [pod0, pod1, pod2] = net.pods as [Pod, Pod, Pod]
    const twoNetworks = [
      "namespace: default",
      "resync_interval: 1s",
      "networks:",
      "  - name: storage",
      "    services: [a]",
      "    vxlan: { interface: lan-a, vni: 100, address: ['10.70.0.1/24'] }",
      "  - name: front",
      "    services: [b]",
      "    vxlan: { interface: lan-b, vni: 200, address: ['10.80.0.1/24'] }",
      ...membership(net.pods, ["a", "b"])
    ].join("\n")
    const single = (service: "a" | "b", iface: string, vni: number, address: string) =>
      [
        "namespace: default",
        "resync_interval: 1s",
        `services: [${service}]`,
        `vxlan: { interface: ${iface}, vni: ${vni}, address: ['${address}'] }`,
        ...membership(net.pods, [service])
      ].join("\n")
    agents.push(startAgent({ netns: pod0.netns, config: twoNetworks }))
    agents.push(startAgent({ netns: pod1.netns, config: single("a", "lan-a", 100, "10.70.0.2/24") }))
    agents.push(startAgent({ netns: pod2.netns, config: single("b", "lan-b", 200, "10.80.0.3/24") }))
    await Promise.all(agents.map((agent) => agent.waitReady()))

    // Each interface floods to its own network's members only.
    expect(await fdbDestinations(pod0.netns, "lan-a")).toEqual([pod1.ip])
    expect(await fdbDestinations(pod0.netns, "lan-b")).toEqual([pod2.ip])
    expect(await fdbDestinations(pod1.netns, "lan-a")).toEqual([pod0.ip])
    expect(await fdbDestinations(pod2.netns, "lan-b")).toEqual([pod0.ip])
    expect((await ping(pod0, "10.70.0.2")).exitCode).toBe(0)
    expect((await ping(pod0, "10.80.0.3")).exitCode).toBe(0)
    expect((await ping(pod1, "10.70.0.1")).exitCode).toBe(0)
    // Pod 1 is not on network b: nothing of it reaches pod 2.
    expect((await ping(pod1, "10.80.0.3")).exitCode).not.toBe(0)

    // /peers, /config and /metrics name every network.
    const agent = agents[0] as AgentProcess
    const peers = JSON.parse((await agent.http("/peers")).body) as {
      networks: Array<{ name: string; ready: boolean; programmed: Array<string>; interface: { name: string; vni: number } }>
    }
    expect(
      peers.networks.map((network) => [network.name, network.ready, network.programmed, network.interface.name, network.interface.vni])
    ).toEqual([
      ["storage", true, [pod1.ip], "lan-a", 100],
      ["front", true, [pod2.ip], "lan-b", 200]
    ])
    const config = JSON.parse((await agent.http("/config")).body) as { networks: Array<{ name: string; vxlan: { vni: number } }> }
    expect(config.networks.map((network) => `${network.name}:${network.vxlan.vni}`)).toEqual(["storage:100", "front:200"])
    const metrics = (await agent.http("/metrics")).body
    expect(metrics).toMatch(/^kubelan_peers_programmed\{network="storage"\} 1$/m)
    expect(metrics).toMatch(/^kubelan_service_peers\{network="front",service="default\/b"\} 1$/m)
    expect(metrics).toMatch(/^kubelan_service_peers\{network="storage",service="default\/a"\} 1$/m)
    const check = await run("promtool", ["check", "metrics"], { input: metrics, allowFailure: true })
    expect(check.exitCode, check.stderr + check.stdout).toBe(0)

    // The original's single network, beside it, answers as it always did.
    const original = JSON.parse((await (agents[1] as AgentProcess).http("/peers")).body) as { programmed: Array<string> }
    expect(original.programmed).toEqual([pod0.ip])

    // SIGTERM takes both interfaces away.
    await agent.kill("SIGTERM")
    const links = (await run("ip", ["-n", pod0.netns, "-o", "link", "show"])).stdout
    expect(links).not.toMatch(/lan-a|lan-b/)
  }, 60_000)
})
