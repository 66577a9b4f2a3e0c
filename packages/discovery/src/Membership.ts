/** One endpoint of a Service, with the conditions the peer policy reads. */
export interface Endpoint {
  readonly address: string
  readonly ready: boolean
  readonly serving: boolean
  readonly terminating: boolean
}

/** An endpoint a source could not use, and why; the reconciler logs and counts each once. */
export interface SkippedEndpoint {
  readonly service: string
  readonly address: string
  readonly reason: string
}

export interface ServiceMembership {
  readonly endpoints: ReadonlyArray<Endpoint>
  /** False until the source has listed the service once; the reconciler does not remove peers on partial data. */
  readonly synced: boolean
  /** What the source had to skip (an FQDN slice, an endpoint without addresses ...). */
  readonly skipped?: ReadonlyArray<SkippedEndpoint>
}

/** The whole membership at one moment: every configured service, `ns/name` → its endpoints. */
export interface MembershipSnapshot {
  readonly services: ReadonlyMap<string, ServiceMembership>
}

export const readyEndpoint = (address: string): Endpoint => ({ address, ready: true, serving: true, terminating: false })

export const isFullySynced = (snapshot: MembershipSnapshot): boolean => [...snapshot.services.values()].every((service) => service.synced)

const endpointKey = (endpoint: Endpoint) => `${endpoint.address}|${endpoint.ready}|${endpoint.serving}|${endpoint.terminating}`

export const sameMembership = (a: MembershipSnapshot, b: MembershipSnapshot): boolean => {
  if (a.services.size !== b.services.size) return false
  for (const [name, service] of a.services) {
    const other = b.services.get(name)
    if (other === undefined || other.synced !== service.synced || other.endpoints.length !== service.endpoints.length) return false
    const keys = new Set(service.endpoints.map(endpointKey))
    if (!other.endpoints.every((endpoint) => keys.has(endpointKey(endpoint)))) return false
  }
  return true
}
