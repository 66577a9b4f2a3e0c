/**
 * What a run measured, computed from what it recorded: pure functions over event logs, so the
 * report's figures are tested without a cluster. Times are milliseconds since the run started.
 */

/** The probed Service's members changed: an API write, with what it added and removed. */
export interface MembershipEvent {
  readonly at: number
  /** The timeline step running when it happened ("start" before the first). */
  readonly step: string
  readonly added: ReadonlyArray<string>
  readonly removed: ReadonlyArray<string>
  /** Every member after the change. */
  readonly members: ReadonlyArray<string>
}

/** One agent's FDB as the kernel reported it: a dump when the watch began, then every change. */
export interface FdbHistory {
  /** The pod incarnation (`name@uid`). */
  readonly agent: string
  readonly pod: string
  /** The pod's own underlay address: never its own peer. */
  readonly self: string
  readonly start: { readonly at: number; readonly entries: ReadonlyArray<string> }
  readonly changes: ReadonlyArray<{ readonly at: number; readonly dst: string; readonly added: boolean }>
  /** While the agent was running and ready; after `to` (deleted, killed) its FDB is no longer judged. */
  readonly live: { readonly from: number; readonly to: number | undefined }
}

export interface Convergence {
  readonly event: number
  readonly at: number
  readonly step: string
  /** Until the last live agent's FDB held the change; undefined = it never did. */
  readonly millis: number | undefined
  readonly agents: number
}

export interface WrongRemoval {
  readonly agent: string
  readonly at: number
  readonly dst: string
}

const membersAt = (events: ReadonlyArray<MembershipEvent>, at: number): ReadonlySet<string> => {
  let members: ReadonlyArray<string> = []
  for (const event of events) {
    if (event.at > at) break
    members = event.members
  }
  return new Set(members)
}

/** The FDB at time `at`, from the dump and the changes up to it. */
const fdbAt = (history: FdbHistory, at: number): Set<string> => {
  const fdb = new Set(history.start.entries)
  for (const change of history.changes) {
    if (change.at > at) break
    if (change.added) fdb.add(change.dst)
    else fdb.delete(change.dst)
  }
  return fdb
}

type Moment =
  | { readonly at: number; readonly kind: "members"; readonly index: number }
  | { readonly at: number; readonly kind: "fdb"; readonly dst: string; readonly added: boolean }

/** One agent's FDB changes and the membership events, in time order (a write before what it causes). */
const momentsOf = (events: ReadonlyArray<MembershipEvent>, history: FdbHistory): ReadonlyArray<Moment> =>
  [
    ...events.map((event, index) => ({ at: event.at, kind: "members" as const, index })),
    ...history.changes.map((change) => ({ at: change.at, kind: "fdb" as const, dst: change.dst, added: change.added }))
  ].sort((a, b) => a.at - b.at || (a.kind === b.kind ? 0 : a.kind === "members" ? -1 : 1))

/**
 * Per membership event, the time until every agent live at that moment held it: each address
 * it added present and each it removed absent, judged against the membership of the moment (a
 * later event that undoes part of it is not waited for). An agent that goes away first is not
 * waited for either. One pass per agent over its changes and the events.
 */
export const convergence = (
  events: ReadonlyArray<MembershipEvent>,
  histories: ReadonlyArray<FdbHistory>,
  end: number
): ReadonlyArray<Convergence> => {
  const latest = events.map(() => 0)
  const unconverged = events.map(() => false)
  const agents = events.map(() => 0)
  for (const history of histories) {
    const until = history.live.to ?? end
    const fdb = fdbAt(history, Math.min(history.live.from, history.start.at) - 1)
    let members = membersAt(events, -1)
    const pending = new Set<number>()
    const holds = (event: MembershipEvent) =>
      event.added.every((address) => address === history.self || !members.has(address) || fdb.has(address)) &&
      event.removed.every((address) => members.has(address) || !fdb.has(address))
    const settle = (at: number) => {
      for (const index of [...pending])
        if (holds(events[index] as MembershipEvent)) {
          latest[index] = Math.max(latest[index] as number, at - (events[index] as MembershipEvent).at)
          pending.delete(index)
        }
    }
    for (const moment of momentsOf(events, history)) {
      if (moment.at > until) break
      if (moment.kind === "fdb") {
        if (moment.at < history.start.at) continue
        if (moment.added) fdb.add(moment.dst)
        else fdb.delete(moment.dst)
      } else {
        const event = events[moment.index] as MembershipEvent
        members = new Set(event.members)
        if (event.at >= history.live.from) {
          pending.add(moment.index)
          agents[moment.index] = (agents[moment.index] as number) + 1
        }
      }
      settle(moment.at)
    }
    // Still pending at the end: never held. Pending when the agent went away: not waited for.
    if (history.live.to === undefined || history.live.to > end) for (const index of pending) unconverged[index] = true
  }
  // An event no agent was live for (the first pods starting) has nothing to converge: it is left out.
  return events.flatMap((event, index) =>
    agents[index] === 0
      ? []
      : [
          {
            event: index,
            at: event.at,
            step: event.step,
            millis: unconverged[index] ? undefined : latest[index],
            agents: agents[index] as number
          }
        ]
  )
}

/**
 * FDB entries an agent removed although the address never stopped being a member since the
 * agent put it in: the thing kubelan must never do. A removal that follows the address leaving
 * is the agent catching up, even when the address is back by then (it comes back in turn).
 * `lagMillis`: how long after an agent the recorder may see the same change. With kube-fake it
 * sees every change first (in the same process); against kube-apiserver it is one more watcher,
 * so an address that leaves within that time after the removal left first.
 */
export const wrongRemovals = (
  events: ReadonlyArray<MembershipEvent>,
  histories: ReadonlyArray<FdbHistory>,
  lagMillis = 0
): ReadonlyArray<WrongRemoval> =>
  histories.flatMap((history) => {
    const found: Array<WrongRemoval> = []
    let members = membersAt(events, -1)
    /** Addresses that left the membership since this agent last added them. */
    const leftSince = new Set<string>()
    for (const moment of momentsOf(events, history)) {
      if (moment.kind === "members") {
        const event = events[moment.index] as MembershipEvent
        members = new Set(event.members)
        for (const address of event.removed) leftSince.add(address)
      } else if (moment.added) leftSince.delete(moment.dst)
      else if (
        moment.dst !== history.self &&
        moment.at >= history.live.from &&
        (history.live.to === undefined || moment.at < history.live.to) &&
        members.has(moment.dst) &&
        !leftSince.has(moment.dst) &&
        !events.some((event) => event.at > moment.at && event.at <= moment.at + lagMillis && event.removed.includes(moment.dst))
      )
        found.push({ agent: history.agent, at: moment.at, dst: moment.dst })
    }
    return found
  })

/** At the end, per agent still live: members it lacks, and entries that are not members. */
export const finalDifferences = (events: ReadonlyArray<MembershipEvent>, histories: ReadonlyArray<FdbHistory>, end: number) => {
  const members = membersAt(events, end)
  return histories
    .filter((history) => history.live.to === undefined)
    .map((history) => {
      const fdb = fdbAt(history, end)
      return {
        agent: history.agent,
        missing: [...members].filter((address) => address !== history.self && !fdb.has(address)).sort(),
        stale: [...fdb].filter((address) => !members.has(address)).sort()
      }
    })
}

/** An agent's FDB size over time, for its timeline. */
export const fdbSizes = (history: FdbHistory): ReadonlyArray<{ at: number; size: number }> => {
  let size = history.start.entries.length
  const points = [{ at: history.start.at, size }]
  for (const change of history.changes) {
    size += change.added ? 1 : -1
    points.push({ at: change.at, size })
  }
  return points
}

export const percentile = (values: ReadonlyArray<number>, p: number): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

/** One ping pair's outcomes, bucketed per second. */
export interface PingWindow {
  readonly pair: string
  readonly second: number
  readonly sent: number
  readonly lost: number
}

export const pingWindows = (
  pair: string,
  probes: ReadonlyArray<{ readonly at: number; readonly answered: boolean }>
): ReadonlyArray<PingWindow> => {
  const windows = new Map<number, { sent: number; lost: number }>()
  for (const probe of probes) {
    const second = Math.floor(probe.at / 1000)
    const window = windows.get(second) ?? { sent: 0, lost: 0 }
    window.sent++
    if (!probe.answered) window.lost++
    windows.set(second, window)
  }
  return [...windows].sort(([a], [b]) => a - b).map(([second, window]) => ({ pair, second, ...window }))
}

/** A fault that cut some pods off (a partitioned node's pods, partitioned pods, a lossy uplink's pods) for a while. */
export interface Fault {
  readonly kind: string
  readonly pods: ReadonlyArray<string>
  readonly from: number
  readonly to: number
}

/**
 * Which lost pings a fault explains: a pair with exactly one end cut off, while the fault held
 * (and `graceMillis` after, for the path to come back). Every other loss is unexplained. Also,
 * per fault, how long after it ended until each such pair answered again.
 */
export const pingImpact = (
  pairs: ReadonlyArray<{
    readonly from: string
    readonly to: string
    readonly probes: ReadonlyArray<{ readonly at: number; readonly answered: boolean }>
  }>,
  faults: ReadonlyArray<Fault>,
  graceMillis: number
) => {
  let explained = 0
  let unexplained = 0
  let healMax: number | undefined
  const crosses = (fault: Fault, pair: { from: string; to: string }) => fault.pods.includes(pair.from) !== fault.pods.includes(pair.to)
  for (const pair of pairs) {
    for (const probe of pair.probes) {
      if (probe.answered) continue
      const cause = faults.find((fault) => crosses(fault, pair) && probe.at >= fault.from && probe.at <= fault.to + graceMillis)
      if (cause === undefined) unexplained++
      else explained++
    }
    for (const fault of faults) {
      if (!crosses(fault, pair)) continue
      const back = pair.probes.find((probe) => probe.answered && probe.at >= fault.to)
      if (back !== undefined) healMax = Math.max(healMax ?? 0, back.at - fault.to)
    }
  }
  return { explained, unexplained, healMax }
}
