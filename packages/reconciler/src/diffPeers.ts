import type { FdbDiff } from "@kubelan/netlink"

/** What to add and remove so that `actual` becomes `desired`; nothing present and wanted is touched. */
export const diffPeers = (desired: Iterable<string> | ReadonlyMap<string, unknown>, actual: Iterable<string>): FdbDiff => {
  // A map of the desired peers is used as it is: no copy of thousands of addresses per pass.
  const want: ReadonlySet<string> | ReadonlyMap<string, unknown> = desired instanceof Map ? desired : new Set(desired as Iterable<string>)
  const have = new Set(actual)
  return {
    add: [...want.keys()].filter((address) => !have.has(address)).sort(),
    remove: [...have].filter((address) => !want.has(address)).sort()
  }
}
