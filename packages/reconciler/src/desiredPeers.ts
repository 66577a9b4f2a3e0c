import { type AddressFamily, addressFamily, canonicalAddress, type PeerPolicy, specialAddressReason } from "@kubelan/config"
import type { Endpoint, MembershipSnapshot, SkippedEndpoint } from "@kubelan/discovery"

export interface PeerSelection {
  /** This pod's underlay address: never its own peer. */
  readonly self: string
  /** The underlay family: a dual-stack service contributes only addresses of this family. */
  readonly family: AddressFamily
  readonly include: PeerPolicy
  /** The broadcast of the underlay's IPv4 subnet, when it has one: never a peer either. */
  readonly broadcast?: string | undefined
}

export interface DesiredPeers {
  /** Peer address → the services that list it. A peer stays while any service lists it. */
  readonly peers: ReadonlyMap<string, ReadonlySet<string>>
  /** Per service, the peers it contributes (for change hooks and /peers). */
  readonly byService: ReadonlyMap<string, ReadonlySet<string>>
  readonly skipped: ReadonlyArray<SkippedEndpoint>
}

export const passesPolicy = (endpoint: Endpoint, include: PeerPolicy): boolean =>
  include === "all" || (include === "serving" ? endpoint.serving : endpoint.ready)

/** Why an address from a source can never be a peer, whichever source sent it. */
const unusable = (address: string, selection: PeerSelection): string | undefined => {
  if (addressFamily(address) === undefined) return "not an IP address"
  const special = specialAddressReason(address)
  if (special !== undefined) return special
  return address === selection.broadcast ? "the broadcast address of the underlay's subnet" : undefined
}

/** Desired = the union over every service of the endpoints that pass the policy, minus self. */
export const desiredPeers = (snapshot: MembershipSnapshot, selection: PeerSelection): DesiredPeers => {
  const peers = new Map<string, Set<string>>()
  const byService = new Map<string, Set<string>>()
  const skipped: Array<SkippedEndpoint> = []
  const self = canonicalAddress(selection.self)
  for (const [service, membership] of snapshot.services) {
    const contributed = new Set<string>()
    byService.set(service, contributed)
    skipped.push(...(membership.skipped ?? []))
    for (const endpoint of membership.endpoints) {
      const address = canonicalAddress(endpoint.address)
      const reason = unusable(address, selection)
      if (reason !== undefined) {
        skipped.push({ service, address: endpoint.address, reason })
        continue
      }
      if (addressFamily(address) !== selection.family || address === self || !passesPolicy(endpoint, selection.include)) continue
      contributed.add(address)
      const listers = peers.get(address) ?? new Set<string>()
      listers.add(service)
      peers.set(address, listers)
    }
  }
  return { peers, byService, skipped }
}
