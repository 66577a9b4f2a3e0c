/** One `change` hook run: a service's added or removed peers. */
export interface ServiceChange {
  readonly service: string
  readonly ips: ReadonlyArray<string>
  readonly deleted: boolean
}

/** Per service, at most one run for added and one for removed addresses, in service order. */
export const serviceChanges = (
  before: ReadonlyMap<string, ReadonlySet<string>>,
  after: ReadonlyMap<string, ReadonlySet<string>>
): ReadonlyArray<ServiceChange> => {
  if (before === after) return []
  const changes: Array<ServiceChange> = []
  const services = [...new Set([...before.keys(), ...after.keys()])].sort()
  for (const service of services) {
    const old = before.get(service) ?? new Set<string>()
    const now = after.get(service) ?? new Set<string>()
    const added = [...now].filter((address) => !old.has(address)).sort()
    const removed = [...old].filter((address) => !now.has(address)).sort()
    if (added.length > 0) changes.push({ service, ips: added, deleted: false })
    if (removed.length > 0) changes.push({ service, ips: removed, deleted: true })
  }
  return changes
}
