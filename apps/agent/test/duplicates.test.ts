import { type AgentProcess, eventually, makePodNetwork, type PodNetwork, startAgent } from "@kubelan/testkit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { lanConfig } from "./lan.ts"

/** Two members given the same overlay address hear each other's announcements and say so. */
let net: PodNetwork
const agents: Array<AgentProcess> = []
beforeAll(async () => {
  net = await makePodNetwork({ purpose: "duplicates", pods: 2 })
})
afterAll(async () => {
  await Promise.all(agents.map((agent) => agent.kill("SIGKILL")))
  await net?.destroy()
})

describe("duplicate overlay addresses", () => {
  it("two members with one address both report it, naming the other's MAC", async () => {
    for (const pod of net.pods)
      agents.push(
        startAgent({
          netns: pod.netns,
          config: lanConfig({ members: net.pods.map((each) => each.ip), extra: "vxlan:\n  address: ['192.168.69.7/24']" })
        })
      )
    await Promise.all(agents.map((agent) => agent.waitReady()))
    for (const agent of agents)
      await eventually(
        async () =>
          agent.output().includes("duplicate overlay address: 192.168.69.7 on kubelan is claimed by another member too") ? true : undefined,
        {
          what: "the duplicate reported"
        }
      )
    const macOf = (agent: AgentProcess) => /MAC ([0-9a-f:]{17}), from fe80::/.exec(agent.output())?.[1]
    // Each names the other: different MACs, neither its own announcement.
    expect(macOf(agents[0] as AgentProcess)).toBeDefined()
    expect(macOf(agents[0] as AgentProcess)).not.toBe(macOf(agents[1] as AgentProcess))
    expect((agents[0] as AgentProcess).output().match(/duplicate overlay address/g)).toHaveLength(1)
  }, 60_000)
})
