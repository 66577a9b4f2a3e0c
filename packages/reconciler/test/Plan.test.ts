import { ConfigError, loadConfigSync } from "@kubelan/config"
import type { Endpoint, MembershipSnapshot } from "@kubelan/discovery"
import type { Underlay } from "@kubelan/netlink"
import { describe, expect, it } from "vitest"
import { Plan } from "../src/index.ts"

const loaded = loadConfigSync({ searchDirs: [], env: { KL_SERVICES: "lan/a lan/b" } })
if (loaded instanceof ConfigError) throw new Error(loaded.message)
const config = loaded.config
const underlay: Underlay = { address: "10.0.0.1", family: 4, prefixLength: 24, device: "eth0", mtu: 1500 }
const ready = (address: string): Endpoint => ({ address, ready: true, serving: true, terminating: false })
const snapshot = (services: Record<string, { addresses: Array<string>; synced?: boolean }>): MembershipSnapshot => ({
  services: new Map(
    Object.entries(services).map(([name, { addresses, synced }]) => [name, { endpoints: addresses.map(ready), synced: synced ?? true }])
  )
})
const adopted: Plan.LoopState = {
  ...Plan.initialState,
  applied: {
    spec: Plan.specFor(config, underlay),
    underlay,
    ipSetting: "",
    ifindex: 7,
    action: "adopted",
    addresses: []
  }
}

describe("what a batch of cues reads", () => {
  const known: Plan.LoopState = { ...adopted, known: ["10.0.0.2"] }

  it("membership changes alone trust what the agent last programmed", () => {
    expect(Plan.readsFor(["membership", "membership"], known)).toEqual({ link: false, fdb: false })
  })

  it("an FDB event anywhere in the batch reads the FDB again, whatever else came with it", () => {
    expect(Plan.readsFor(["membership", "kernel-fdb", "membership"], known)).toEqual({ link: false, fdb: true })
  })

  it("the kernel echoing the agent's own batch is no news: no read, and no pass at all", () => {
    const echo: Plan.Cue = {
      trigger: "kernel-fdb",
      entries: [
        { dst: "10.0.0.2", added: true },
        { dst: "10.0.0.9", added: false }
      ]
    }
    expect(Plan.readsFor([echo], known)).toEqual({ link: false, fdb: false })
    expect(Plan.needsPass([echo, echo], known)).toBe(false)
    expect(Plan.needsPass([echo, "membership"], known)).toBe(true)
    expect(Plan.needsPass([echo], { ...known, failures: 1 })).toBe(true)
    expect(Plan.needsPass([echo], { ...known, known: undefined })).toBe(true)
  })

  it("an entry deleted that the agent programmed, or added that it did not, is someone else's change: read the FDB", () => {
    for (const entry of [
      { dst: "10.0.0.2", added: false },
      { dst: "10.0.0.7", added: true }
    ]) {
      const change: Plan.Cue = { trigger: "kernel-fdb", entries: [entry] }
      expect(Plan.readsFor([change], known), entry.dst).toEqual({ link: false, fdb: true })
      expect(Plan.needsPass([change], known), entry.dst).toBe(true)
    }
  })

  it("the interface as this agent made it (its ifindex, up, its MTU) is no news either; any other state of it, or another link, is", () => {
    const mine = {
      ifindex: 7,
      name: Plan.specFor(config, underlay).name,
      up: true,
      mtu: Plan.specFor(config, underlay).mtu,
      deleted: false
    }
    const link = (changed: Partial<typeof mine>): Plan.Cue => ({ trigger: "kernel-link", link: { ...mine, ...changed } })
    expect(Plan.needsPass([link({})], known)).toBe(false)
    expect(Plan.readsFor([link({})], known)).toEqual({ link: false, fdb: false })
    for (const changed of [{ up: false }, { mtu: 1400 }, { ifindex: 8 }, { deleted: true }, { name: "eth0" }]) {
      expect(Plan.needsPass([link(changed)], known), JSON.stringify(changed)).toBe(true)
      expect(Plan.readsFor([link(changed)], known), JSON.stringify(changed)).toEqual({ link: true, fdb: true })
    }
  })

  it("link events, resyncs, reloads, retries and the start read the link and the FDB", () => {
    for (const cue of ["kernel-link", "resync", "config", "retry", "start"] as const)
      expect(Plan.readsFor(["membership", cue], known), cue).toEqual({ link: true, fdb: true })
  })

  it("after a failed pass, or with nothing known, everything is read", () => {
    expect(Plan.readsFor(["membership"], { ...known, failures: 1 })).toEqual({ link: true, fdb: true })
    expect(Plan.readsFor(["membership"], { ...known, known: undefined })).toEqual({ link: true, fdb: true })
  })

  it("a pass is counted under its most telling cue", () => {
    expect(Plan.passTrigger(["kernel-fdb", "kernel-fdb", "membership"])).toBe("membership")
    expect(Plan.passTrigger(["kernel-fdb"])).toBe("kernel-fdb")
  })
})

describe("the underlay", () => {
  it("is looked at again at start, when ip changes, and whenever the link is read (its MTU can change)", () => {
    expect(Plan.needsUnderlay(config, Plan.initialState, { link: false, fdb: false })).toBe(true)
    expect(Plan.needsUnderlay(config, adopted, { link: false, fdb: true })).toBe(false)
    expect(Plan.needsUnderlay(config, adopted, { link: true, fdb: true })).toBe(true)
    expect(Plan.needsUnderlay({ ...config, ip: "10.0.0.1" }, adopted, { link: false, fdb: false })).toBe(true)
  })
})

describe("the interface plan", () => {
  it("keeps an interface nothing questions, ensures it when a cue does or the spec changed", () => {
    expect(Plan.planInterface(config, underlay, adopted, { link: false, fdb: false }).kind).toBe("keep")
    expect(Plan.planInterface(config, underlay, adopted, { link: true, fdb: true })).toMatchObject({ kind: "ensure", changed: false })
    const renamed = { ...config, vxlan: { ...config.vxlan, interface: "lan0" } }
    expect(Plan.planInterface(renamed, underlay, adopted, { link: false, fdb: false })).toMatchObject({
      kind: "ensure",
      renamedFrom: "kubelan",
      changed: true
    })
    expect(Plan.planInterface(config, underlay, Plan.initialState, { link: true, fdb: true })).toMatchObject({
      kind: "ensure",
      changed: true
    })
  })
})

describe("the FDB plan", () => {
  it("removes nothing until every source has listed once: an adopted FDB survives an unsynced snapshot", () => {
    const plan = Plan.planFdb({
      config,
      underlay,
      snapshot: snapshot({ "lan/a": { addresses: [], synced: false }, "lan/b": { addresses: ["10.0.0.4"], synced: true } }),
      kernel: ["10.0.0.2", "10.0.0.3"],
      state: adopted
    })
    expect(plan.diff).toEqual({ add: ["10.0.0.4"], remove: [] })
    expect(plan.programmed).toEqual(["10.0.0.2", "10.0.0.3", "10.0.0.4"])
    expect(plan.becomesReady).toBe(false)
    expect(plan.state.ready).toBe(false)
  })

  it("once synced, applies the whole difference and becomes ready once", () => {
    const first = Plan.planFdb({
      config,
      underlay,
      snapshot: snapshot({ "lan/a": { addresses: ["10.0.0.1", "10.0.0.2"] }, "lan/b": { addresses: ["10.0.0.4"] } }),
      kernel: ["10.0.0.2", "10.0.0.3"],
      state: adopted
    })
    expect(first.diff).toEqual({ add: ["10.0.0.4"], remove: ["10.0.0.3"] })
    expect(first.becomesReady).toBe(true)
    expect(first.changes).toEqual([
      { service: "lan/a", ips: ["10.0.0.2"], deleted: false },
      { service: "lan/b", ips: ["10.0.0.4"], deleted: false }
    ])
    const second = Plan.planFdb({
      config,
      underlay,
      snapshot: snapshot({ "lan/a": { addresses: ["10.0.0.2"] } }),
      kernel: first.programmed,
      state: first.state
    })
    expect(second.becomesReady).toBe(false)
    expect(second.diff).toEqual({ add: [], remove: ["10.0.0.4"] })
    expect(second.changes).toEqual([{ service: "lan/b", ips: ["10.0.0.4"], deleted: true }])
  })

  it("never makes a peer of a special address or of the underlay's broadcast, and reports each once", () => {
    const members = snapshot({
      "lan/a": { addresses: ["0.0.0.0", "127.0.0.1", "169.254.1.1", "224.0.0.18", "255.255.255.255", "10.0.0.255", "10.0.0.2"] }
    })
    const plan = Plan.planFdb({ config, underlay, snapshot: members, kernel: [], state: adopted })
    expect(plan.diff).toEqual({ add: ["10.0.0.2"], remove: [] })
    expect(plan.newSkips.map((skip) => `${skip.address}: ${skip.reason}`)).toEqual([
      "0.0.0.0: an unspecified address (0.0.0.0/8)",
      "127.0.0.1: a loopback address (127.0.0.0/8)",
      "169.254.1.1: a link-local address (169.254.0.0/16)",
      "224.0.0.18: a multicast address (224.0.0.0/4)",
      "255.255.255.255: the broadcast address",
      "10.0.0.255: the broadcast address of the underlay's subnet"
    ])
    const again = Plan.planFdb({ config, underlay, snapshot: members, kernel: plan.programmed, state: plan.state })
    expect(again.newSkips).toEqual([])
  })
})

describe("interface addresses", () => {
  it("adds what the config names and the interface lacks; takes back only what this agent gave and the config dropped", () => {
    const fresh = Plan.planAddresses(["192.168.69.1/24", "fd69::1/64"], ["10.7.0.1/16"], new Set())
    expect(fresh).toEqual({
      add: ["192.168.69.1/24", "fd69::1/64"],
      remove: [],
      repaired: [],
      after: ["10.7.0.1/16", "192.168.69.1/24", "fd69::1/64"]
    })
    // Someone deleted one: it comes back, and is said to be a repair.
    const repair = Plan.planAddresses(["192.168.69.1/24", "fd69::1/64"], ["fd69:0::1/64"], new Set(["192.168.69.1/24", "fd69::1/64"]))
    expect(repair.add).toEqual(["192.168.69.1/24"])
    expect(repair.repaired).toEqual(["192.168.69.1/24"])
    // A reload drops one: it goes; the hook's own address (never assigned by the agent) stays.
    const dropped = Plan.planAddresses(
      ["fd69::1/64"],
      ["192.168.69.1/24", "fd69::1/64", "10.7.0.1/16"],
      new Set(["192.168.69.1/24", "fd69::1/64"])
    )
    expect(dropped).toEqual({ add: [], remove: ["192.168.69.1/24"], repaired: [], after: ["fd69::1/64", "10.7.0.1/16"] })
  })

  it("an announcement waits for flood entries to carry it, and is made again for a new interface or new addresses", () => {
    expect(Plan.announcementKey(7, ["192.168.69.1/24"], 0)).toBeUndefined()
    const key = Plan.announcementKey(7, ["192.168.69.1/24", "fd69::1/64"], 3)
    expect(Plan.announcementKey(7, ["fd69:0::1/64", "192.168.69.1/24"], 9)).toBe(key)
    expect(Plan.announcementKey(8, ["192.168.69.1/24", "fd69::1/64"], 3)).not.toBe(key)
    expect(Plan.announcementKey(7, ["192.168.69.1/24"], 3)).not.toBe(key)
  })
})
