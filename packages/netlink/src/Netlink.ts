import { Context, type Effect, type Option, type Stream } from "effect"
import type { Announcement, AnnouncementPlan, Claim } from "./Announce.ts"
import type { MemberFilterSpec, MemberFilterState } from "./MemberFilter.ts"
import type { InterfaceLocked, NetlinkError } from "./NetlinkError.ts"
import type { Underlay } from "./Underlay.ts"
import type { EnsureResult, LinkState, VxlanSpec } from "./Vxlan.ts"

/** The zero-MAC FDB entries to add and remove, by destination address. */
export interface FdbDiff {
  readonly add: ReadonlyArray<string>
  readonly remove: ReadonlyArray<string>
}

/** A flood entry the kernel said it added or deleted. */
export interface FloodEntryChange {
  readonly dst: string
  readonly added: boolean
}

/** A link as a link event showed it. */
export interface LinkEvent {
  readonly ifindex: number
  readonly name: string
  readonly up: boolean
  readonly mtu: number
  readonly deleted: boolean
}

/** A change the kernel reported on the interface: a cue to look again. */
export interface KernelChange {
  readonly kind: "link" | "fdb" | "address"
  readonly detail: string
  /** For link changes, the link the event showed, so the agent can tell the echo of its own change. */
  readonly link?: LinkEvent
  /**
   * For FDB changes, the flood (zero-MAC) entries the kernel named, so the agent can tell the
   * echo of its own writes from someone else's change; absent when the monitor cannot say (it
   * lost events), which means: read everything.
   */
  readonly entries?: ReadonlyArray<FloodEntryChange>
  /**
   * The first change of every stream: the monitor now receives the kernel's changes. Anything
   * before it went unseen: read everything.
   */
  readonly listening?: true
}

/** The change every `changes` stream opens with. */
export const listening: KernelChange = { kind: "link", detail: "the kernel monitor is listening", listening: true }

export interface InterfaceLock {
  readonly name: string
  readonly release: Effect.Effect<void>
}

/** Kernel operations on one network namespace: the VXLAN link and its FDB. */
export class Netlink extends Context.Service<
  Netlink,
  {
    /** Create the interface, adopt a compatible one, or recreate an incompatible one; leaves it up. */
    readonly ensureVxlan: (spec: VxlanSpec) => Effect.Effect<EnsureResult, NetlinkError>
    /** Delete the VXLAN interface; a missing one is not an error, a link of another kind is never touched. */
    readonly deleteVxlan: (name: string) => Effect.Effect<void, NetlinkError>
    readonly readLink: (name: string) => Effect.Effect<Option.Option<LinkState>, NetlinkError>
    /** Destinations of the zero-MAC (flood) entries: one per peer. */
    readonly readFdb: (name: string) => Effect.Effect<ReadonlyArray<string>, NetlinkError>
    /** Apply a whole diff in one batch. */
    readonly applyFdb: (name: string, diff: FdbDiff) => Effect.Effect<void, NetlinkError>
    /** The underlay for `ip`, or for the default route's source address when `ip` is "". */
    readonly detectUnderlay: (ip: string) => Effect.Effect<Underlay, NetlinkError>
    /** Gives the interface addresses (CIDR) and takes others away; one there already, or gone already, is no error. */
    readonly changeAddresses: (
      name: string,
      change: { readonly add: ReadonlyArray<string>; readonly remove: ReadonlyArray<string> }
    ) => Effect.Effect<void, NetlinkError>
    /** Sends what the plan asks for; what could not be sent is in the answer, never an error. */
    readonly announce: (name: string, plan: AnnouncementPlan) => Effect.Effect<Announcement>
    /** What other agents announce on the interface: the addresses they claim. */
    readonly claims: (name: string) => Stream.Stream<Claim>
    /** Makes the VXLAN port accept only `members` (iptables in this namespace); answers the filter as it is then. */
    readonly applyMemberFilter: (spec: MemberFilterSpec) => Effect.Effect<MemberFilterState, NetlinkError>
    /** Takes the interface's filter away; none there is no error. */
    readonly removeMemberFilter: (name: string, family: 4 | 6) => Effect.Effect<void, NetlinkError>
    /**
     * Link and FDB changes on the named interface, as they happen, and its address changes when
     * asked; it opens with `listening` once it receives them.
     */
    readonly changes: (name: string, watch?: { readonly addresses: boolean }) => Stream.Stream<KernelChange, NetlinkError>
    /**
     * Takes the interface for this agent until `release` (or the process ends, even by SIGKILL):
     * a second agent in the same network namespace gets InterfaceLocked.
     */
    readonly lockInterface: (name: string) => Effect.Effect<InterfaceLock, InterfaceLocked>
  }
>()("@kubelan/netlink/Netlink") {}
