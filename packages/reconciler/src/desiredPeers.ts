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

/** What an address is, whatever the selection: its canonical text and family, or why it is unusable. */
type Classified = { readonly address: string; readonly family: AddressFamily } | { readonly reason: string }

const classify = (text: string): Classified => {
  const address = canonicalAddress(text)
  const family = addressFamily(address)
  if (family === undefined) return { reason: "not an IP address" }
  const special = specialAddressReason(address)
  return special === undefined ? { address, family } : { reason: special }
}

/**
 * Classified once per endpoint object: a source keeps the objects of the slices that did not
 * change, so a membership event classifies only what it brought (the rest of the snapshot is
 * the same objects). Weak, so nothing outlives the snapshot that held it.
 */
const classified = new WeakMap<Endpoint, Classified>()
const classifyEndpoint = (endpoint: Endpoint): Classified => {
  let known = classified.get(endpoint)
  if (known === undefined) {
    known = classify(endpoint.address)
    classified.set(endpoint, known)
  }
  return known
}

/** Desired = the union over every service of the endpoints that pass the policy, minus self. */
export const desiredPeers = (snapshot: MembershipSnapshot, selection: PeerSelection): DesiredPeers => {
  const peers = new Map<string, ReadonlySet<string>>()
  const byService = new Map<string, Set<string>>()
  const skipped: Array<SkippedEndpoint> = []
  const self = canonicalAddress(selection.self)
  // Most peers are listed by the same services: one shared set per combination, not one per peer.
  const listerSets = new Map<string, ReadonlySet<string>>()
  const withLister = (listers: ReadonlySet<string> | undefined, service: string): ReadonlySet<string> => {
    if (listers?.has(service)) return listers
    const names = [...(listers ?? []), service]
    const key = names.join("\n")
    let shared = listerSets.get(key)
    if (shared === undefined) {
      shared = new Set(names)
      listerSets.set(key, shared)
    }
    return shared
  }
  for (const [service, membership] of snapshot.services) {
    const contributed = new Set<string>()
    byService.set(service, contributed)
    skipped.push(...(membership.skipped ?? []))
    for (const endpoint of membership.endpoints) {
      const known = classifyEndpoint(endpoint)
      if ("reason" in known) {
        skipped.push({ service, address: endpoint.address, reason: known.reason })
        continue
      }
      const { address } = known
      if (address === selection.broadcast) {
        skipped.push({ service, address: endpoint.address, reason: "the broadcast address of the underlay's subnet" })
        continue
      }
      if (known.family !== selection.family || address === self || !passesPolicy(endpoint, selection.include)) continue
      contributed.add(address)
      peers.set(address, withLister(peers.get(address), service))
    }
  }
  return { peers, byService, skipped }
}
