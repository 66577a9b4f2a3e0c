import { readdirSync, readFileSync } from "node:fs"
import { it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { Iproute2Netlink, Netlink, type VxlanSpec } from "../src/index.ts"
import { fdbDestinations, floodEntryEvents, makePodNetwork, type PodNetwork, run, watchFdbEvents } from "../src/testing/index.ts"

/** Pids of the processes whose command line is `command`. */
const processesWith = (command: string) =>
  readdirSync("/proc")
    .filter((pid) => /^\d+$/.test(pid))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim() === command
      } catch {
        return false
      }
    })

let net: PodNetwork
beforeAll(async () => {
  net = await makePodNetwork({ purpose: "netlink", pods: 2 })
})
afterAll(async () => {
  await net?.destroy()
})

const inPod = <A, E>(effect: Effect.Effect<A, E, Netlink>) =>
  effect.pipe(Effect.provide(Iproute2Netlink.layer({ netns: net.pods[0]?.netns })))
const spec = (): VxlanSpec => ({ name: "kl0", vni: 4242, port: 4789, local: net.pods[0]?.ip ?? "", mtu: 1450 })

describe("iproute2 netlink", () => {
  it.live("applies a diff in one batch: only the named entries change", () =>
    inPod(
      Effect.gen(function* () {
        const netlink = yield* Netlink
        yield* netlink.ensureVxlan(spec())
        const many = Array.from({ length: 300 }, (_, i) => `10.98.${i >> 8}.${i & 255}`)
        yield* netlink.applyFdb("kl0", { add: many, remove: [] })
        expect((yield* netlink.readFdb("kl0")).length).toBe(300)
        const monitor = yield* Effect.promise(() => watchFdbEvents(net.pods[0]?.netns ?? ""))
        yield* netlink.applyFdb("kl0", { add: ["10.97.0.1"], remove: ["10.98.0.0", "10.98.0.1"] })
        const events = floodEntryEvents(yield* Effect.promise(() => monitor.stop()))
        expect(events.sort()).toEqual([
          "00:00:00:00:00:00 dev kl0 dst 10.97.0.1 self permanent",
          "Deleted 00:00:00:00:00:00 dev kl0 dst 10.98.0.0 self permanent",
          "Deleted 00:00:00:00:00:00 dev kl0 dst 10.98.0.1 self permanent"
        ])
        expect((yield* Effect.promise(() => fdbDestinations(net.pods[0]?.netns ?? "", "kl0"))).length).toBe(299)
        yield* netlink.deleteVxlan("kl0")
      })
    )
  )

  it.live("writes bursts through one bridge process, made again after the interface is, and gone once idle", () =>
    inPod(
      Effect.gen(function* () {
        const netlink = yield* Netlink
        const netns = net.pods[0]?.netns ?? ""
        const writers = () => processesWith(`bridge -n ${netns} -force -batch -`)
        yield* netlink.ensureVxlan(spec())
        yield* netlink.applyFdb("kl0", { add: ["10.96.0.1"], remove: [] })
        const [first] = writers()
        yield* netlink.applyFdb("kl0", { add: ["10.96.0.2"], remove: [] })
        expect(writers()).toEqual([first])
        // A long-lived bridge knows kl0 by its old index; the batch still lands on the new link.
        yield* netlink.deleteVxlan("kl0")
        yield* netlink.ensureVxlan(spec())
        yield* netlink.applyFdb("kl0", { add: ["10.96.0.3"], remove: [] })
        expect(yield* netlink.readFdb("kl0")).toEqual(["10.96.0.3"])
        yield* Effect.sleep("3500 millis")
        expect(writers()).toEqual([])
        yield* netlink.deleteVxlan("kl0")
      })
    )
  )

  it.live("reports the command and stderr when the kernel refuses", () =>
    inPod(
      Effect.gen(function* () {
        const netlink = yield* Netlink
        const error = yield* Effect.flip(netlink.applyFdb("missing0", { add: ["10.0.0.1"], remove: [] }))
        expect(error._tag).toBe("NetlinkCommandError")
        expect(error.message).toMatch(/bridge -n kltest-\w+-netlink-\w+-p0 -force -batch - failed/)
      })
    )
  )

  it.live("detects the underlay from the default route, or from the given ip", () =>
    inPod(
      Effect.gen(function* () {
        const netlink = yield* Netlink
        expect(yield* netlink.detectUnderlay("")).toEqual({
          address: net.pods[0]?.ip,
          family: 4,
          prefixLength: 24,
          device: "eth0",
          mtu: 1500
        })
        expect(yield* netlink.detectUnderlay(net.pods[0]?.ip ?? "")).toEqual({
          address: net.pods[0]?.ip,
          family: 4,
          prefixLength: 24,
          device: "eth0",
          mtu: 1500
        })
        const missing = yield* Effect.flip(netlink.detectUnderlay("10.99.0.200"))
        expect(missing.message).toBe("ip 10.99.0.200 is not assigned to any interface here: set ip (KL_IP) to this pod's own address")
      })
    )
  )

  it.live("streams kernel changes on the interface", () =>
    inPod(
      Effect.gen(function* () {
        const netlink = yield* Netlink
        yield* netlink.ensureVxlan(spec())
        yield* netlink.applyFdb("kl0", { add: ["10.99.0.11"], remove: [] })
        // It opens with `listening`, then the change.
        const seen = yield* netlink.changes("kl0").pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
        yield* Effect.sleep("300 millis")
        yield* Effect.promise(() =>
          run("bridge", ["-n", net.pods[0]?.netns ?? "", "fdb", "del", "00:00:00:00:00:00", "dev", "kl0", "dst", "10.99.0.11"])
        )
        const [opening, change] = yield* Fiber.join(seen).pipe(Effect.timeout("5 seconds"))
        expect(opening?.listening).toBe(true)
        expect(change?.kind).toBe("fdb")
        expect(change?.detail).toContain("Deleted 00:00:00:00:00:00 dev kl0 dst 10.99.0.11")
        yield* netlink.deleteVxlan("kl0")
      })
    )
  )

  it.live("an announcement moves the entry a peer learned for the interface's MAC to this pod at once", () =>
    Effect.gen(function* () {
      const [a, b] = net.pods
      if (a === undefined || b === undefined) throw new Error("two pods expected")
      const mac = "02:4b:4c:00:00:0a"
      const inB = Iproute2Netlink.layer({ netns: b.netns })
      // B floods to A and has learned A's MAC at a VTEP that is gone, as after A was replaced.
      yield* Effect.gen(function* () {
        const netlink = yield* Netlink
        yield* netlink.ensureVxlan({ ...spec(), local: b.ip })
        yield* netlink.applyFdb("kl0", { add: [a.ip], remove: [] })
      }).pipe(Effect.provide(inB))
      yield* Effect.promise(() => run("bridge", ["-n", b.netns, "fdb", "add", mac, "dev", "kl0", "dst", "10.99.0.250", "dynamic"]))
      const learned = () =>
        run("bridge", ["-n", b.netns, "fdb", "show", "dev", "kl0"]).then((result) =>
          result.stdout.split("\n").find((line) => line.startsWith(`${mac} `))
        )
      expect(yield* Effect.promise(learned)).toContain("dst 10.99.0.250")
      const sent = yield* Effect.gen(function* () {
        const netlink = yield* Netlink
        yield* netlink.ensureVxlan({ ...spec(), mac })
        yield* netlink.applyFdb("kl0", { add: [b.ip], remove: [] })
        yield* netlink.changeAddresses("kl0", { add: ["192.168.69.1/24"], remove: [] })
        return yield* netlink.announce("kl0", {
          datagrams: [
            { family: 4, source: "192.168.69.1", destination: "192.168.69.255" },
            { family: 6, source: undefined, destination: "ff02::1%kl0" }
          ],
          arp: ["192.168.69.1"],
          payload: "kubelan: test\n"
        })
      }).pipe(Effect.provide(Iproute2Netlink.layer({ netns: a.netns })))
      // The IPv4 broadcast goes; the IPv6 one waits for the new link's link-local address (DAD).
      expect(sent.datagrams).toBeGreaterThanOrEqual(1)
      // Run as root here, with iputils' arping: the gratuitous ARP goes too.
      expect(sent.gratuitousArps).toBe(1)
      expect(sent.problems).toEqual([])
      yield* Effect.promise(async () => {
        const deadline = Date.now() + 5000
        while (!(await learned())?.includes(`dst ${a.ip}`)) {
          if (Date.now() > deadline) throw new Error(`B still has ${await learned()}`)
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      })
      for (const netns of [a.netns, b.netns])
        yield* Effect.gen(function* () {
          yield* (yield* Netlink).deleteVxlan("kl0")
        }).pipe(Effect.provide(Iproute2Netlink.layer({ netns })))
    })
  )
})
