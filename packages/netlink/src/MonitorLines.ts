import { zeroMac } from "./Iproute2Json.ts"
import type { FloodEntryChange, KernelChange } from "./Netlink.ts"

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
  const floodPrefix = `${zeroMac} dev ${name} dst `
  const changes: Array<KernelChange> = []
  const entries: Array<FloodEntryChange> = []
  let firstFlood: string | undefined
  let ours: RegExpExecArray | undefined
  let other: RegExpExecArray | undefined
  // Thousands of lines come at once when a batch is programmed: plain string checks first.
  for (const line of lines) {
    const deleted = line.startsWith("Deleted ")
    const text = deleted ? line.slice(8) : line
    if (text.startsWith(floodPrefix)) {
      firstFlood ??= line.trim()
      const dst = text.slice(floodPrefix.length)
      const end = dst.indexOf(" ")
      entries.push({ dst: end === -1 ? dst : dst.slice(0, end), added: !deleted })
      continue
    }
    const first = text.charCodeAt(0)
    if (first < 48 || first > 57) continue
    // The last line about a link says how it is now: one change for the interface, one for any other link.
    const shown = link.exec(line)
    if (shown === null) continue
    if (shown[3] === name) ours = shown
    else other = shown
  }
  for (const shown of [ours, other]) {
    if (shown === undefined) continue
    changes.push({
      kind: "link",
      detail: shown.input.trim(),
      link: {
        ifindex: Number(shown[2]),
        name: shown[3] as string,
        up: (shown[5] ?? "").split(",").includes("UP"),
        mtu: Number(shown[6] ?? Number.NaN),
        deleted: shown[1] !== undefined
      }
    })
  }
  if (firstFlood !== undefined) changes.push({ kind: "fdb", detail: firstFlood, entries })
  return changes
}

/**
 * What lines of `ip -oneline monitor address` say about the interface: one change when any of
 * its addresses came or went (`Deleted 4: kl0    inet 192.168.69.1/24 ...`). Link-local ones are
 * the kernel's own and wake nothing.
 */
export const addressChanges = (lines: ReadonlyArray<string>, name: string): ReadonlyArray<KernelChange> => {
  const shown = /^(?:Deleted )?\d+: (\S+)\s+inet6? (\S+) scope (\S+)/
  for (const line of lines) {
    const match = shown.exec(line)
    if (match !== null && match[1] === name && match[3] !== "link")
      return [{ kind: "address", detail: line.split("\\")[0]?.trim() ?? line }]
  }
  return []
}
