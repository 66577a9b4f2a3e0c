import { Effect, Option } from "effect"
import { ForeignLinkError, type NetlinkError } from "./NetlinkError.ts"
import { type EnsureResult, type LinkState, type VxlanSpec, vxlanIncompatibilities } from "./Vxlan.ts"

/** The primitive link operations that `ensureVxlan` is built from, so every layer shares its logic. */
export interface LinkOps {
  readonly readLink: (name: string) => Effect.Effect<Option.Option<LinkState>, NetlinkError>
  readonly createVxlan: (spec: VxlanSpec) => Effect.Effect<void, NetlinkError>
  readonly deleteLink: (name: string) => Effect.Effect<void, NetlinkError>
  readonly setMtuUp: (name: string, mtu: number) => Effect.Effect<void, NetlinkError>
}

/**
 * Flannel's ensureLink: adopt a VXLAN link that is compatible (keeping its FDB and addresses),
 * recreate one that is not, and refuse a link of any other kind.
 */
export const ensureVxlanWith = (ops: LinkOps) =>
  Effect.fnUntraced(function* (spec: VxlanSpec) {
    const existing = yield* ops.readLink(spec.name)
    let action: EnsureResult["action"] = "created"
    let reasons: ReadonlyArray<string> = []
    if (Option.isSome(existing)) {
      // Only a VXLAN link may be adopted or recreated: a veth, a bridge or lo of that name is the pod's own.
      if (existing.value.kind !== "vxlan") return yield* new ForeignLinkError({ name: spec.name, kind: existing.value.kind })
      reasons = vxlanIncompatibilities(spec, existing.value)
      if (reasons.length === 0) action = "adopted"
      else {
        action = "recreated"
        yield* ops.deleteLink(spec.name)
      }
    }
    if (action !== "adopted") yield* ops.createVxlan(spec)
    const state = Option.getOrUndefined(existing)
    if (action !== "adopted" || state === undefined || state.mtu !== spec.mtu || !state.up) yield* ops.setMtuUp(spec.name, spec.mtu)
    const link = yield* ops.readLink(spec.name)
    return { ifindex: Option.match(link, { onNone: () => -1, onSome: (found) => found.ifindex }), action, reasons } satisfies EnsureResult
  })
