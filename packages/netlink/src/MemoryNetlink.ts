import { Effect, Layer, Option, PubSub, Ref, Stream } from "effect"
import { ensureVxlanWith, type LinkOps } from "./ensureVxlan.ts"
import { type FdbDiff, type KernelChange, Netlink } from "./Netlink.ts"
import { NetlinkCommandError, UnderlayError } from "./NetlinkError.ts"
import { type InterfaceAddresses, underlayForAddress } from "./Underlay.ts"
import type { LinkState, VxlanSpec } from "./Vxlan.ts"

/** A kernel in memory, with the semantics kubelan relies on, for tests without root. */
export interface MemoryKernel {
  readonly links: ReadonlyMap<string, { readonly state: LinkState; readonly fdb: ReadonlySet<string> }>
  readonly nextIndex: number
}

export interface MemoryOptions {
  readonly interfaces?: ReadonlyArray<InterfaceAddresses>
}

export const makeMemory = Effect.fnUntraced(function* (options: MemoryOptions = {}) {
  const kernel = yield* Ref.make<MemoryKernel>({ links: new Map(), nextIndex: 10 })
  const events = yield* PubSub.unbounded<KernelChange>()
  const interfaces = options.interfaces ?? [{ name: "eth0", mtu: 1500, addresses: [{ address: "10.0.0.1", family: 4, global: true }] }]

  const updateLinks = (f: (links: Map<string, { state: LinkState; fdb: ReadonlySet<string> }>) => void, change: KernelChange) =>
    Ref.update(kernel, (current) => {
      const links = new Map(current.links)
      f(links)
      return { links, nextIndex: current.nextIndex + 1 }
    }).pipe(Effect.andThen(PubSub.publish(events, change)), Effect.asVoid)

  const readLink: LinkOps["readLink"] = (name) =>
    Ref.get(kernel).pipe(Effect.map((current) => Option.fromUndefinedOr(current.links.get(name)?.state)))

  const createVxlan = (spec: VxlanSpec) =>
    Effect.gen(function* () {
      const current = yield* Ref.get(kernel)
      if (current.links.has(spec.name))
        return yield* new NetlinkCommandError({
          command: `ip link add ${spec.name}`,
          exitCode: 2,
          stderr: "RTNETLINK answers: File exists"
        })
      const state: LinkState = {
        ifindex: current.nextIndex,
        name: spec.name,
        kind: "vxlan",
        vni: spec.vni,
        port: spec.port,
        local: spec.local,
        learning: true,
        mtu: 1500,
        up: false
      }
      yield* updateLinks((links) => links.set(spec.name, { state, fdb: new Set() }), { kind: "link", detail: `created ${spec.name}` })
    })

  const deleteLink = (name: string) => updateLinks((links) => links.delete(name), { kind: "link", detail: `Deleted ${name}` })

  const withLink = (name: string, command: string) =>
    Ref.get(kernel).pipe(
      Effect.flatMap((current) => {
        const link = current.links.get(name)
        return link === undefined
          ? Effect.fail(new NetlinkCommandError({ command, exitCode: 1, stderr: `Cannot find device "${name}"` }))
          : Effect.succeed(link)
      })
    )

  const setMtuUp = (name: string, mtu: number) =>
    withLink(name, `ip link set dev ${name}`).pipe(
      Effect.flatMap((link) =>
        updateLinks((links) => links.set(name, { ...link, state: { ...link.state, mtu, up: true } }), {
          kind: "link",
          detail: `${name} up`
        })
      )
    )

  const readFdb = (name: string) => withLink(name, `bridge fdb show dev ${name}`).pipe(Effect.map((link) => [...link.fdb]))

  const applyFdb = (name: string, diff: FdbDiff) =>
    withLink(name, "bridge -batch -").pipe(
      Effect.flatMap((link) => {
        const fdb = new Set(link.fdb)
        for (const dst of diff.remove) fdb.delete(dst)
        for (const dst of diff.add) fdb.add(dst)
        return updateLinks((links) => links.set(name, { ...link, fdb }), { kind: "fdb", detail: `${name} fdb` })
      })
    )

  const detectUnderlay = (ip: string) => {
    const underlay =
      ip === "" ? underlayForAddress(interfaces[0]?.addresses[0]?.address ?? "", interfaces) : underlayForAddress(ip, interfaces)
    return underlay === undefined
      ? Effect.fail(new UnderlayError({ reason: `ip ${ip} is not assigned to any interface here` }))
      : Effect.succeed(underlay)
  }

  const changes = (name: string) => Stream.fromPubSub(events).pipe(Stream.filter((change) => change.detail.includes(name)))

  const ops: LinkOps = { readLink, createVxlan, deleteLink, setMtuUp }
  const netlink = Netlink.of({ ensureVxlan: ensureVxlanWith(ops), deleteLink, readLink, readFdb, applyFdb, detectUnderlay, changes })
  /** Changes an FDB without a kernel event, as when a monitor misses one: only a re-read sees it. */
  const removeFdbSilently = (name: string, dst: string) =>
    Ref.update(kernel, (current) => {
      const link = current.links.get(name)
      if (link === undefined) return current
      const fdb = new Set(link.fdb)
      fdb.delete(dst)
      return { ...current, links: new Map(current.links).set(name, { ...link, fdb }) }
    })
  return { netlink, kernel: Ref.get(kernel), removeFdbSilently }
})

/** The in-memory layer for unit tests. */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<Netlink> =>
  Layer.effect(Netlink, makeMemory(options).pipe(Effect.map(({ netlink }) => netlink)))
