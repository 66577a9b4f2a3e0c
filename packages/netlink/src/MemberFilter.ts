/**
 * VXLAN only from members: an iptables filter in the pod's own network namespace. Two chains per
 * interface, so that the set of members can be replaced atomically without losing the count of
 * what was dropped:
 *
 *   INPUT            -p udp --dport PORT -j KUBELAN-<iface>
 *   KUBELAN-<iface>     -j KUBELAN-<iface>-M     (accepts members)
 *                       -m recent --set -j DROP  (counts everything else, and remembers who sent it)
 *   KUBELAN-<iface>-M   -s MEMBER -j ACCEPT      (one per member, replaced as a whole)
 *
 * `iptables-restore --noflush` applies each change in one transaction: declaring the members
 * chain flushes it, and the rules that follow fill it again, so no frame is ever judged against
 * a half-written set. (The kernel here has no ipset; one rule per member is what it can do.)
 */

export interface MemberFilterSpec {
  readonly name: string
  readonly port: number
  readonly family: 4 | 6
  /** Underlay addresses allowed to send VXLAN to this pod. */
  readonly members: ReadonlyArray<string>
}

export interface MemberFilterState {
  /** The INPUT jump and the fixed chain are there, for this port. */
  readonly installed: boolean
  /** Ports of INPUT jumps to the chain (a port change leaves one to take away). */
  readonly ports: ReadonlyArray<number>
  /** Members the members chain accepts now. */
  readonly members: ReadonlyArray<string>
  /** Packets the DROP rule counted since the chain was made. */
  readonly dropped: number
  /** Either chain exists (a removal has something to take away). */
  readonly exists: boolean
  /** Sources whose packets were dropped, with when the kernel last saw one (its jiffies). */
  readonly droppedFrom: ReadonlyMap<string, number>
}

export const filterChain = (name: string) => `KUBELAN-${name}`
export const membersChain = (name: string) => `KUBELAN-${name}-M`

const host = (address: string, family: 4 | 6) => `${address}/${family === 4 ? 32 : 128}`

/** What `iptables-save -c -t filter` says about this interface's filter. */
export const parseFilterState = (saved: string, name: string, port: number): MemberFilterState => {
  const chain = filterChain(name)
  const members = membersChain(name)
  const ports: Array<number> = []
  const accepted: Array<string> = []
  let jumpsToMembers = false
  let dropped: number | undefined
  let exists = false
  for (const line of saved.split("\n")) {
    if (line.startsWith(`:${chain} `) || line.startsWith(`:${members} `)) exists = true
    const rule = /^(?:\[(\d+):\d+\] )?-A (\S+) (.*)$/.exec(line.trim())
    if (rule === null) continue
    const [, packets = "0", owner, spec = ""] = rule
    if (owner === "INPUT" && spec.endsWith(` -j ${chain}`)) {
      const dport = /--dport (\d+)/.exec(spec)?.[1]
      if (dport !== undefined) ports.push(Number(dport))
    } else if (owner === chain) {
      if (spec === `-j ${members}`) jumpsToMembers = true
      else if (spec.endsWith("-j DROP")) dropped = Number(packets)
    } else if (owner === members) {
      const source = /^-s (\S+?)(?:\/(?:32|128))? -j ACCEPT$/.exec(spec)?.[1]
      if (source !== undefined) accepted.push(source)
    }
  }
  return {
    installed: jumpsToMembers && dropped !== undefined && ports.includes(port),
    ports,
    members: accepted,
    dropped: dropped ?? 0,
    exists,
    droppedFrom: new Map()
  }
}

/**
 * The `iptables-restore --noflush` input that makes the filter what `spec` says, from what is
 * there: the members chain always (it is flushed by being declared), the fixed chain and the
 * INPUT jump only when missing, and jumps for other ports taken away.
 */
export const renderFilter = (spec: MemberFilterSpec, current: MemberFilterState): string => {
  const chain = filterChain(spec.name)
  const members = membersChain(spec.name)
  const lines = ["*filter", `:${members} - [0:0]`]
  if (!current.installed) lines.push(`:${chain} - [0:0]`)
  for (const member of spec.members) lines.push(`-A ${members} -s ${host(member, spec.family)} -j ACCEPT`)
  if (!current.installed) lines.push(`-A ${chain} -j ${members}`, `-A ${chain} -m recent --set --name ${chain} --rsource -j DROP`)
  for (const port of current.ports) if (port !== spec.port) lines.push(`-D INPUT -p udp -m udp --dport ${port} -j ${chain}`)
  if (!current.ports.includes(spec.port)) lines.push(`-A INPUT -p udp -m udp --dport ${spec.port} -j ${chain}`)
  lines.push("COMMIT", "")
  return lines.join("\n")
}

/** The input that takes the filter away: the INPUT jumps first, then both chains. */
export const renderRemoval = (name: string, current: MemberFilterState): string => {
  const chain = filterChain(name)
  const lines = ["*filter"]
  for (const port of current.ports) lines.push(`-D INPUT -p udp -m udp --dport ${port} -j ${chain}`)
  lines.push(`-F ${chain}`, `-F ${membersChain(name)}`, `-X ${chain}`, `-X ${membersChain(name)}`, "COMMIT", "")
  return lines.join("\n")
}

/** The kernel's list of who the drop rule remembered: /proc/net/xt_recent/<chain>. */
export const recentPath = (name: string) => `/proc/net/xt_recent/${filterChain(name)}`

/** `src=10.0.0.9 ttl: 64 last_seen: 4295123 oldest_pkt: 3 ...` lines: each source and its last packet. */
export const parseRecent = (text: string): ReadonlyMap<string, number> => {
  const sources = new Map<string, number>()
  for (const line of text.split("\n")) {
    const match = /^src=(\S+) .*last_seen: (\d+)/.exec(line)
    if (match?.[1] !== undefined) sources.set(match[1], Number(match[2]))
  }
  return sources
}
