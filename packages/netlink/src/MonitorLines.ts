import type { FloodEntryChange, KernelChange } from "./Netlink.ts"

const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * What lines of `bridge monitor link fdb` say about one interface: a link change for the
 * interface and one for any other link (each the last line about it: how it is now), and one FDB
 * change naming every flood entry (the all-zero MAC, the entries kubelan programs) added or deleted. Link lines name a link after its index
 * (`4: kl0: <...>`, `Deleted 4: kl0: ...`): a change of any link in the pod counts, since the
 * interface follows the underlay (a new MTU on eth0 is a new MTU for kl0). FDB lines name the
 * interface after `dev` (`00:00:00:00:00:00 dev kl0 dst ...`); entries the kernel learned for
 * other MACs, or on other interfaces, are not kubelan's and wake nothing.
 */
export const monitorChanges = (lines: ReadonlyArray<string>, name: string): ReadonlyArray<KernelChange> => {
  const link = /^(Deleted )?(\d+): ([^:@\s]+)(@\S+)?: <([^>]*)>(?:.* mtu (\d+))?/
  const flood = new RegExp(`^(Deleted )?00:00:00:00:00:00 dev ${literally(name)} dst (\\S+)`)
  const changes: Array<KernelChange> = []
  // The last line about a link says how it is now: one change for the interface, one for any other link.
  const linkLines = lines.filter((line) => link.test(line))
  const about = (ours: boolean) => linkLines.filter((line) => (link.exec(line)?.[3] === name) === ours).at(-1)
  for (const last of [about(true), about(false)]) {
    const shown = last === undefined ? null : link.exec(last)
    if (last === undefined || shown === null) continue
    changes.push({
      kind: "link",
      detail: last.trim(),
      link: {
        ifindex: Number(shown[2]),
        name: shown[3] as string,
        up: (shown[5] ?? "").split(",").includes("UP"),
        mtu: Number(shown[6] ?? Number.NaN),
        deleted: shown[1] !== undefined
      }
    })
  }
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
