import { describe, expect, it } from "vitest"
import { SliceCache } from "../src/kubernetes.ts"

const slice = (name: string, resourceVersion: string, addresses: ReadonlyArray<string>) => ({
  metadata: { name, resourceVersion },
  addressType: "IPv4",
  endpoints: addresses.map((address) => ({ addresses: [address] }))
})
const addresses = (cache: SliceCache.SliceCache) =>
  SliceCache.membershipOf(cache)
    .endpoints.map((endpoint) => endpoint.address)
    .sort()
const listed = (resourceVersion: string, ...items: Array<unknown>) => ({ items, resourceVersion })

describe("the slice cache", () => {
  const following = SliceCache.applyList(SliceCache.emptyCache, "lan/a", listed("50", slice("a-1", "40", ["10.0.0.2", "10.0.0.3"]))).cache

  it("a first list is the membership, even an empty one", () => {
    expect(addresses(following)).toEqual(["10.0.0.2", "10.0.0.3"])
    const empty = SliceCache.applyList(SliceCache.emptyCache, "lan/a", listed("7"))
    expect(empty.changed).toBe(true)
    expect(empty.cache.synced).toBe(true)
  })

  it("a relist that finds no slice where there was a membership keeps it, until objects come back", () => {
    const relisted = SliceCache.applyList(following, "lan/a", listed("5"))
    expect(relisted.changed).toBe(false)
    expect(addresses(relisted.cache)).toEqual(["10.0.0.2", "10.0.0.3"])
    expect(relisted.notices.map((notice) => notice.message)).toEqual([
      "kubernetes: the API server's resourceVersion went backwards (50 → 5) for lan/a: its storage was restored or replaced",
      "kubernetes: the relist found no EndpointSlices of lan/a where 2 endpoints were listed; keeping the last membership until the server lists some again"
    ])
    expect(relisted.cache.resourceVersion).toBe("5")
    // The restored server gets its objects back: the new ones replace what was held.
    const back = SliceCache.applyEvents(relisted.cache, "lan/a", [{ type: "ADDED", object: slice("a-9", "6", ["10.0.0.3"]) }])
    expect(back.changed).toBe(true)
    expect(addresses(back.cache)).toEqual(["10.0.0.3"])
    expect(back.cache.holding).toBe(false)
  })

  it("a relist from a server that went backwards but has objects follows what it lists, and says so", () => {
    const relisted = SliceCache.applyList(following, "lan/a", listed("5", slice("a-2", "4", ["10.0.0.4"])))
    expect(addresses(relisted.cache)).toEqual(["10.0.0.4"])
    expect(relisted.notices[0]?.level).toBe("warning")
  })

  it("a watch event older than what was seen stops the watch for a relist", () => {
    const folded = SliceCache.applyEvents(following, "lan/a", [{ type: "MODIFIED", object: slice("a-1", "12", []) }])
    expect(folded.backwards).toBe(true)
    expect(folded.cache.resourceVersion).toBeUndefined()
    expect(addresses(folded.cache)).toEqual(["10.0.0.2", "10.0.0.3"])
  })

  it("events move the resourceVersion and the membership; bookmarks only the version", () => {
    const bookmark = SliceCache.applyEvents(following, "lan/a", [{ type: "BOOKMARK", object: { metadata: { resourceVersion: "60" } } }])
    expect(bookmark.changed).toBe(false)
    expect(bookmark.cache.resourceVersion).toBe("60")
    const deleted = SliceCache.applyEvents(bookmark.cache, "lan/a", [{ type: "DELETED", object: slice("a-1", "61", []) }])
    expect(addresses(deleted.cache)).toEqual([])
    expect(deleted.cache.resourceVersion).toBe("61")
  })
})
