import { Context, type Stream } from "effect"
import type { MembershipSnapshot } from "./Membership.ts"

/**
 * A membership source. Each snapshot is the whole membership, never a delta: the reconciler
 * is level-triggered and recomputes from the latest one. Backends: static (here), kubernetes
 * and dns plug in behind the same tag.
 */
export class Discovery extends Context.Service<
  Discovery,
  {
    readonly backend: string
    /** The current membership, then every change to it. */
    readonly snapshots: Stream.Stream<MembershipSnapshot>
  }
>()("@kubelan/discovery/Discovery") {}
