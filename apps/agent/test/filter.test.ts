import { eventually, fdbDestinations, makePodNetwork, type Pod, type PodNetwork, run, startAgent } from "@kubelan/testkit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { lanConfig } from "./lan.ts"

/**
 * vxlan.filter on the kernel: pod 0 runs the agent; pods 1 and 2 are VTEPs made by hand that send
 * real VXLAN frames at it. Only members get through; a new member is let in with its FDB entry.
 */
let net: PodNetwork
beforeAll(async () => {
  net = await makePodNetwork({ purpose: "filter", pods: 3 })
  // A VTEP made by hand, as a non-member (or a member without kubelan) would have it.
  for (const pod of net.pods.slice(1)) {
    await run("ip", ["-n", pod.netns, "link", "add", "kubelan", "type", "vxlan", "id", "6969", "dstport", "4789", "local", pod.ip])
    await run("ip", ["-n", pod.netns, "address", "add", `192.168.69.${pod.index + 1}/24`, "dev", "kubelan"])
    // Quiet: no IPv6 chatter (DAD, router solicitations) of its own reaches pod 0 meanwhile.
    await run("ip", ["netns", "exec", pod.netns, "sysctl", "-qw", "net.ipv6.conf.kubelan.disable_ipv6=1"])
    await run("ip", ["-n", pod.netns, "link", "set", "kubelan", "up"])
    await run("bridge", ["-n", pod.netns, "fdb", "append", "00:00:00:00:00:00", "dev", "kubelan", "dst", net.pods[0]!.ip])
  }
})
afterAll(async () => {
  await net?.destroy()
})

const ping = (from: Pod, to: string) =>
  run("ip", ["netns", "exec", from.netns, "ping", "-c", "2", "-i", "0.2", "-W", "1", to], { allowFailure: true })
const rxPackets = async (pod: Pod) =>
  Number(
    (await run("ip", ["-n", pod.netns, "-json", "-statistics", "link", "show", "dev", "kubelan"])).stdout.match(
      /"rx":\{"bytes":\d+,"packets":(\d+)/
    )?.[1]
  )
const metric = async (agent: ReturnType<typeof startAgent>, name: string) =>
  Number(new RegExp(`^${name} (\\d+)$`, "m").exec((await agent.http("/metrics")).body)?.[1])

describe("vxlan.filter", () => {
  it("drops and counts a non-member's frames before the interface; lets a new member in with its FDB entry", async () => {
    const [pod0, member, outsider] = net.pods as [Pod, Pod, Pod]
    const config = (members: ReadonlyArray<Pod>) =>
      lanConfig({ members: members.map((pod) => pod.ip), extra: "vxlan:\n  filter: true\n  address: ['192.168.69.1/24']" })
    const agent = startAgent({ netns: pod0.netns, config: config([pod0, member]) })
    try {
      await agent.waitReady()
      expect((await ping(member, "192.168.69.1")).exitCode).toBe(0)
      const before = await rxPackets(pod0)
      const refused = await ping(outsider, "192.168.69.1")
      expect(refused.exitCode).not.toBe(0)
      // Nothing of it reached the interface (the member is quiet meanwhile): pod 0 never even
      // heard the outsider's ARP request...
      expect(await rxPackets(pod0)).toBe(before)
      expect((await run("ip", ["-n", pod0.netns, "neigh", "show", "192.168.69.3"])).stdout).toBe("")
      // ...and the filter counted it (read at the next pass: the resync is 1 s here).
      await eventually(async () => ((await metric(agent, "kubelan_filter_dropped_packets_total")) > 0 ? true : undefined), {
        what: "the dropped packets in /metrics"
      })
      expect(await metric(agent, "kubelan_filter_members")).toBe(1)
      // Who was dropped is said (and, with the kubernetes backend, recorded as an Event).
      expect(agent.output()).toContain(`the VXLAN filter on kubelan dropped packets from ${outsider.ip}, which is not a member`)
      const saved = await run("ip", ["netns", "exec", pod0.netns, "iptables-save", "-t", "filter"])
      expect(saved.stdout).toContain(`-A KUBELAN-kubelan-M -s ${member.ip}/32 -j ACCEPT`)
      expect(saved.stdout).not.toContain(outsider.ip)

      // The outsider becomes a member: accepted by the time its FDB entry is there.
      agent.writeConfig(config([pod0, member, outsider]))
      await eventually(async () => ((await fdbDestinations(pod0.netns, "kubelan")).includes(outsider.ip) ? true : undefined), {
        what: "the new member's FDB entry"
      })
      const accepted = await run("ip", ["netns", "exec", pod0.netns, "iptables-save", "-t", "filter"])
      expect(accepted.stdout).toContain(`-A KUBELAN-kubelan-M -s ${outsider.ip}/32 -j ACCEPT`)
      expect((await ping(outsider, "192.168.69.1")).exitCode).toBe(0)
    } finally {
      await agent.kill("SIGTERM")
    }
    // SIGTERM takes the filter away with the interface.
    const after = await run("ip", ["netns", "exec", pod0.netns, "iptables-save", "-t", "filter"])
    expect(after.stdout).not.toContain("KUBELAN-")
  }, 60_000)
})
