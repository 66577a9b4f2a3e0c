import { canonicalAddress, type KubelanConfig, subnetBroadcast } from "@kubelan/config"
import { isFullySynced, type MembershipSnapshot, type SkippedEndpoint } from "@kubelan/discovery"
import {
  type Claim,
  type FdbDiff,
  type FloodEntryChange,
  type LinkEvent,
  type MemberFilterSpec,
  type Underlay,
  type VxlanSpec,
  vxlanMtu
} from "@kubelan/netlink"
import { type DesiredPeers, desiredPeers } from "./desiredPeers.ts"
import { diffPeers } from "./diffPeers.ts"
import type { AgentStatus } from "./Status.ts"
import { type ServiceChange, serviceChanges } from "./serviceChanges.ts"

/**
 * The reconciler's decisions, as pure functions of what it was told (cues, config, membership)
 * and what the kernel holds. The loop in Reconciler.ts runs the effects they ask for; tests
 * drive these directly.
 */

/** Why a pass runs. Only a cue: every pass recomputes from the latest config and membership. */
export type Trigger = "start" | "config" | "membership" | "kernel-link" | "kernel-fdb" | "kernel-address" | "up-hook" | "resync" | "retry"

/** A cue: a trigger, or the kernel showing what it changed (flood entries, or a link as it is now). */
export type Cue =
  | Trigger
  | { readonly trigger: "kernel-fdb"; readonly entries: ReadonlyArray<FloodEntryChange> }
  | { readonly trigger: "kernel-link"; readonly link: LinkEvent }

export const triggerOf = (cue: Cue): Trigger => (typeof cue === "string" ? cue : cue.trigger)

/**
 * Whether the kernel's report agrees with what this agent last did: the echo of its own batch
 * (an entry it added now present, one it deleted now gone) or of its own interface (the
 * ifindex it made, up, with its MTU). Anything else is someone else's change, or an order of
 * events this agent cannot vouch for: read the kernel.
 */
const isEcho = (cue: Cue, known: ReadonlySet<string> | undefined, applied: Applied | undefined) => {
  if (typeof cue === "string") return false
  if ("entries" in cue) return known !== undefined && cue.entries.every((entry) => known.has(entry.dst) === entry.added)
  const { link } = cue
  return (
    applied !== undefined &&
    link.name === applied.spec.name &&
    !link.deleted &&
    link.up &&
    link.ifindex === applied.ifindex &&
    link.mtu === applied.spec.mtu
  )
}

/** The interface as this agent last made or adopted it. */
export interface Applied {
  readonly spec: VxlanSpec
  readonly underlay: Underlay
  /** The `ip` setting the underlay was detected for. */
  readonly ipSetting: string
  readonly ifindex: number
  /** How this agent got this ifindex: a later check that adopts it does not change that. */
  readonly action: string
  /** Its addresses when it was last read (with those this agent added since). */
  readonly addresses: ReadonlyArray<string>
}

/** What the loop carries from one pass to the next. Only the loop holds it. */
export interface LoopState {
  readonly applied: Applied | undefined
  /** The FDB as this agent last read or wrote it; undefined = unknown, read it. */
  readonly known: ReadonlyArray<string> | undefined
  readonly byService: ReadonlyMap<string, ReadonlySet<string>>
  /** Skipped endpoints already logged and counted (service|address|reason). */
  readonly reportedSkips: ReadonlySet<string>
  readonly ready: boolean
  /** Consecutive failed passes; the next pass trusts nothing it remembers. */
  readonly failures: number
  /** The last failure's text, so a failure that repeats is not logged in full again. */
  readonly lastError: string | undefined
  /** The configured addresses this agent gave the interface (a missing one is repaired, and said so). */
  readonly assigned: ReadonlySet<string>
  /** Duplicates already reported (address and the other claimant's MAC). */
  readonly reportedDuplicates: ReadonlySet<string>
  /** The member filter as this agent last wrote it; undefined = none. */
  readonly filter:
    | {
        readonly name: string
        readonly family: 4 | 6
        readonly key: string
        /** Who the filter had dropped, and when last, as the kernel said at the last pass. */
        readonly droppedFrom: ReadonlyMap<string, number>
      }
    | undefined
  /** What was last announced (ifindex and addresses): a change of either is announced again. */
  readonly announced: string | undefined
  /** The desired peers last computed, and for what: a resync with nothing new computes none. */
  readonly desired: { readonly snapshot: MembershipSnapshot; readonly selection: string; readonly peers: DesiredPeers } | undefined
}

export const initialState: LoopState = {
  applied: undefined,
  known: undefined,
  byService: new Map(),
  reportedSkips: new Set(),
  ready: false,
  failures: 0,
  lastError: undefined,
  assigned: new Set(),
  reportedDuplicates: new Set(),
  filter: undefined,
  announced: undefined,
  desired: undefined
}

/** What a pass reads from the kernel before deciding. */
export interface Reads {
  readonly link: boolean
  readonly fdb: boolean
}

/**
 * Decided from the whole batch of cues a pass takes, after it took them: only a membership
 * change may trust what the agent last programmed, since someone else's change always arrives
 * as a kernel event, a resync or a reload; all but an FDB event also check the link. After a
 * failure the pass may have half-applied, so everything is read again.
 */
/** `known` as a set, made once per value: a burst of echoes checks thousands of entries against it. */
const knownSets = new WeakMap<ReadonlyArray<string>, ReadonlySet<string>>()
const knownSet = (known: ReadonlyArray<string> | undefined) => {
  if (known === undefined) return undefined
  let set = knownSets.get(known)
  if (set === undefined) {
    set = new Set(known)
    knownSets.set(known, set)
  }
  return set
}

export const readsFor = (cues: ReadonlyArray<Cue>, state: LoopState): Reads => {
  const distrust = state.failures > 0 || state.known === undefined || state.applied === undefined
  const known = knownSet(state.known)
  const news = cues.filter((cue) => cue !== "membership" && !isEcho(cue, known, state.applied))
  return {
    fdb: distrust || news.length > 0,
    link: distrust || news.some((cue) => triggerOf(cue) !== "kernel-fdb")
  }
}

/** Whether a batch calls for a pass at all: not when the kernel only echoes this agent's own doing. */
export const needsPass = (cues: ReadonlyArray<Cue>, state: LoopState): boolean => {
  const known = knownSet(state.known)
  return state.failures > 0 || !cues.every((cue) => isEcho(cue, known, state.applied))
}

/** The cue a pass is counted under: the most telling of its batch. */
export const passTrigger = (cues: ReadonlyArray<Cue>): Trigger =>
  cues.map(triggerOf).find((trigger) => trigger !== "kernel-fdb") ?? (cues[0] === undefined ? "resync" : triggerOf(cues[0]))

export const specFor = (config: KubelanConfig, underlay: Underlay): VxlanSpec => ({
  name: config.vxlan.interface,
  vni: config.vxlan.vni,
  port: config.vxlan.port,
  local: underlay.address,
  mtu: config.vxlan.mtu === -1 ? vxlanMtu(underlay) : config.vxlan.mtu,
  mac: config.vxlan.mac === "" ? undefined : config.vxlan.mac
})

const sameSpec = (a: VxlanSpec, b: VxlanSpec) =>
  a.name === b.name && a.vni === b.vni && a.port === b.port && a.local === b.local && a.mtu === b.mtu && a.mac === b.mac

/**
 * Whether the underlay must be detected again: at start, when `ip` changed, and whenever the
 * link is read, since the pod's own link can change under it (a new MTU from the network).
 */
export const needsUnderlay = (config: KubelanConfig, state: LoopState, reads: Reads): boolean =>
  state.applied === undefined || state.applied.ipSetting !== config.ip || reads.link

export type InterfacePlan =
  /** The interface is as this agent left it and nothing says otherwise. */
  | { readonly kind: "keep"; readonly spec: VxlanSpec }
  /** Read the link and make it match: create, adopt or recreate. */
  | { readonly kind: "ensure"; readonly spec: VxlanSpec; readonly renamedFrom: string | undefined; readonly changed: boolean }

export const planInterface = (config: KubelanConfig, underlay: Underlay, state: LoopState, reads: Reads): InterfacePlan => {
  const spec = specFor(config, underlay)
  const previous = state.applied?.spec
  if (previous !== undefined && sameSpec(previous, spec) && !reads.link) return { kind: "keep", spec }
  const renamedFrom = previous !== undefined && previous.name !== spec.name ? previous.name : undefined
  return { kind: "ensure", spec, renamedFrom, changed: previous === undefined || !sameSpec(previous, spec) }
}

/** One pass's FDB work. */
export interface FdbPlan {
  /** What to write, in one batch. */
  readonly diff: FdbDiff
  /** The flood entries once it is written. */
  readonly programmed: ReadonlyArray<string>
  readonly desired: DesiredPeers
  /** `change` hook runs, in order. */
  readonly changes: ReadonlyArray<ServiceChange>
  /** Skipped endpoints not reported before: log and count each once. */
  readonly newSkips: ReadonlyArray<SkippedEndpoint>
  readonly synced: boolean
  /** This pass programs the first full sync. */
  readonly becomesReady: boolean
  readonly state: LoopState
}

const skipKey = (skip: SkippedEndpoint) => `${skip.service}|${skip.address}|${skip.reason}`

export const planFdb = (input: {
  readonly config: KubelanConfig
  readonly underlay: Underlay
  readonly snapshot: MembershipSnapshot
  /** The flood entries the kernel holds (read now, or known from the last pass). */
  readonly kernel: ReadonlyArray<string>
  readonly state: LoopState
}): FdbPlan => {
  const { config, underlay, snapshot, kernel, state } = input
  const selection = {
    self: underlay.address,
    family: underlay.family,
    include: config.peers.include,
    broadcast: subnetBroadcast(underlay.address, underlay.prefixLength)
  }
  const selectionKey = `${selection.self} ${selection.family} ${selection.include} ${selection.broadcast}`
  const desired =
    state.desired?.snapshot === snapshot && state.desired.selection === selectionKey
      ? state.desired.peers
      : desiredPeers(snapshot, selection)
  const synced = isFullySynced(snapshot)
  const full = diffPeers(desired.peers, kernel)
  // Until every source has listed once, a missing peer may just be unlisted yet: keep it.
  const diff = synced ? full : { add: full.add, remove: [] }
  // Nothing to write for the same desired peers as last time: the kernel holds what was programmed.
  const unchanged = diff.add.length === 0 && diff.remove.length === 0 && synced && desired === state.desired?.peers
  const removed = new Set(diff.remove)
  const programmed =
    unchanged && state.known !== undefined ? state.known : [...kernel.filter((address) => !removed.has(address)), ...diff.add].sort()
  const fresh = new Set<string>()
  const newSkips = desired.skipped.filter((skip) => {
    const key = skipKey(skip)
    if (state.reportedSkips.has(key) || fresh.has(key)) return false
    fresh.add(key)
    return true
  })
  const becomesReady = synced && !state.ready
  return {
    diff,
    programmed,
    desired,
    changes: serviceChanges(state.byService, desired.byService),
    newSkips,
    synced,
    becomesReady,
    state: {
      ...state,
      known: programmed,
      byService: desired.byService,
      reportedSkips: fresh.size === 0 ? state.reportedSkips : new Set([...state.reportedSkips, ...fresh]),
      ready: state.ready || synced,
      desired: { snapshot, selection: selectionKey, peers: desired }
    }
  }
}

/** What `/peers` and `/readyz` show after a pass that programmed `plan`: the plan's own maps, sorted when shown. */
export const statusAfter = (current: AgentStatus, plan: FdbPlan, snapshot: MembershipSnapshot): AgentStatus => ({
  ...current,
  ready: plan.state.ready,
  programmed: plan.programmed,
  desired: plan.desired.peers,
  services: new Map(
    [...snapshot.services].map(([name, membership]) => [
      name,
      { synced: membership.synced, endpoints: membership.endpoints.length, peers: plan.desired.byService.get(name) ?? new Set() }
    ])
  )
})

/** The configured addresses the interface lacks, and which of them this agent had given it before. */
export const planAddresses = (wanted: ReadonlyArray<string>, has: ReadonlyArray<string>, assigned: ReadonlySet<string>): AddressPlan => {
  const present = new Set(has.map(canonicalCidr))
  const add = wanted.filter((cidr) => !present.has(canonicalCidr(cidr)))
  const wantedSet = new Set(wanted.map(canonicalCidr))
  // Only what this agent gave it and the config no longer names: a hook's addresses are the hook's.
  const remove = [...assigned].filter((cidr) => !wantedSet.has(canonicalCidr(cidr)) && present.has(canonicalCidr(cidr)))
  const removedSet = new Set(remove)
  const after = [...has.filter((cidr) => !removedSet.has(cidr)), ...add]
  return { add, remove, repaired: add.filter((cidr) => assigned.has(cidr)), after }
}

export interface AddressPlan {
  readonly add: ReadonlyArray<string>
  readonly remove: ReadonlyArray<string>
  /** Of `add`, those this agent had given the interface before: someone removed them. */
  readonly repaired: ReadonlyArray<string>
  /** The interface's addresses once the plan is applied. */
  readonly after: ReadonlyArray<string>
}

/** `fd69:0::1/64` and `fd69::1/64` are one address. */
const canonicalCidr = (cidr: string) => {
  const [address = "", prefix = ""] = cidr.split("/")
  return `${canonicalAddress(address)}/${prefix}`
}

/**
 * The key of an announcement: the interface (by ifindex) and its addresses. Announced once there
 * are flood entries to carry it, and again whenever the key changes (a new interface, an address
 * a hook or this agent added).
 */
export const announcementKey = (ifindex: number, addresses: ReadonlyArray<string>, peers: number): string | undefined =>
  peers === 0 ? undefined : `${ifindex} ${[...addresses].map(canonicalCidr).sort().join(" ")}`

export type FilterPlan =
  | { readonly kind: "keep" }
  /** Write the filter (after taking away one for another interface or family, if any). */
  | { readonly kind: "apply"; readonly spec: MemberFilterSpec; readonly key: string; readonly replaces: LoopState["filter"] }
  | { readonly kind: "remove"; readonly filter: NonNullable<LoopState["filter"]> }

/**
 * The member filter for the peers a pass programs: written when the members, port, interface or
 * family change, and whenever the pass reads the kernel anyway (someone may have flushed it);
 * taken away when the config turns it off.
 */
export const planFilter = (
  config: KubelanConfig,
  underlay: Underlay,
  programmed: ReadonlyArray<string>,
  state: LoopState,
  rereads: boolean
): FilterPlan => {
  if (!config.vxlan.filter) return state.filter === undefined ? { kind: "keep" } : { kind: "remove", filter: state.filter }
  const spec: MemberFilterSpec = { name: config.vxlan.interface, port: config.vxlan.port, family: underlay.family, members: programmed }
  const key = `${spec.name} ${spec.port} ${spec.family} ${programmed.join(" ")}`
  if (key === state.filter?.key && !rereads) return { kind: "keep" }
  const replaces =
    state.filter !== undefined && (state.filter.name !== spec.name || state.filter.family !== spec.family) ? state.filter : undefined
  return { kind: "apply", spec, key, replaces }
}

/** Sources the filter dropped since the last look: new ones, or ones the kernel saw again. */
export const newlyFiltered = (before: ReadonlyMap<string, number> | undefined, now: ReadonlyMap<string, number>): ReadonlyArray<string> =>
  [...now].filter(([source, last]) => before?.get(source) !== last).map(([source]) => source)

/**
 * The addresses of this interface another agent's announcement claims too, not reported before:
 * two members answering ARP for one address. Prefix lengths aside (10.0.0.1/24 and /16 clash).
 */
export const duplicateClaims = (
  own: ReadonlyArray<string>,
  instance: string,
  claim: Claim,
  reported: ReadonlySet<string>
): ReadonlyArray<{ readonly address: string; readonly key: string }> => {
  if (claim.instance === instance) return []
  const host = (cidr: string) => canonicalAddress(cidr.split("/")[0] ?? "")
  const claimed = new Set(claim.addresses.map(host))
  return own
    .map(host)
    .filter((address) => claimed.has(address))
    .map((address) => ({ address, key: `${address} ${claim.mac}` }))
    .filter(({ key }) => !reported.has(key))
}
