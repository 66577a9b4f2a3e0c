import type { FdbDiff } from "@kubelan/netlink"

/** What to add and remove so that `actual` becomes `desired`; nothing present and wanted is touched. */
export const diffPeers = (desired: Iterable<string>, actual: Iterable<string>): FdbDiff => {
  const want = new Set(desired)
  const have = new Set(actual)
  return {
    add: [...want].filter((address) => !have.has(address)).sort(),
    remove: [...have].filter((address) => !want.has(address)).sort()
  }
}
