import { readFileSync } from "node:fs"
import {
  eventually,
  fdbDestinations,
  floodEntryEvents,
  linkAddresses,
  linkInfo,
  makePodNetwork,
  type PodNetwork,
  run,
  startAgent,
  watchFdbEvents
} from "@kubelan/testkit"
import { afterEach, describe, expect, it } from "vitest"
import { type Lan, lanConfig, startLan, upHookAssigningAddress } from "./lan.ts"

let net: PodNetwork | undefined
let lan: Lan | undefined
afterEach(async () => {
  await lan?.stopAll()
  await net?.destroy()
  lan = undefined
  net = undefined
})

const upRuns = (path: string) =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line !== "").length
const zeroMacLine = (verb: "add" | "del", dst: string) =>
  `${verb === "del" ? "Deleted " : ""}00:00:00:00:00:00 dev kubelan dst ${dst} self permanent`

describe("reload", () => {
  it("adding and removing members changes exactly those FDB entries and keeps the interface", async () => {
    net = await makePodNetwork({ purpose: "reload", pods: 1 })
    const pod = net.pods[0]!
    const agent = startAgent({ netns: pod.netns, config: lanConfig({ members: ["10.99.0.50", "10.99.0.51", "10.99.0.52"] }) })
    lan = { agents: [agent], dir: "", upLog: () => "", start: () => agent, stopAll: async () => void (await agent.kill("SIGKILL")) }
    await agent.waitReady()
    const before = await linkInfo(pod.netns, "kubelan")
    expect(await fdbDestinations(pod.netns, "kubelan")).toEqual(["10.99.0.50", "10.99.0.51", "10.99.0.52"])

    const monitor = await watchFdbEvents(pod.netns)
    agent.writeConfig(lanConfig({ members: ["10.99.0.50", "10.99.0.52", "10.99.0.60", "10.99.0.61"] }))
    await eventually(async () => ((await fdbDestinations(pod.netns, "kubelan")).length === 4 ? true : undefined), {
      what: "the reload to apply"
    })
    const events = floodEntryEvents(await monitor.stop())

    expect(await fdbDestinations(pod.netns, "kubelan")).toEqual(["10.99.0.50", "10.99.0.52", "10.99.0.60", "10.99.0.61"])
    expect(events.sort()).toEqual(
      [zeroMacLine("add", "10.99.0.60"), zeroMacLine("add", "10.99.0.61"), zeroMacLine("del", "10.99.0.51")].sort()
    )
    expect((await linkInfo(pod.netns, "kubelan"))?.ifindex).toBe(before?.ifindex)
  })

  it("a services change keeps the interface; a VNI change recreates it and runs up again", async () => {
    net = await makePodNetwork({ purpose: "vni", pods: 2 })
    lan = await startLan(net)
    const pod = net.pods[0]!
    const agent = lan.agents[0]!
    const first = await linkInfo(pod.netns, "kubelan")
    const members = net.pods.map((p) => p.ip)

    agent.writeConfig(lanConfig({ service: "default/other", members, up: upHookAssigningAddress(lan.upLog(pod)) }))
    await eventually(
      async () => {
        const peers = JSON.parse((await agent.http("/peers")).body) as { services: Record<string, unknown> }
        return "default/other" in peers.services ? true : undefined
      },
      { what: "the services change to apply" }
    )
    expect((await linkInfo(pod.netns, "kubelan"))?.ifindex).toBe(first?.ifindex)
    expect(await fdbDestinations(pod.netns, "kubelan")).toEqual([net.pods[1]?.ip])
    expect(upRuns(lan.upLog(pod))).toBe(1)

    agent.writeConfig(
      lanConfig({ service: "default/other", members, up: upHookAssigningAddress(lan.upLog(pod)), extra: "vxlan:\n  vni: 7000\n" })
    )
    const second = await eventually(
      async () => {
        const info = await linkInfo(pod.netns, "kubelan")
        return info?.vni === 7000 ? info : undefined
      },
      { what: "the interface to be recreated with VNI 7000" }
    )
    expect(second.ifindex).not.toBe(first?.ifindex)
    await eventually(async () => ((await fdbDestinations(pod.netns, "kubelan")).length === 1 ? true : undefined), {
      what: "the FDB on the new interface"
    })
    await eventually(async () => (upRuns(lan!.upLog(pod)) === 2 ? true : undefined), { what: "up to run again" })
    expect(await linkAddresses(pod.netns, "kubelan")).toEqual(["192.168.69.1/24"])
    expect(agent.output()).toContain("recreated interface kubelan: vni: 6969 vs 7000")
  })
})

describe("drift", () => {
  it("puts back an FDB entry deleted by hand within 2 s", async () => {
    net = await makePodNetwork({ purpose: "driftfdb", pods: 3 })
    lan = await startLan(net)
    const pod = net.pods[0]!
    const victim = net.pods[2]!.ip
    const monitor = await watchFdbEvents(pod.netns)
    const deleted = Date.now()
    await run("bridge", ["-n", pod.netns, "fdb", "del", "00:00:00:00:00:00", "dev", "kubelan", "dst", victim])
    await eventually(async () => ((await fdbDestinations(pod.netns, "kubelan")).includes(victim) ? true : undefined), {
      timeoutMillis: 2_000,
      what: "the deleted entry to come back"
    })
    expect(Date.now() - deleted).toBeLessThan(2_000)
    // The kernel saw it go, then come back (the repair may be quicker than any read of the FDB).
    expect(floodEntryEvents(await monitor.stop())).toEqual([
      `Deleted 00:00:00:00:00:00 dev kubelan dst ${victim} self permanent`,
      `00:00:00:00:00:00 dev kubelan dst ${victim} self permanent`
    ])
  })

  it("recreates an interface deleted by hand and runs up again", async () => {
    net = await makePodNetwork({ purpose: "driftlink", pods: 2 })
    lan = await startLan(net)
    const pod = net.pods[0]!
    const first = await linkInfo(pod.netns, "kubelan")
    await run("ip", ["-n", pod.netns, "link", "delete", "kubelan"])
    const second = await eventually(async () => linkInfo(pod.netns, "kubelan"), {
      timeoutMillis: 5_000,
      what: "the interface to come back"
    })
    expect(second.ifindex).not.toBe(first?.ifindex)
    await eventually(async () => ((await fdbDestinations(pod.netns, "kubelan")).length === 1 ? true : undefined), {
      what: "the FDB to be reprogrammed"
    })
    await eventually(async () => (upRuns(lan!.upLog(pod)) === 2 ? true : undefined), { what: "up to run again" })
    expect(await linkAddresses(pod.netns, "kubelan")).toEqual(["192.168.69.1/24"])
  })
})

describe("underlay changes", () => {
  it("a new MTU on the pod's link reaches the interface at once, with no resync (auto MTU)", async () => {
    net = await makePodNetwork({ purpose: "mtu", pods: 2 })
    lan = await startLan(net, { resync: "1h" })
    const pod = net.pods[0]!
    expect((await linkInfo(pod.netns, "kubelan"))?.mtu).toBe(1450)
    await run("ip", ["-n", pod.netns, "link", "set", "eth0", "mtu", "1400"])
    await eventually(async () => ((await linkInfo(pod.netns, "kubelan"))?.mtu === 1350 ? true : undefined), {
      what: "the overlay MTU to follow",
      timeoutMillis: 5000
    })
  })
})

describe("restart", () => {
  it("kill -9 and start again: same interface, addresses and FDB; up does not run again", async () => {
    net = await makePodNetwork({ purpose: "restart", pods: 3 })
    lan = await startLan(net)
    const pod = net.pods[0]!
    const before = {
      link: await linkInfo(pod.netns, "kubelan"),
      addresses: await linkAddresses(pod.netns, "kubelan"),
      fdb: await fdbDestinations(pod.netns, "kubelan")
    }
    const monitor = await watchFdbEvents(pod.netns)
    await lan.agents[0]!.kill("SIGKILL")
    const restarted = lan.start(pod)
    await restarted.waitReady()
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(floodEntryEvents(await monitor.stop())).toEqual([])
    expect(await linkInfo(pod.netns, "kubelan")).toEqual(before.link)
    expect(await linkAddresses(pod.netns, "kubelan")).toEqual(before.addresses)
    expect(await fdbDestinations(pod.netns, "kubelan")).toEqual(before.fdb)
    expect(upRuns(lan.upLog(pod))).toBe(1)
    expect(JSON.parse((await restarted.http("/peers")).body).interface.action).toBe("adopted")
  })

  it("SIGTERM deletes the interface and exits 0", async () => {
    net = await makePodNetwork({ purpose: "sigterm", pods: 2 })
    lan = await startLan(net)
    const pod = net.pods[0]!
    const { exitCode } = await lan.agents[0]!.kill("SIGTERM")
    expect(exitCode).toBe(0)
    expect(await linkInfo(pod.netns, "kubelan")).toBeUndefined()
    expect(lan.agents[0]!.output()).toContain("deleted interface kubelan")
  })
})
