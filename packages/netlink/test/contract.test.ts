import { it } from "@effect/vitest"
import { Effect, type Layer, Option, Stream } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { Iproute2Netlink, type KernelChange, MemoryNetlink, Netlink, type VxlanSpec } from "../src/index.ts"
import { makePodNetwork, type PodNetwork } from "../src/testing/index.ts"

/**
 * The Netlink contract, held by the kernel layer and the in-memory layer alike, so unit tests
 * over the memory layer mean what they say.
 */
let net: PodNetwork
beforeAll(async () => {
  net = await makePodNetwork({ purpose: "contract", pods: 1 })
})
afterAll(async () => {
  await net?.destroy()
})

const layers: ReadonlyArray<[string, () => Layer.Layer<Netlink>, () => string]> = [
  ["iproute2 (kernel)", () => Iproute2Netlink.layer({ netns: net.pods[0]?.netns }), () => net.pods[0]?.ip ?? ""],
  [
    "in memory",
    () =>
      MemoryNetlink.layerMemory({
        interfaces: [{ name: "eth0", mtu: 1500, addresses: [{ address: "10.99.0.10", family: 4, prefixLength: 24, global: true }] }]
      }),
    () => "10.99.0.10"
  ]
]

for (const [name, layer, local] of layers) {
  describe(`Netlink contract: ${name}`, () => {
    const spec = (): VxlanSpec => ({ name: "kl0", vni: 4242, port: 4789, local: local(), mtu: 1450 })
    const run = <A, E>(effect: Effect.Effect<A, E, Netlink>) => effect.pipe(Effect.provide(layer()))

    it.live("makes the interface with the MAC asked for, and puts it back in place (same link, same FDB) when it differs", () =>
      run(
        Effect.gen(function* () {
          const netlink = yield* Netlink
          const created = yield* netlink.ensureVxlan({ ...spec(), mac: "02:4b:4c:00:00:01" })
          expect(Option.getOrThrow(yield* netlink.readLink("kl0")).mac).toBe("02:4b:4c:00:00:01")
          yield* netlink.applyFdb("kl0", { add: ["10.99.0.11"], remove: [] })
          const fixed = yield* netlink.ensureVxlan({ ...spec(), mac: "02:4b:4c:00:00:02" })
          expect(fixed).toEqual({ ifindex: created.ifindex, action: "adopted", reasons: [], addresses: [] })
          expect(Option.getOrThrow(yield* netlink.readLink("kl0")).mac).toBe("02:4b:4c:00:00:02")
          expect([...(yield* netlink.readFdb("kl0"))]).toEqual(["10.99.0.11"])
          // No MAC asked for: whatever the link has is kept.
          expect((yield* netlink.ensureVxlan(spec())).action).toBe("adopted")
          expect(Option.getOrThrow(yield* netlink.readLink("kl0")).mac).toBe("02:4b:4c:00:00:02")
          yield* netlink.deleteVxlan("kl0")
        })
      )
    )

    it.live("gives the interface addresses and takes them back; the link shows them, and an adoption answers them", () =>
      run(
        Effect.gen(function* () {
          const netlink = yield* Netlink
          yield* netlink.ensureVxlan(spec())
          yield* netlink.changeAddresses("kl0", { add: ["192.168.69.1/24", "fd69::1/64"], remove: [] })
          // Twice is no error: `replace`.
          yield* netlink.changeAddresses("kl0", { add: ["192.168.69.1/24"], remove: [] })
          expect([...Option.getOrThrow(yield* netlink.readLink("kl0")).addresses].sort()).toEqual(["192.168.69.1/24", "fd69::1/64"])
          expect((yield* netlink.ensureVxlan(spec())).addresses.length).toBe(2)
          // Removing one that is gone already is the outcome wanted, not an error.
          yield* netlink.changeAddresses("kl0", { add: [], remove: ["fd69::1/64", "10.1.2.3/24"] })
          expect(Option.getOrThrow(yield* netlink.readLink("kl0")).addresses).toEqual(["192.168.69.1/24"])
          yield* netlink.deleteVxlan("kl0")
        })
      )
    )

    it.live("creates, adopts with its FDB, recreates on a VNI change, deletes", () =>
      run(
        Effect.gen(function* () {
          const netlink = yield* Netlink
          const created = yield* netlink.ensureVxlan(spec())
          expect(created.action).toBe("created")
          const link = Option.getOrThrow(yield* netlink.readLink("kl0"))
          expect({ ifindex: link.ifindex, vni: link.vni, port: link.port, local: link.local, mtu: link.mtu, up: link.up }).toEqual({
            ifindex: created.ifindex,
            vni: 4242,
            port: 4789,
            local: local(),
            mtu: 1450,
            up: true
          })

          yield* netlink.applyFdb("kl0", { add: ["10.99.0.11", "10.99.0.12"], remove: [] })
          expect(yield* netlink.ensureVxlan(spec())).toEqual({ ifindex: created.ifindex, action: "adopted", reasons: [], addresses: [] })
          expect([...(yield* netlink.readFdb("kl0"))].sort()).toEqual(["10.99.0.11", "10.99.0.12"])
          yield* netlink.ensureVxlan({ ...spec(), mtu: 1400 })
          expect(Option.getOrThrow(yield* netlink.readLink("kl0")).mtu).toBe(1400)
          expect([...(yield* netlink.readFdb("kl0"))].sort()).toEqual(["10.99.0.11", "10.99.0.12"])

          const recreated = yield* netlink.ensureVxlan({ ...spec(), vni: 4343 })
          expect(recreated.action).toBe("recreated")
          expect(recreated.reasons).toEqual(["vni: 4242 vs 4343"])
          expect(recreated.ifindex).not.toBe(created.ifindex)
          expect(yield* netlink.readFdb("kl0")).toEqual([])

          yield* netlink.applyFdb("kl0", { add: ["10.99.0.11"], remove: ["10.99.0.50"] })
          expect(yield* netlink.readFdb("kl0")).toEqual(["10.99.0.11"])
          yield* netlink.deleteVxlan("kl0")
          expect(Option.isNone(yield* netlink.readLink("kl0"))).toBe(true)
          yield* netlink.deleteVxlan("kl0")
          expect((yield* Effect.flip(netlink.readFdb("kl0")))._tag).toBe("NetlinkCommandError")
        })
      )
    )

    it.live("finds the underlay holding the given address, and says what to set when none does", () =>
      run(
        Effect.gen(function* () {
          const netlink = yield* Netlink
          expect(yield* netlink.detectUnderlay(local())).toEqual({
            address: local(),
            family: 4,
            prefixLength: 24,
            device: "eth0",
            mtu: 1500
          })
          const missing = yield* Effect.flip(netlink.detectUnderlay("10.99.0.200"))
          expect(missing.message).toContain("ip 10.99.0.200 is not assigned to any interface here")
        })
      )
    )

    it.live("reports a change exactly when the kernel changed: never for an empty diff or a no-op", () =>
      run(
        Effect.scoped(
          Effect.gen(function* () {
            const netlink = yield* Netlink
            const seen: Array<KernelChange> = []
            yield* netlink.changes("kl0").pipe(
              Stream.runForEach((change) => Effect.sync(() => seen.push(change))),
              Effect.forkScoped
            )
            yield* Effect.sleep("400 millis")
            const kindsOf = <E>(operation: Effect.Effect<unknown, E>) =>
              Effect.gen(function* () {
                seen.length = 0
                yield* operation
                yield* Effect.sleep("400 millis")
                return [...new Set(seen.map((change) => change.kind))].sort()
              })
            expect(yield* kindsOf(netlink.ensureVxlan(spec()))).toEqual(["link"])
            expect(yield* kindsOf(netlink.applyFdb("kl0", { add: ["10.99.0.11", "10.99.0.12"], remove: [] }))).toEqual(["fdb"])
            expect(yield* kindsOf(netlink.applyFdb("kl0", { add: [], remove: [] }))).toEqual([])
            expect(yield* kindsOf(netlink.applyFdb("kl0", { add: [], remove: ["10.99.0.77"] }))).toEqual([])
            expect(yield* kindsOf(netlink.ensureVxlan(spec()))).toEqual([])
            expect(yield* kindsOf(netlink.applyFdb("kl0", { add: [], remove: ["10.99.0.11"] }))).toEqual(["fdb"])
            expect(yield* kindsOf(netlink.ensureVxlan({ ...spec(), mtu: 1400 }))).toEqual(["link"])
            expect(yield* kindsOf(netlink.deleteVxlan("kl0"))).toEqual(["fdb", "link"])
            expect(yield* kindsOf(netlink.deleteVxlan("kl0"))).toEqual([])
          })
        )
      )
    )

    it.live("refuses what would harm the pod: a link of another kind, an unspecified or multicast destination", () =>
      run(
        Effect.gen(function* () {
          const netlink = yield* Netlink
          const foreign = yield* Effect.flip(netlink.ensureVxlan({ ...spec(), name: "lo" }))
          expect(foreign.message).toBe(
            "lo is an existing non-VXLAN link, not a VXLAN interface; kubelan never deletes a link it did not make: set vxlan.interface to another name"
          )
          expect((yield* Effect.flip(netlink.deleteVxlan("lo")))._tag).toBe("ForeignLinkError")
          expect(Option.isSome(yield* netlink.readLink("lo"))).toBe(true)
          yield* netlink.ensureVxlan(spec())
          yield* netlink.applyFdb("kl0", { add: ["10.99.0.11"], remove: [] })
          for (const dst of ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"]) {
            const refused = yield* Effect.flip(netlink.applyFdb("kl0", { add: [], remove: [dst] }))
            expect(refused._tag).toBe("UnsafeFdbEntry")
          }
          expect(yield* netlink.readFdb("kl0")).toEqual(["10.99.0.11"])
          yield* netlink.deleteVxlan("kl0")
        })
      )
    )

    it.live("one agent per interface: a second lock on it is refused until the first is released", () =>
      run(
        Effect.gen(function* () {
          const netlink = yield* Netlink
          const first = yield* netlink.lockInterface("kl9")
          expect((yield* Effect.flip(netlink.lockInterface("kl9")))._tag).toBe("InterfaceLocked")
          const other = yield* netlink.lockInterface("kl8")
          yield* first.release
          const again = yield* netlink.lockInterface("kl9")
          yield* again.release
          yield* other.release
        })
      )
    )
  })
}

describe("bridge -batch failures", () => {
  it.live("ignores deleting an entry that is already gone, and names the line of any other failure", () =>
    Effect.gen(function* () {
      const netlink = yield* Netlink
      yield* netlink.ensureVxlan({ name: "kl1", vni: 5, port: 4789, local: net.pods[0]?.ip ?? "", mtu: 1450 })
      yield* netlink.applyFdb("kl1", { add: ["10.99.0.11"], remove: ["10.99.0.77"] })
      expect(yield* netlink.readFdb("kl1")).toEqual(["10.99.0.11"])
      const error = yield* Effect.flip(netlink.applyFdb("kl1", { add: ["fd00::1"], remove: [] }))
      expect(error.message).toContain(
        "line 1 (fdb append 00:00:00:00:00:00 dev kl1 dst fd00::1): RTNETLINK answers: Address family not supported by protocol"
      )
      yield* netlink.deleteVxlan("kl1")
    }).pipe(Effect.provide(Iproute2Netlink.layer({ netns: net.pods[0]?.netns })))
  )
})
