import { it } from "@effect/vitest"
import { ConfigError, ConfigSource, type LoadedConfig, loadConfigSync } from "@kubelan/config"
import { StaticDiscovery } from "@kubelan/discovery"
import { MemoryNetlink, Netlink, NetlinkCommandError } from "@kubelan/netlink"
import { Context, Effect, Exit, Layer, Logger, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import { Events, Hooks, Metrics, Reconciler, Status } from "../src/index.ts"

const load = (members: string, extra: Record<string, string> = {}): LoadedConfig => {
  const loaded = loadConfigSync({
    searchDirs: [],
    env: { KL_IP: "10.0.0.1", KL_SERVICES: "lan/a lan/b", KL_DISCOVERY_BACKEND: "static", KL_DISCOVERY_STATIC: members, ...extra }
  })
  if (loaded instanceof ConfigError) throw new Error(loaded.message)
  return loaded
}

type Memory = Effect.Success<ReturnType<typeof MemoryNetlink.makeMemory>>

/** The reconciler over the in-memory kernel, with a config a test can "reload" and the log lines it wrote. */
const harness = (initial: LoadedConfig, options: { wrap?: (memory: Memory) => Netlink["Service"]; memory?: Memory } = {}) =>
  Effect.gen(function* () {
    const manual = yield* ConfigSource.makeManual(initial)
    const memory = options.memory ?? (yield* MemoryNetlink.makeMemory())
    const logs: Array<{ level: string; message: string }> = []
    const capture = Logger.make(({ logLevel, message }) => {
      logs.push({
        level: logLevel,
        message: (Array.isArray(message) ? message : [message]).filter((part) => typeof part === "string").join(" ")
      })
    })
    const configLayer = Layer.succeed(ConfigSource.ConfigSource, manual.service)
    const events = yield* Events.makeMemory
    const deps = Layer.mergeAll(
      Layer.succeed(Events.EventRecorder, events.recorder),
      configLayer,
      Layer.succeed(Netlink, options.wrap?.(memory) ?? memory.netlink),
      StaticDiscovery.layer.pipe(Layer.provide(configLayer)),
      Status.layer("static"),
      Hooks.layer.pipe(Layer.provideMerge(Metrics.layer), Layer.provide(Layer.succeed(Events.EventRecorder, events.recorder)))
    )
    const context = yield* Layer.build(Reconciler.layer.pipe(Layer.provideMerge(deps), Layer.provide(Logger.layer([capture]))))
    const status = Context.get(context, Status.Status)
    const reconciler = Context.get(context, Reconciler.Reconciler)
    const metrics = Context.get(context, Metrics.Metrics)
    const fdb = Effect.map(memory.kernel, (kernel) => [...(kernel.links.get("kubelan")?.fdb ?? [])].sort())
    // Generous: CI runs every package's tests at once on two cores.
    const waitFor = <A>(check: Effect.Effect<A | undefined>) =>
      Effect.gen(function* () {
        for (let i = 0; i < 1500; i++) {
          const value = yield* check
          if (value !== undefined) return value
          yield* Effect.sleep("10 millis")
        }
        return yield* Effect.die(new Error("timed out"))
      })
    return { manual, memory, status, fdb, waitFor, reconciler, metrics, logs, events: events.recorded }
  })

describe("Reconciler", () => {
  it.live("converges the FDB to the union of all services, minus itself", () =>
    Effect.gen(function* () {
      const h = yield* harness(load("lan/a=10.0.0.1,10.0.0.2,10.0.0.3;lan/b=10.0.0.3,10.0.0.4"))
      const ready = yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? s : undefined)))
      expect(yield* h.fdb).toEqual(["10.0.0.2", "10.0.0.3", "10.0.0.4"])
      expect([...(ready.desired.get("10.0.0.3") ?? [])].sort()).toEqual(["lan/a", "lan/b"])
      expect(ready.interface?.action).toBe("created")
    })
  )

  it.live("keeps a peer listed by two services when one drops it", () =>
    Effect.gen(function* () {
      const h = yield* harness(load("lan/a=10.0.0.2,10.0.0.3;lan/b=10.0.0.3"))
      yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? true : undefined)))
      yield* h.manual.set(load("lan/a=10.0.0.2;lan/b=10.0.0.3"))
      yield* h.waitFor(Effect.map(h.status.get, (s) => (s.desired.get("10.0.0.3")?.size === 1 ? true : undefined)))
      expect(yield* h.fdb).toEqual(["10.0.0.2", "10.0.0.3"])
      yield* h.manual.set(load("lan/a=10.0.0.2;lan/b="))
      yield* h.waitFor(Effect.map(h.fdb, (fdb) => (fdb.length === 1 ? true : undefined)))
      expect(yield* h.fdb).toEqual(["10.0.0.2"])
    })
  )

  it.live("recreates the interface on a VNI change and keeps it on a services change", () =>
    Effect.gen(function* () {
      const h = yield* harness(load("lan/a=10.0.0.2"))
      const first = yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? s.interface : undefined)))
      yield* h.manual.set(load("lan/a=10.0.0.2,10.0.0.5"))
      yield* h.waitFor(Effect.map(h.fdb, (fdb) => (fdb.length === 2 ? true : undefined)))
      const memoryLink = (kernel: { links: ReadonlyMap<string, { state: { ifindex: number } }> }) =>
        kernel.links.get("kubelan")?.state.ifindex
      expect(memoryLink(yield* h.memory.kernel)).toBe(first.ifindex)
      yield* h.manual.set(load("lan/a=10.0.0.2,10.0.0.5", { KL_VXLAN_VNI: "77" }))
      const second = yield* h.waitFor(Effect.map(h.status.get, (s) => (s.interface?.vni === 77 ? s.interface : undefined)))
      expect(second.action).toBe("recreated")
      // A Warning Event says so, and why.
      expect(yield* h.events).toEqual([
        {
          type: "Warning",
          reason: "InterfaceRecreated",
          action: "Recreate",
          note: "recreated interface kubelan (its peers' traffic paused while it was made again): vni: 6969 vs 77"
        }
      ])
      expect(second.ifindex).not.toBe(first.ifindex)
      yield* h.waitFor(Effect.map(h.fdb, (fdb) => (fdb.length === 2 ? true : undefined)))
    })
  )

  it.live("gives the interface its vxlan.address, puts back one removed by hand, and says so", () =>
    Effect.gen(function* () {
      const config = load("lan/a=10.0.0.2", { KL_VXLAN_ADDRESS: "192.168.69.{ordinal+1}/24 fd69::{ordinal+1}/64", KL_POD_NAME: "lan-10" })
      const h = yield* harness(config)
      const addresses = Effect.map(h.memory.kernel, (kernel) => kernel.links.get("kubelan")?.state.addresses ?? [])
      yield* h.waitFor(Effect.map(addresses, (have) => (have.length === 2 ? true : undefined)))
      expect(yield* addresses).toEqual(["192.168.69.11/24", "fd69::b/64"])
      expect(h.logs.some((line) => line.message === "assigned address 192.168.69.11/24, fd69::b/64 to kubelan")).toBe(true)
      yield* h.memory.removeAddress("kubelan", "192.168.69.11/24")
      yield* h.waitFor(Effect.map(addresses, (have) => (have.includes("192.168.69.11/24") ? true : undefined)))
      expect(h.logs.filter((line) => line.level === "Warn").map((line) => line.message)).toContain(
        "restored address 192.168.69.11/24 on kubelan: it was removed by someone else"
      )
      expect(h.metrics.value("kubelan_addresses_assigned_total", { reason: "repaired" })).toBe(1)
      expect(h.metrics.value("kubelan_addresses_assigned_total", { reason: "new" })).toBe(2)
      // A reload that drops one takes it back; the interface stays.
      yield* h.manual.set(load("lan/a=10.0.0.2", { KL_VXLAN_ADDRESS: "fd69::{ordinal+1}/64", KL_POD_NAME: "lan-10" }))
      yield* h.waitFor(Effect.map(addresses, (have) => (have.length === 1 ? true : undefined)))
      expect(yield* addresses).toEqual(["fd69::b/64"])
    })
  )

  it.live("announces the interface once it has flood entries, again for new addresses, and never with announce off", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryNetlink.makeMemory()
      const h = yield* harness(load("lan/a=", { KL_VXLAN_ADDRESS: "192.168.69.1/24" }), { memory })
      yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? true : undefined)))
      yield* Effect.sleep("200 millis")
      // No peers yet: nobody to tell.
      expect(yield* memory.announcements).toEqual([])
      yield* h.manual.set(load("lan/a=10.0.0.2", { KL_VXLAN_ADDRESS: "192.168.69.1/24" }))
      const first = yield* h.waitFor(Effect.map(memory.announcements, (sent) => sent[0]))
      expect(first.plan.datagrams).toEqual([
        { family: 4, source: "192.168.69.1", destination: "192.168.69.255" },
        { family: 6, source: undefined, destination: "ff02::1%kubelan" }
      ])
      expect(first.plan.arp).toEqual(["192.168.69.1"])
      // Sent again a second later, for peers whose FDB lacked this pod the first time.
      yield* h.waitFor(Effect.map(memory.announcements, (sent) => (sent.length >= 2 ? true : undefined)))
      expect(h.metrics.value("kubelan_announcements_total", { kind: "datagram", result: "sent" })).toBeGreaterThanOrEqual(4)
      // A new address is announced too.
      yield* h.manual.set(load("lan/a=10.0.0.2", { KL_VXLAN_ADDRESS: "192.168.69.1/24 10.70.0.1/16" }))
      yield* h.waitFor(
        Effect.map(memory.announcements, (sent) => (sent.some((one) => one.plan.arp.includes("10.70.0.1")) ? true : undefined))
      )
    })
  )

  it.live("vxlan.filter accepts exactly the peers the FDB holds, in the same pass, and counts what it drops", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryNetlink.makeMemory()
      const h = yield* harness(load("lan/a=10.0.0.2", { KL_VXLAN_FILTER: "true" }), { memory })
      yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? true : undefined)))
      expect(yield* memory.receive("kubelan", "10.0.0.2")).toBe(true)
      expect(yield* memory.receive("kubelan", "10.0.0.9")).toBe(false)
      // A new member: by the time its FDB entry is there, the filter accepts it.
      yield* h.manual.set(load("lan/a=10.0.0.2,10.0.0.9", { KL_VXLAN_FILTER: "true" }))
      yield* h.waitFor(Effect.map(h.fdb, (fdb) => (fdb.includes("10.0.0.9") ? true : undefined)))
      expect(yield* memory.receive("kubelan", "10.0.0.9")).toBe(true)
      expect(h.metrics.value("kubelan_filter_members")).toBe(2)
      yield* h.reconciler.trigger("resync")
      yield* h.waitFor(Effect.sync(() => (h.metrics.value("kubelan_filter_dropped_packets_total") === 1 ? true : undefined)))
      // Who was dropped is an Event; the same sender again is the same Event once more.
      const filtered = Effect.map(h.events, (all) => all.filter((event) => event.reason === "VxlanFiltered"))
      expect(yield* filtered).toEqual([
        {
          type: "Warning",
          reason: "VxlanFiltered",
          action: "Filter",
          note: "dropped VXLAN packets on kubelan from 10.0.0.9, which is not a member of lan/a, lan/b"
        }
      ])
      yield* h.reconciler.trigger("resync")
      yield* Effect.sleep("100 millis")
      expect(yield* filtered).toHaveLength(1)
      // Turned off by a reload: the filter goes.
      yield* h.manual.set(load("lan/a=10.0.0.2,10.0.0.9"))
      yield* h.waitFor(Effect.map(memory.filters, (filters) => (filters.size === 0 ? true : undefined)))
    })
  )

  it.live("another member claiming one of its addresses is a duplicate: said once, as an Event, and answered with an announcement", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryNetlink.makeMemory()
      const h = yield* harness(load("lan/a=10.0.0.2", { KL_VXLAN_ADDRESS: "192.168.69.1/24 fd69::1/64" }), { memory })
      yield* h.waitFor(Effect.map(memory.announcements, (sent) => (sent.length > 0 ? true : undefined)))
      const own = JSON.parse((yield* memory.announcements)[0]?.plan.payload ?? "{}") as { instance: string; addresses: Array<string> }
      expect(own.addresses).toEqual(["192.168.69.1/24", "fd69::1/64"])
      const duplicates = Effect.map(h.events, (all) => all.filter((event) => event.reason === "DuplicateAddress"))
      // Its own announcement heard back, and a member with other addresses: nothing.
      const other = { interface: "kubelan", mac: "02:00:00:00:00:99", from: "fe80::99%kubelan" }
      yield* memory.hear("kubelan", { ...other, instance: own.instance, addresses: own.addresses })
      yield* memory.hear("kubelan", { ...other, instance: "b", addresses: ["192.168.69.2/24"] })
      yield* Effect.sleep("200 millis")
      expect(yield* duplicates).toEqual([])
      const before = (yield* memory.announcements).length
      // The same address under another prefix length is the same address.
      yield* memory.hear("kubelan", { ...other, instance: "b", addresses: ["192.168.69.1/16"] })
      yield* h.waitFor(Effect.map(duplicates, (found) => (found.length > 0 ? true : undefined)))
      expect(yield* duplicates).toEqual([
        {
          type: "Warning",
          reason: "DuplicateAddress",
          action: "Announce",
          note: "192.168.69.1 on kubelan is claimed by another member too (MAC 02:00:00:00:00:99, from fe80::99%kubelan): two members answer ARP for it"
        }
      ])
      yield* h.waitFor(Effect.map(memory.announcements, (sent) => (sent.length > before ? true : undefined)))
      // Heard again: not said again.
      yield* memory.hear("kubelan", { ...other, instance: "b", addresses: ["192.168.69.1/16"] })
      yield* Effect.sleep("200 millis")
      expect(yield* duplicates).toHaveLength(1)
    })
  )

  it.live("announce: false sends nothing", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryNetlink.makeMemory()
      const h = yield* harness(load("lan/a=10.0.0.2", { KL_VXLAN_ADDRESS: "192.168.69.1/24", KL_VXLAN_ANNOUNCE: "false" }), { memory })
      yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? true : undefined)))
      yield* Effect.sleep("1500 millis")
      expect(yield* memory.announcements).toEqual([])
    })
  )

  it.live("a resync cue reads the kernel again and repairs what changed behind the agent's back", () =>
    Effect.gen(function* () {
      const h = yield* harness(load("lan/a=10.0.0.2,10.0.0.3"))
      yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? true : undefined)))
      yield* Effect.sleep("100 millis")
      yield* h.memory.removeFdbSilently("kubelan", "10.0.0.3")
      // No kernel event and the resync tick is 10 s away: nothing notices yet.
      yield* Effect.sleep("300 millis")
      expect(yield* h.fdb).toEqual(["10.0.0.2"])
      yield* h.reconciler.trigger("resync")
      yield* h.waitFor(Effect.map(h.fdb, (fdb) => (fdb.length === 2 ? true : undefined)))
      expect(yield* h.fdb).toEqual(["10.0.0.2", "10.0.0.3"])
    })
  )

  it.live("an FDB entry deleted while a pass is writing is put back by the next pass", () =>
    Effect.gen(function* () {
      let sabotage = false
      const h = yield* harness(load("lan/a=10.0.0.2,10.0.0.3", { KL_RESYNC_INTERVAL: "24h" }), {
        // Someone deletes a peer's entry (with its kernel event) while the pass's batch is in flight.
        wrap: (memory) => ({
          ...memory.netlink,
          applyFdb: (name, diff) =>
            memory.netlink.applyFdb(name, diff).pipe(
              Effect.andThen(
                Effect.suspend(() => {
                  if (!sabotage) return Effect.void
                  sabotage = false
                  return memory.removeFdb(name, "10.0.0.2").pipe(Effect.andThen(Effect.sleep("100 millis")))
                })
              )
            )
        })
      })
      yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? true : undefined)))
      // The kernel monitor starts beside the first pass and may subscribe after it: wait until it
      // listens (an entry removed by hand comes back only through its event: no resync comes).
      yield* h.memory.removeFdb("kubelan", "10.0.0.3")
      yield* h.waitFor(Effect.map(h.fdb, (fdb) => (fdb.join() === "10.0.0.2,10.0.0.3" ? true : undefined)))
      sabotage = true
      yield* h.manual.set(load("lan/a=10.0.0.2,10.0.0.3,10.0.0.4", { KL_RESYNC_INTERVAL: "24h" }))
      // No resync comes: only the event, taken by the next pass, can repair it.
      yield* h.waitFor(Effect.map(h.fdb, (fdb) => (fdb.join() === "10.0.0.2,10.0.0.3,10.0.0.4" ? true : undefined)))
    })
  )

  it.effect("a failing pass retries on a capped exponential schedule and logs the full error once", () =>
    Effect.gen(function* () {
      let failing = true
      let attempts = 0
      const h = yield* harness(load("lan/a=10.0.0.2", { KL_RESYNC_INTERVAL: "24h" }), {
        wrap: (memory) => ({
          ...memory.netlink,
          applyFdb: (name, diff) =>
            Effect.suspend(() => {
              attempts++
              return failing
                ? Effect.fail(
                    new NetlinkCommandError({
                      command: "bridge -batch -",
                      exitCode: 1,
                      stderr: "RTNETLINK answers: No buffer space available"
                    })
                  )
                : memory.netlink.applyFdb(name, diff)
            })
        })
      })
      // The first pass starts once the kernel monitor listens: a few scheduler turns. The kernel's
      // report of the interface it made may cue one more at once (no echo is trusted after a failure).
      for (let turn = 0; turn < 100 && attempts === 0; turn++) yield* TestClock.adjust("1 millis")
      for (let turn = 0; turn < 10; turn++) yield* TestClock.adjust("1 millis")
      const first = attempts
      expect(first).toBeGreaterThanOrEqual(1)
      expect(first).toBeLessThanOrEqual(2)
      // A fixed 1 s retry would make 60 more attempts in this minute.
      for (let second = 0; second < 60; second++) yield* TestClock.adjust("1 second")
      expect(attempts - first).toBeGreaterThanOrEqual(5)
      expect(attempts - first).toBeLessThanOrEqual(8)
      const errors = h.logs.filter((line) => line.level === "Error" && line.message.startsWith("reconcile failed, retrying in"))
      const repeats = h.logs.filter((line) => line.level === "Warn" && line.message.startsWith("reconcile still failing"))
      expect(errors).toHaveLength(1)
      expect(errors[0]?.message).toContain("No buffer space available")
      expect(repeats).toHaveLength(attempts - 1)
      expect((yield* h.status.get).lastReconcile?.error).toContain("No buffer space available")
      expect(h.metrics.value("kubelan_reconciles_total", { trigger: "retry", result: "error" })).toBe(attempts - first)
      failing = false
      yield* TestClock.adjust("30 seconds")
      expect(yield* h.fdb).toEqual(["10.0.0.2"])
      expect((yield* h.status.get).ready).toBe(true)
      expect((yield* h.status.get).lastReconcile?.error).toBeUndefined()
      expect(h.logs.some((line) => line.message === "reconcile succeeded again")).toBe(true)
    })
  )

  it.live("never deletes or recreates a link of another kind that has the interface's name", () =>
    Effect.gen(function* () {
      const h = yield* harness(load("lan/a=10.0.0.2", { KL_VXLAN_INTERFACE: "eth0" }))
      const failed = yield* h.waitFor(Effect.map(h.status.get, (s) => s.lastReconcile?.error))
      expect(failed).toContain("eth0 is an existing veth link, not a VXLAN interface")
      const eth0 = (yield* h.memory.kernel).links.get("eth0")
      expect(eth0?.state.kind).toBe("veth")
      expect((yield* h.status.get).started).toBe(false)
    })
  )

  it.live("a second reconciler for the same interface in the same namespace does not start", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryNetlink.makeMemory()
      const first = yield* harness(load("lan/a=10.0.0.2"), { memory })
      yield* first.waitFor(Effect.map(first.status.get, (s) => (s.ready ? true : undefined)))
      const second = yield* Effect.exit(Effect.scoped(harness(load("lan/a=10.0.0.9"), { memory })))
      expect(Exit.isFailure(second) && String(second.cause)).toContain(
        "another kubelan agent in this network namespace already manages kubelan"
      )
      expect(yield* first.fdb).toEqual(["10.0.0.2"])
    })
  )

  it.live("a rename moves the interface and its lock: the new name is held, the old one free", () =>
    Effect.gen(function* () {
      const h = yield* harness(load("lan/a=10.0.0.2"))
      yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? true : undefined)))
      yield* h.manual.set(load("lan/a=10.0.0.2", { KL_VXLAN_INTERFACE: "lan0" }))
      yield* h.waitFor(Effect.map(h.status.get, (s) => (s.interface?.name === "lan0" ? true : undefined)))
      expect(Option.isNone(yield* h.memory.netlink.readLink("kubelan"))).toBe(true)
      expect((yield* Effect.flip(h.memory.netlink.lockInterface("lan0")))._tag).toBe("InterfaceLocked")
      const old = yield* h.memory.netlink.lockInterface("kubelan")
      yield* old.release
    })
  )

  it.live("deletes the interface when its scope closes", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const h = yield* harness(load("lan/a=10.0.0.2")).pipe(Scope.provide(scope))
      yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? true : undefined)))
      expect(Option.isSome(yield* h.memory.netlink.readLink("kubelan"))).toBe(true)
      yield* Scope.close(scope, Exit.void)
      expect(Option.isNone(yield* h.memory.netlink.readLink("kubelan"))).toBe(true)
      // The lock went with it: another agent may take the interface now.
      const lock = yield* h.memory.netlink.lockInterface("kubelan")
      yield* lock.release
    })
  )
})
