import { arping, eventually, makePodNetwork, type Pod, type PodNetwork, ping } from "@kubelan/testkit"
import { afterEach, describe, expect, it } from "vitest"
import { type Lan, overlayAddress, startLan } from "./lan.ts"

let net: PodNetwork | undefined
let lan: Lan | undefined
afterEach(async () => {
  await lan?.stopAll()
  await net?.destroy()
  lan = undefined
  net = undefined
})

/** Every ordered pair answers ARP and ICMP over the kubelan interface. */
const expectFullMesh = async (pods: ReadonlyArray<Pod>) => {
  await Promise.all(
    pods.map(async (from) => {
      for (const to of pods) {
        if (to === from) continue
        const arp = await eventually(
          async () => {
            const result = await arping(from.netns, "kubelan", overlayAddress(to), 1)
            return result.exitCode === 0 ? result : undefined
          },
          { timeoutMillis: 10_000, what: `arping ${overlayAddress(to)} from pod ${from.index}` }
        )
        expect(arp.stdout).toMatch(new RegExp(`Unicast reply from ${overlayAddress(to).replaceAll(".", "\\.")} `))
        const icmp = await ping(from.netns, overlayAddress(to), 1)
        expect(icmp.exitCode, icmp.stdout).toBe(0)
        expect(icmp.stdout).toContain("1 received")
      }
    })
  )
}

describe("pods on a kubelan", () => {
  it("two pods reach each other over the kubelan interface", async () => {
    net = await makePodNetwork({ purpose: "two", pods: 2 })
    lan = await startLan(net)
    await expectFullMesh(net.pods)
  })

  it("five pods: every pod reaches every other", async () => {
    net = await makePodNetwork({ purpose: "five", pods: 5 })
    lan = await startLan(net)
    await expectFullMesh(net.pods)
    const peers = JSON.parse((await lan.agents[0]?.http("/peers"))?.body ?? "{}") as { programmed: Array<string> }
    expect(peers.programmed).toEqual(net.pods.slice(1).map((pod) => pod.ip))
  })

  it("an IPv6-underlay pair reaches each other", async () => {
    net = await makePodNetwork({ purpose: "ipv6", pods: 2, family: 6 })
    lan = await startLan(net)
    const peers = JSON.parse((await lan.agents[0]?.http("/peers"))?.body ?? "{}") as { interface: { local: string; mtu: number } }
    expect(peers.interface.local).toBe(net.pods[0]?.ip)
    expect(peers.interface.mtu).toBe(1500 - 70)
    await expectFullMesh(net.pods)
  })
})
