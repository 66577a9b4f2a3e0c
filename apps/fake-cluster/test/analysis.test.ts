import { describe, expect, it } from "vitest"
import {
  convergence,
  type FdbHistory,
  finalDifferences,
  type MembershipEvent,
  percentile,
  pingImpact,
  pingWindows,
  wrongRemovals
} from "../src/scenario/Analysis.ts"

// A report's figures from hand-made logs: what a run would have recorded, and what it must conclude.

const event = (at: number, members: ReadonlyArray<string>, before: ReadonlyArray<string>, step = "step-1"): MembershipEvent => ({
  at,
  step,
  added: members.filter((address) => !before.includes(address)),
  removed: before.filter((address) => !members.includes(address)),
  members
})

const agent = (
  name: string,
  self: string,
  start: ReadonlyArray<string>,
  changes: ReadonlyArray<[number, string, boolean]>,
  live: { from: number; to?: number } = { from: 0 }
): FdbHistory => ({
  agent: `${name}@uid`,
  pod: name,
  self,
  start: { at: 0, entries: start },
  changes: changes.map(([at, dst, added]) => ({ at, dst, added })),
  live: { from: live.from, to: live.to }
})

const a = "10.0.0.1"
const b = "10.0.0.2"
const c = "10.0.0.3"
const d = "10.0.0.4"

describe("convergence", () => {
  it("is the time until the last live agent held the change", () => {
    const events = [event(-10, [a, b], []), event(1000, [a, b, c], [a, b])]
    const histories = [agent("p-0", a, [b], [[1040, c, true]]), agent("p-1", b, [a], [[1120, c, true]])]
    const [only] = convergence(events, histories, 5000)
    expect(only).toMatchObject({ event: 1, millis: 120, agents: 2 })
  })

  it("counts an event as unconverged when a live agent never holds it", () => {
    const events = [event(-10, [a, b], []), event(1000, [a], [a, b])]
    const histories = [agent("p-0", a, [b], [])]
    const [only] = convergence(events, histories, 5000)
    expect(only?.millis).toBeUndefined()
  })

  it("does not wait for an agent that went away, nor for the part a later event undid", () => {
    const events = [event(-10, [a, b], []), event(1000, [a, b, c], [a, b]), event(1500, [a, b], [a, b, c])]
    const histories = [
      // Never adds c: c is gone again at 1500, so the first event holds then.
      agent("p-0", a, [b], []),
      // Killed at 1200, before it caught up.
      agent("p-1", b, [a], [], { from: 0, to: 1200 })
    ]
    const figures = convergence(events, histories, 5000)
    expect(figures.map((figure) => figure.millis)).toEqual([500, 0])
  })

  it("leaves out events that no agent was live for", () => {
    const events = [event(10, [a], []), event(20, [a, b], [a])]
    const histories = [agent("p-0", a, [], [[50, b, true]], { from: 30 })]
    expect(convergence(events, histories, 100)).toEqual([])
  })

  it("ignores the agent's own address", () => {
    const events = [event(-10, [a], []), event(1000, [a, b], [a])]
    const histories = [agent("p-0", a, [], []), agent("p-1", b, [a], [], { from: 900 })]
    const [only] = convergence(events, histories, 5000)
    // p-0 never adds b, so it never converges; p-1 is b and does not need itself.
    expect(only).toMatchObject({ agents: 2, millis: undefined })
    const second = convergence(events, [agent("p-1", b, [a], [], { from: 900 })], 5000)
    expect(second[0]?.millis).toBe(0)
  })
})

describe("wrongRemovals", () => {
  it("finds an entry removed while its address stayed a member", () => {
    const events = [event(-10, [a, b, c], [])]
    const histories = [agent("p-0", a, [b, c], [[700, c, false]])]
    expect(wrongRemovals(events, histories)).toEqual([{ agent: "p-0@uid", at: 700, dst: c }])
  })

  it("accepts a removal that follows the address leaving", () => {
    const events = [event(-10, [a, b, c], []), event(500, [a, b], [a, b, c])]
    const histories = [agent("p-0", a, [b, c], [[530, c, false]])]
    expect(wrongRemovals(events, histories)).toEqual([])
  })

  it("accepts a late removal of an address that left and came back before the agent caught up", () => {
    // c leaves at 500 and is back at 510 (a pod restarted at the same address); the agent
    // removes it at 600 and adds it again at 620: catching up, not a wrong removal.
    const events = [event(-10, [a, b, c], []), event(500, [a, b], [a, b, c]), event(510, [a, b, c], [a, b])]
    const histories = [
      agent(
        "p-0",
        a,
        [b, c],
        [
          [600, c, false],
          [620, c, true]
        ]
      )
    ]
    expect(wrongRemovals(events, histories)).toEqual([])
  })

  it("finds a removal after the agent had added the returned address again", () => {
    const events = [event(-10, [a, b, c], []), event(500, [a, b], [a, b, c]), event(510, [a, b, c], [a, b])]
    const histories = [
      agent(
        "p-0",
        a,
        [b, c],
        [
          [520, c, false],
          [540, c, true],
          [900, c, false]
        ]
      )
    ]
    expect(wrongRemovals(events, histories)).toEqual([{ agent: "p-0@uid", at: 900, dst: c }])
  })

  it("against kube-apiserver, excuses a removal the recorder hears of up to its lag later, and no more", () => {
    // The agent's watch brought c's leaving at 498; the recorder's at 500.
    const events = [event(-10, [a, b, c], []), event(500, [a, b], [a, b, c])]
    const histories = [agent("p-0", a, [b, c], [[498, c, false]])]
    expect(wrongRemovals(events, histories)).toEqual([{ agent: "p-0@uid", at: 498, dst: c }])
    expect(wrongRemovals(events, histories, 100)).toEqual([])
    const early = [agent("p-0", a, [b, c], [[300, c, false]])]
    expect(wrongRemovals(events, early, 100)).toEqual([{ agent: "p-0@uid", at: 300, dst: c }])
  })

  it("does not judge an agent outside its live window", () => {
    const events = [event(-10, [a, b], [])]
    const histories = [agent("p-0", a, [b], [[900, b, false]], { from: 0, to: 800 })]
    expect(wrongRemovals(events, histories)).toEqual([])
  })
})

describe("finalDifferences", () => {
  it("names missing and stale peers of each agent still live", () => {
    const events = [event(-10, [a, b, c], []), event(100, [a, b, d], [a, b, c])]
    const histories = [
      agent("p-0", a, [b, c], [[150, d, true]]),
      agent("p-1", b, [a, c], []),
      agent("p-2", c, [a, b], [], { from: 0, to: 100 })
    ]
    expect(finalDifferences(events, histories, 1000)).toEqual([
      { agent: "p-0@uid", missing: [], stale: [c] },
      { agent: "p-1@uid", missing: [d], stale: [c] }
    ])
  })
})

describe("pings", () => {
  const probes = (from: number, to: number, lostFrom: number, lostTo: number) =>
    Array.from({ length: (to - from) / 100 }, (_, i) => {
      const at = from + i * 100
      return { at, answered: at < lostFrom || at >= lostTo }
    })

  it("buckets outcomes per second", () => {
    const windows = pingWindows("p-0→p-1", probes(0, 2000, 1000, 1500))
    expect(windows).toEqual([
      { pair: "p-0→p-1", second: 0, sent: 10, lost: 0 },
      { pair: "p-0→p-1", second: 1, sent: 10, lost: 5 }
    ])
  })

  it("explains losses across a fault, within the grace after it, and measures the heal", () => {
    const fault = { kind: "partition", pods: ["p-2"], from: 1000, to: 3000 }
    const pairs = [
      // Crosses the partition: lost from 1000 until 3400, answered again 400 ms after it ended.
      { from: "p-0", to: "p-2", probes: probes(0, 6000, 1000, 3400) },
      // Both ends on the same side: its loss is not explained by the partition.
      { from: "p-0", to: "p-1", probes: probes(0, 6000, 2000, 2200) },
      // Crosses, but lost long after the grace: unexplained.
      { from: "p-1", to: "p-2", probes: probes(0, 6000, 5000, 5100) }
    ]
    const impact = pingImpact(pairs, [fault], 1000)
    expect(impact).toEqual({ explained: 24, unexplained: 3, healMax: 400 })
  })

  it("takes percentiles as nearest rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(values, 50)).toBe(50)
    expect(percentile(values, 99)).toBe(99)
    expect(percentile([7], 99)).toBe(7)
    expect(percentile([], 50)).toBeUndefined()
  })
})

describe("the FDB recorder's clock", () => {
  it("reads bridge -timestamp lines (UTC) to the millisecond", async () => {
    const { monitorTimestamp } = await import("../src/scenario/Recorders.ts")
    expect(monitorTimestamp("Timestamp: Wed Dec  2 16:59:40 2026 765775 usec")).toBe(Date.parse("2026-12-02T16:59:40.765Z") + 0.775)
    expect(monitorTimestamp("Timestamp: Mon Mar 16 09:05:01 2026 1 usec")).toBe(Date.parse("2026-03-16T09:05:01.000Z") + 0.001)
    expect(monitorTimestamp("00:00:00:00:00:00 dev kubelan dst 10.0.0.2 self permanent")).toBeUndefined()
  })
})
