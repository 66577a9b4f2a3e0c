import type { KernelChange } from "./Netlink.ts"

const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * What lines of `bridge monitor link fdb` say about one interface: at most one change of each
 * kind, the first line that shows it. Link lines name the interface after its index
 * (`4: kl0: <...>`, `Deleted 4: kl0: ...`); FDB lines after `dev` (`00:00:00:00:00:00 dev kl0 dst ...`).
 */
export const monitorChanges = (lines: ReadonlyArray<string>, name: string): ReadonlyArray<KernelChange> => {
  const link = new RegExp(`^(Deleted )?\\d+: ${literally(name)}(@\\S+)?: `)
  const fdb = new RegExp(`(^|\\s)dev ${literally(name)}(\\s|$)`)
  const changes: Array<KernelChange> = []
  const firstLink = lines.find((line) => link.test(line))
  const firstFdb = lines.find((line) => fdb.test(line))
  if (firstLink !== undefined) changes.push({ kind: "link", detail: firstLink.trim() })
  if (firstFdb !== undefined) changes.push({ kind: "fdb", detail: firstFdb.trim() })
  return changes
}
