import { Effect, Option } from "effect"
import { ForeignLinkError, type NetlinkError } from "./NetlinkError.ts"
import { type EnsureResult, type LinkState, type VxlanSpec, vxlanIncompatibilities } from "./Vxlan.ts"

/** The primitive link operations that `ensureVxlan` is built from, so every layer shares its logic. */
export interface LinkOps {
  readonly readLink: (name: string) => Effect.Effect<Option.Option<LinkState>, NetlinkError>
  /** Creates the link with the spec's MTU, up; answers its ifindex. */
  readonly createVxlan: (spec: VxlanSpec) => Effect.Effect<number, NetlinkError>
  readonly deleteLink: (name: string) => Effect.Effect<void, NetlinkError>
  /** Sets the MTU (and the MAC, when given) and brings the link up. */
  readonly setMtuUp: (name: string, mtu: number, mac: string | undefined) => Effect.Effect<void, NetlinkError>
}

/**
 * Flannel's ensureLink: adopt a VXLAN link that is compatible (keeping its FDB and addresses),
 * recreate one that is not, and refuse a link of any other kind.
 */
export const ensureVxlanWith = (ops: LinkOps) =>
  Effect.fnUntraced(function* (spec: VxlanSpec) {
    const existing = yield* ops.readLink(spec.name)
    if (Option.isNone(existing))
      return { ifindex: yield* ops.createVxlan(spec), action: "created", reasons: [], addresses: [] } satisfies EnsureResult
    const link = existing.value
    // Only a VXLAN link may be adopted or recreated: a veth, a bridge or lo of that name is the pod's own.
    if (link.kind !== "vxlan") return yield* new ForeignLinkError({ name: spec.name, kind: link.kind })
    const reasons = vxlanIncompatibilities(spec, link)
    if (reasons.length > 0) {
      yield* ops.deleteLink(spec.name)
      return { ifindex: yield* ops.createVxlan(spec), action: "recreated", reasons, addresses: [] } satisfies EnsureResult
    }
    const mac = spec.mac !== undefined && link.mac !== spec.mac ? spec.mac : undefined
    if (link.mtu !== spec.mtu || !link.up || mac !== undefined) yield* ops.setMtuUp(spec.name, spec.mtu, mac)
    return { ifindex: link.ifindex, action: "adopted", reasons, addresses: link.addresses } satisfies EnsureResult
  })
