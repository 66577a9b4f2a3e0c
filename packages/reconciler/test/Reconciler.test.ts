import { it } from "@effect/vitest"
import { ConfigError, ConfigSource, type LoadedConfig, loadConfigSync } from "@kubelan/config"
import { StaticDiscovery } from "@kubelan/discovery"
import { MemoryNetlink, Netlink } from "@kubelan/netlink"
import { Context, Effect, Layer, Option } from "effect"
import { describe, expect } from "vitest"
import { Hooks, Metrics, Reconciler, Status } from "../src/index.ts"

const load = (members: string, extra: Record<string, string> = {}): LoadedConfig => {
  const loaded = loadConfigSync({
    searchDirs: [],
    env: { KL_IP: "10.0.0.1", KL_SERVICES: "lan/a lan/b", KL_DISCOVERY_BACKEND: "static", KL_DISCOVERY_STATIC: members, ...extra }
  })
  if (loaded instanceof ConfigError) throw new Error(loaded.message)
  return loaded
}

/** The reconciler over the in-memory kernel, with a config a test can "reload". */
const harness = (initial: LoadedConfig) =>
  Effect.gen(function* () {
    const manual = yield* ConfigSource.makeManual(initial)
    const memory = yield* MemoryNetlink.makeMemory()
    const configLayer = Layer.succeed(ConfigSource.ConfigSource, manual.service)
    const deps = Layer.mergeAll(
      configLayer,
      Layer.succeed(Netlink, memory.netlink),
      StaticDiscovery.layer.pipe(Layer.provide(configLayer)),
      Status.layer("static"),
      Hooks.layer.pipe(Layer.provideMerge(Metrics.layer))
    )
    const context = yield* Layer.build(Reconciler.layer.pipe(Layer.provideMerge(deps)))
    const status = Context.get(context, Status.Status)
    const reconciler = Context.get(context, Reconciler.Reconciler)
    const fdb = Effect.map(memory.kernel, (kernel) => [...(kernel.links.get("kubelan")?.fdb ?? [])].sort())
    const waitFor = <A>(check: Effect.Effect<A | undefined>) =>
      Effect.gen(function* () {
        for (let i = 0; i < 200; i++) {
          const value = yield* check
          if (value !== undefined) return value
          yield* Effect.sleep("10 millis")
        }
        return yield* Effect.die(new Error("timed out"))
      })
    return { manual, memory, status, fdb, waitFor, reconciler }
  })

describe("Reconciler", () => {
  it.live("converges the FDB to the union of all services, minus itself", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const h = yield* harness(load("lan/a=10.0.0.1,10.0.0.2,10.0.0.3;lan/b=10.0.0.3,10.0.0.4"))
        const ready = yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? s : undefined)))
        expect(yield* h.fdb).toEqual(["10.0.0.2", "10.0.0.3", "10.0.0.4"])
        expect(ready.desired.get("10.0.0.3")).toEqual(["lan/a", "lan/b"])
        expect(ready.interface?.action).toBe("created")
      })
    )
  )

  it.live("keeps a peer listed by two services when one drops it", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const h = yield* harness(load("lan/a=10.0.0.2,10.0.0.3;lan/b=10.0.0.3"))
        yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? true : undefined)))
        yield* h.manual.set(load("lan/a=10.0.0.2;lan/b=10.0.0.3"))
        yield* h.waitFor(Effect.map(h.status.get, (s) => (s.desired.get("10.0.0.3")?.length === 1 ? true : undefined)))
        expect(yield* h.fdb).toEqual(["10.0.0.2", "10.0.0.3"])
        yield* h.manual.set(load("lan/a=10.0.0.2;lan/b="))
        yield* h.waitFor(Effect.map(h.fdb, (fdb) => (fdb.length === 1 ? true : undefined)))
        expect(yield* h.fdb).toEqual(["10.0.0.2"])
      })
    )
  )

  it.live("recreates the interface on a VNI change and keeps it on a services change", () =>
    Effect.scoped(
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
        expect(second.ifindex).not.toBe(first.ifindex)
        yield* h.waitFor(Effect.map(h.fdb, (fdb) => (fdb.length === 2 ? true : undefined)))
      })
    )
  )

  it.live("a resync cue reads the kernel again and repairs what changed behind the agent's back", () =>
    Effect.scoped(
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
  )

  it.live("deletes the interface when its scope closes", () =>
    Effect.gen(function* () {
      const memory = yield* Effect.scoped(
        Effect.gen(function* () {
          const h = yield* harness(load("lan/a=10.0.0.2"))
          yield* h.waitFor(Effect.map(h.status.get, (s) => (s.ready ? true : undefined)))
          expect(Option.isSome(yield* h.memory.netlink.readLink("kubelan"))).toBe(true)
          return h.memory
        })
      )
      expect(Option.isNone(yield* memory.netlink.readLink("kubelan"))).toBe(true)
    })
  )
})
