import { describe, expect, it } from "vitest"
import { Events } from "../src/index.ts"

const event = (note: string): Events.AgentEvent => ({ type: "Warning", reason: "HookFailed", action: "RunHook", note })

describe("Event aggregation, as client-go's recorder", () => {
  it("the same event again grows one series; another note is another Event", () => {
    let names = 0
    const newName = () => `lan-0.${names++}`
    let state = Events.initialCorrelation(0)
    const step = (note: string, at: number) => {
      const next = Events.correlate(state, event(note), at, newName)
      state = next.state
      return next.decision
    }
    expect(step("exit 1", 1000)).toMatchObject({ kind: "create", name: "lan-0.0" })
    expect(step("exit 1", 2000)).toMatchObject({ kind: "update", name: "lan-0.0", count: 2, first: 1000 })
    expect(step("exit 1", 3000)).toMatchObject({ kind: "update", name: "lan-0.0", count: 3 })
    expect(step("exit 2", 3000)).toMatchObject({ kind: "create", name: "lan-0.1" })
    // Quiet for longer than a series lasts (6 minutes): a new Event.
    expect(step("exit 1", 3000 + 7 * 60_000)).toMatchObject({ kind: "create", name: "lan-0.2" })
  })

  it("new Events come in a burst of 25, then one per 5 minutes; repeats are never dropped", () => {
    let state = Events.initialCorrelation(0)
    const kinds: Array<string> = []
    for (let i = 0; i < 30; i++) {
      const next = Events.correlate(state, event(`exit ${i}`), 1000, () => `e${i}`)
      state = next.state
      kinds.push(next.decision.kind)
    }
    expect(kinds.filter((kind) => kind === "create")).toHaveLength(25)
    expect(kinds.slice(25)).toEqual(["drop", "drop", "drop", "drop", "drop"])
    expect(Events.correlate(state, event("exit 0"), 2000, () => "x").decision.kind).toBe("update")
    expect(Events.correlate(state, event("exit 99"), 1000 + 5 * 60_000, () => "later").decision).toMatchObject({ kind: "create" })
  })
})
