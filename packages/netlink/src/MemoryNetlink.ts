import { Effect, Layer, Option, PubSub, Ref, Stream } from "effect"
import type { Announcement, AnnouncementPlan, Claim } from "./Announce.ts"
import { ensureVxlanWith, type LinkOps } from "./ensureVxlan.ts"
import { unsafeFdbDestination } from "./FdbSafety.ts"
import type { MemberFilterSpec, MemberFilterState } from "./MemberFilter.ts"
import { type FdbDiff, type KernelChange, listening, Netlink } from "./Netlink.ts"
import { ForeignLinkError, InterfaceLocked, NetlinkCommandError, UnderlayError, UnsafeFdbEntry } from "./NetlinkError.ts"
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

type Links = Map<string, { state: LinkState; fdb: ReadonlySet<string> }>

/** A link that is the pod's own (lo, its veth): kubelan may read it and must never touch it. */
const podLink = (name: string, ifindex: number, kind: string | undefined, mtu: number): LinkState => ({
  ifindex,
  name,
  kind,
  vni: undefined,
  port: undefined,
  local: undefined,
  learning: undefined,
  mac: undefined,
  addresses: [],
  mtu,
  up: true
})

/** The MAC the in-memory kernel gives a link made without one: locally administered, by ifindex. */
const memoryMac = (ifindex: number) =>
  `02:00:00:00:${((ifindex >> 8) & 0xff).toString(16).padStart(2, "0")}:${(ifindex & 0xff).toString(16).padStart(2, "0")}`

export const makeMemory = Effect.fnUntraced(function* (options: MemoryOptions = {}) {
  const interfaces = options.interfaces ?? [
    { name: "eth0", mtu: 1500, addresses: [{ address: "10.0.0.1", family: 4, prefixLength: 24, global: true }] }
  ]
  const own = [podLink("lo", 1, undefined, 65_536), ...interfaces.map((entry, index) => podLink(entry.name, index + 2, "veth", entry.mtu))]
  const kernel = yield* Ref.make<MemoryKernel>({
    links: new Map(own.map((state) => [state.name, { state, fdb: new Set() }])),
    nextIndex: 10
  })
  const events = yield* PubSub.unbounded<KernelChange>()
  const locks = new Set<string>()

  /** Changes the links; as the kernel, reports a change only when there was one. */
  const updateLinks = (f: (links: Links) => boolean, change: KernelChange) =>
    Ref.modify(kernel, (current) => {
      const links = new Map(current.links)
      return f(links) ? [true, { links, nextIndex: current.nextIndex + 1 }] : [false, current]
    }).pipe(
      Effect.flatMap((changed) => (changed ? PubSub.publish(events, change) : Effect.succeed(false))),
      Effect.asVoid
    )

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
        mtu: spec.mtu,
        up: true,
        mac: spec.mac ?? memoryMac(current.nextIndex),
        addresses: []
      }
      yield* updateLinks((links) => links.set(spec.name, { state, fdb: new Set() }) !== undefined, {
        kind: "link",
        detail: `created ${spec.name}`
      })
      return state.ifindex
    })

  /** As the kernel: the link goes with its FDB, and both changes are reported. */
  const deleteLink = (name: string) =>
    Effect.gen(function* () {
      const entries = [...((yield* Ref.get(kernel)).links.get(name)?.fdb ?? [])]
      yield* updateLinks((links) => links.delete(name), { kind: "link", detail: `Deleted ${name}` })
      if (entries.length > 0)
        yield* PubSub.publish(events, {
          kind: "fdb",
          detail: `Deleted fdb entries of ${name}`,
          entries: entries.map((dst) => ({ dst, added: false }))
        } satisfies KernelChange)
    })

  const deleteVxlan = (name: string) =>
    Effect.gen(function* () {
      const link = yield* readLink(name)
      if (Option.isSome(link) && link.value.kind !== "vxlan") return yield* new ForeignLinkError({ name, kind: link.value.kind })
      yield* deleteLink(name)
    })

  const withLink = (name: string, command: string) =>
    Ref.get(kernel).pipe(
      Effect.flatMap((current) => {
        const link = current.links.get(name)
        return link === undefined
          ? Effect.fail(new NetlinkCommandError({ command, exitCode: 1, stderr: `Cannot find device "${name}"` }))
          : Effect.succeed(link)
      })
    )

  const setMtuUp = (name: string, mtu: number, mac: string | undefined) =>
    withLink(name, `ip link set dev ${name}`).pipe(
      Effect.flatMap((link) =>
        updateLinks(
          (links) => {
            if (link.state.mtu === mtu && link.state.up && (mac === undefined || link.state.mac === mac)) return false
            links.set(name, { ...link, state: { ...link.state, mtu, up: true, mac: mac ?? link.state.mac } })
            return true
          },
          { kind: "link", detail: `${name} up` }
        )
      )
    )

  const readFdb = (name: string) => withLink(name, `bridge fdb show dev ${name}`).pipe(Effect.map((link) => [...link.fdb]))

  const applyFdb = (name: string, diff: FdbDiff) =>
    Effect.gen(function* () {
      if (diff.add.length === 0 && diff.remove.length === 0) return
      const unsafe = [...diff.add, ...diff.remove].find(unsafeFdbDestination)
      if (unsafe !== undefined) return yield* new UnsafeFdbEntry({ dst: unsafe })
      const link = yield* withLink(name, "bridge -batch -")
      const fdb = new Set(link.fdb)
      for (const dst of diff.remove) fdb.delete(dst)
      for (const dst of diff.add) fdb.add(dst)
      const entries = [
        ...[...link.fdb].filter((dst) => !fdb.has(dst)).map((dst) => ({ dst, added: false })),
        ...[...fdb].filter((dst) => !link.fdb.has(dst)).map((dst) => ({ dst, added: true }))
      ]
      yield* updateLinks(
        (links) => {
          links.set(name, { ...link, fdb })
          return entries.length > 0
        },
        { kind: "fdb", detail: `${name} fdb`, entries }
      )
    })

  const detectUnderlay = (ip: string) => {
    const underlay =
      ip === "" ? underlayForAddress(interfaces[0]?.addresses[0]?.address ?? "", interfaces) : underlayForAddress(ip, interfaces)
    return underlay === undefined
      ? Effect.fail(new UnderlayError({ reason: `ip ${ip} is not assigned to any interface here` }))
      : Effect.succeed(underlay)
  }

  const setAddresses = (name: string, change: (addresses: ReadonlyArray<string>) => ReadonlyArray<string>) =>
    withLink(name, `ip address replace dev ${name}`).pipe(
      Effect.flatMap((link) =>
        updateLinks(
          (links) => {
            const addresses = change(link.state.addresses)
            if (addresses.length === link.state.addresses.length && addresses.every((cidr) => link.state.addresses.includes(cidr)))
              return false
            links.set(name, { ...link, state: { ...link.state, addresses } })
            return true
          },
          { kind: "address", detail: `${name} addresses` }
        )
      )
    )

  const changeAddresses = (name: string, change: { readonly add: ReadonlyArray<string>; readonly remove: ReadonlyArray<string> }) =>
    setAddresses(name, (addresses) => [
      ...addresses.filter((cidr) => !change.remove.includes(cidr)),
      ...change.add.filter((cidr) => !addresses.includes(cidr))
    ])

  const announcements = yield* Ref.make<ReadonlyArray<{ readonly name: string; readonly plan: AnnouncementPlan }>>([])
  const announce = (name: string, plan: AnnouncementPlan) =>
    Ref.update(announcements, (sent) => [...sent, { name, plan }]).pipe(
      Effect.as({ datagrams: plan.datagrams.length, gratuitousArps: plan.arp.length, problems: [] } satisfies Announcement)
    )

  /** The filters as the kernel would hold them, by interface; `receive` counts a frame from a non-member. */
  const filters = new Map<string, MemberFilterState>()
  /** The memory kernel's clock for `droppedFrom` (the real one counts jiffies). */
  let ticks = 0
  const applyMemberFilter = (spec: MemberFilterSpec) =>
    Effect.sync(() => {
      const previous = filters.get(spec.name)
      const state: MemberFilterState = {
        installed: true,
        ports: [spec.port],
        members: spec.members,
        dropped: previous?.dropped ?? 0,
        exists: true,
        droppedFrom: previous?.droppedFrom ?? new Map()
      }
      filters.set(spec.name, state)
      return state
    })
  const removeMemberFilter = (name: string) => Effect.sync(() => void filters.delete(name))
  /** A VXLAN frame from `source` reaches the interface's filter: answers whether it passes. */
  const receive = (name: string, source: string) =>
    Effect.sync(() => {
      const filter = filters.get(name)
      if (filter === undefined || filter.members.includes(source)) return true
      ticks += 1
      filters.set(name, { ...filter, dropped: filter.dropped + 1, droppedFrom: new Map(filter.droppedFrom).set(source, ticks) })
      return false
    })

  // Subscribed before `listening` is sent: nothing published after it is missed.
  /** Announcements other agents send, as a test makes them; `hear` sends one. */
  const heard = yield* PubSub.unbounded<{ readonly name: string; readonly claim: Claim }>()
  const claims = (name: string) =>
    Stream.fromPubSub(heard).pipe(
      Stream.filter((entry) => entry.name === name),
      Stream.map((entry) => entry.claim)
    )
  const hear = (name: string, claim: Claim) => PubSub.publish(heard, { name, claim }).pipe(Effect.asVoid)

  const changes = (name: string) =>
    Stream.unwrap(
      Effect.map(PubSub.subscribe(events), (subscription) =>
        Stream.concat(
          Stream.succeed(listening),
          Stream.fromSubscription(subscription).pipe(Stream.filter((change) => change.detail.includes(name)))
        )
      )
    )

  const lockInterface = (name: string) =>
    Effect.suspend(() => {
      if (locks.has(name)) return Effect.fail(new InterfaceLocked({ name }))
      locks.add(name)
      return Effect.succeed({ name, release: Effect.sync(() => void locks.delete(name)) })
    })

  const ops: LinkOps = { readLink, createVxlan, deleteLink, setMtuUp }
  const netlink = Netlink.of({
    ensureVxlan: ensureVxlanWith(ops),
    deleteVxlan,
    readLink,
    readFdb,
    applyFdb,
    detectUnderlay,
    changeAddresses,
    announce,
    applyMemberFilter,
    removeMemberFilter,
    claims,
    changes,
    lockInterface
  })
  /** Changes an FDB without a kernel event, as when a monitor misses one: only a re-read sees it. */
  const removeFdbSilently = (name: string, dst: string) =>
    Ref.update(kernel, (current) => {
      const link = current.links.get(name)
      if (link === undefined) return current
      const fdb = new Set(link.fdb)
      fdb.delete(dst)
      return { ...current, links: new Map(current.links).set(name, { ...link, fdb }) }
    })
  /** Someone else's change, with its kernel event, as `bridge fdb del` by hand would make. */
  const removeFdb = (name: string, dst: string) => applyFdb(name, { add: [], remove: [dst] })
  /** Someone else deleting an address, with its kernel event. */
  const removeAddress = (name: string, cidr: string) => setAddresses(name, (addresses) => addresses.filter((have) => have !== cidr))
  return {
    netlink,
    kernel: Ref.get(kernel),
    removeFdbSilently,
    removeFdb,
    removeAddress,
    announcements: Ref.get(announcements),
    receive,
    hear,
    filters: Effect.sync(() => new Map(filters))
  }
})

/** The in-memory layer for unit tests. */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<Netlink> =>
  Layer.effect(Netlink, makeMemory(options).pipe(Effect.map(({ netlink }) => netlink)))
