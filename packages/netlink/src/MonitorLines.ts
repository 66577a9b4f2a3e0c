import type { FloodEntryChange, KernelChange } from "./Netlink.ts"

const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * What lines of `bridge monitor link fdb` say about one interface: at most one link change, the
 * first line that shows it, and one FDB change naming every flood entry (the all-zero MAC, the
 * entries kubelan programs) added or deleted. Link lines name a link after its index
 * (`4: kl0: <...>`, `Deleted 4: kl0: ...`): a change of any link in the pod counts, since the
 * interface follows the underlay (a new MTU on eth0 is a new MTU for kl0). FDB lines name the
 * interface after `dev` (`00:00:00:00:00:00 dev kl0 dst ...`); entries the kernel learned for
 * other MACs, or on other interfaces, are not kubelan's and wake nothing.
 */
export const monitorChanges = (lines: ReadonlyArray<string>, name: string): ReadonlyArray<KernelChange> => {
  const link = /^(Deleted )?\d+: \S+: </
  const flood = new RegExp(`^(Deleted )?00:00:00:00:00:00 dev ${literally(name)} dst (\\S+)`)
  const changes: Array<KernelChange> = []
  const firstLink = lines.find((line) => link.test(line))
  if (firstLink !== undefined) changes.push({ kind: "link", detail: firstLink.trim() })
  const entries: Array<FloodEntryChange> = []
  let firstFlood: string | undefined
  for (const line of lines) {
    const match = flood.exec(line)
    if (match === null) continue
    firstFlood ??= line.trim()
    entries.push({ dst: match[2] as string, added: match[1] === undefined })
  }
  if (firstFlood !== undefined) changes.push({ kind: "fdb", detail: firstFlood, entries })
  return changes
}
