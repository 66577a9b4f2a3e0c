import { type DecodedSlice, decodeEndpointSlice } from "./EndpointSlices.ts"
import type { SliceList, WatchEvent } from "./KubernetesApi.ts"
import type { ServiceMembership } from "./Membership.ts"

/**
 * One Service's EndpointSlices as the follower knows them, and the pure steps that fold a list
 * or a batch of watch events into it. The follower runs the requests; these decide.
 */
export interface SliceCache {
  readonly slices: ReadonlyMap<string, DecodedSlice>
  /** Where the next watch starts; undefined = list first. */
  readonly resourceVersion: string | undefined
  /** The newest resourceVersion seen, to notice the server's going backwards (a restored etcd). */
  readonly newest: bigint | undefined
  /** Listed at least once. */
  readonly synced: boolean
  /** A relist found nothing where there was a membership: it is kept until the server has objects again. */
  readonly holding: boolean
}

export const emptyCache: SliceCache = { slices: new Map(), resourceVersion: undefined, newest: undefined, synced: false, holding: false }

export interface Notice {
  readonly level: "info" | "warning"
  readonly message: string
}

export interface Folded {
  readonly cache: SliceCache
  /** The membership changed: publish it. */
  readonly changed: boolean
  readonly notices: ReadonlyArray<Notice>
  /** The server's resourceVersion went backwards: its storage was restored (after a watch event: relist). */
  readonly backwards: boolean
}

const versionOf = (text: string | undefined): bigint | undefined =>
  text !== undefined && /^\d{1,30}$/.test(text) ? BigInt(text) : undefined

/** `metadata.resourceVersion` when the object has one as a string. */
const objectVersion = (object: unknown): string | undefined => {
  const metadata = typeof object === "object" && object !== null ? (object as { metadata?: unknown }).metadata : undefined
  const version =
    typeof metadata === "object" && metadata !== null ? (metadata as { resourceVersion?: unknown }).resourceVersion : undefined
  return typeof version === "string" ? version : undefined
}

const newer = (a: bigint | undefined, b: bigint | undefined) => (a === undefined ? b : b === undefined || a > b ? a : b)

const endpointCount = (slices: ReadonlyMap<string, DecodedSlice>) =>
  [...slices.values()].reduce((sum, slice) => sum + slice.endpoints.length, 0)

export const membershipOf = (cache: SliceCache): ServiceMembership => ({
  endpoints: [...cache.slices.values()].flatMap((slice) => slice.endpoints),
  skipped: [...cache.slices.values()].flatMap((slice) => slice.skipped),
  synced: cache.synced
})

/**
 * A list replaces what the cache holds, with two exceptions that an etcd restore or a wiped
 * server produce: a resourceVersion older than one already seen is said in the log, and a
 * relist that finds no slice at all where there was a membership keeps that membership, as an
 * outage would, until the server has objects again.
 */
export const applyList = (cache: SliceCache, service: string, listed: SliceList): Folded => {
  const version = versionOf(listed.resourceVersion)
  const notices: Array<Notice> = []
  const backwards = cache.newest !== undefined && version !== undefined && version < cache.newest
  if (backwards)
    notices.push({
      level: "warning",
      message: `kubernetes: the API server's resourceVersion went backwards (${cache.newest} → ${version}) for ${service}: its storage was restored or replaced`
    })
  const held = endpointCount(cache.slices)
  if (cache.synced && listed.items.length === 0 && held > 0) {
    notices.push({
      level: "warning",
      message: `kubernetes: the relist found no EndpointSlices of ${service} where ${held} endpoints were listed; keeping the last membership until the server lists some again`
    })
    return {
      cache: { ...cache, resourceVersion: listed.resourceVersion, newest: version, holding: true },
      changed: false,
      notices,
      backwards
    }
  }
  if (cache.holding) notices.push({ level: "info", message: `kubernetes: EndpointSlices of ${service} are listed again; following them` })
  const slices = new Map<string, DecodedSlice>()
  for (const item of listed.items) {
    const decoded = decodeEndpointSlice(service, item)
    slices.set(decoded.name, decoded)
  }
  return {
    cache: { slices, resourceVersion: listed.resourceVersion, newest: version ?? cache.newest, synced: true, holding: false },
    changed: true,
    notices,
    backwards
  }
}

export const applyEvents = (cache: SliceCache, service: string, events: ReadonlyArray<WatchEvent>): Folded => {
  let { slices, resourceVersion, newest, holding } = cache
  const notices: Array<Notice> = []
  let changed = false
  let copied = false
  const mutable = () => {
    if (!copied) slices = new Map(slices)
    copied = true
    return slices as Map<string, DecodedSlice>
  }
  for (const event of events) {
    const text = objectVersion(event.object)
    const version = versionOf(text)
    if (version !== undefined && newest !== undefined && version < newest) {
      notices.push({
        level: "warning",
        message: `kubernetes: a watch event of ${service} has resourceVersion ${version}, older than ${newest} already seen: the API server's storage went backwards; relisting`
      })
      return { cache: { ...cache, slices, resourceVersion: undefined, newest, holding }, changed, notices, backwards: true }
    }
    if (text !== undefined) resourceVersion = text
    newest = newer(newest, version)
    if (event.type === "BOOKMARK") continue
    // The first object after an empty relist: what was held was the old server's; follow the new one.
    if (holding && event.type !== "DELETED") {
      notices.push({ level: "info", message: `kubernetes: EndpointSlices of ${service} are back; following them` })
      holding = false
      slices = new Map()
      copied = true
    }
    const decoded = decodeEndpointSlice(service, event.object)
    if (event.type === "DELETED") {
      if (holding) continue
      mutable().delete(decoded.name)
    } else mutable().set(decoded.name, decoded)
    changed = true
  }
  return { cache: { ...cache, slices, resourceVersion, newest, holding }, changed, notices, backwards: false }
}
