import { Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { makeServerRestores } from "../src/ServerRestores.ts"

describe("server restores shared by the followers", () => {
  it("one restore noticed by several followers counts once, and ends the watches of all that saw less", () =>
    Effect.runPromise(
      Effect.gen(function* () {
        const restores = yield* makeServerRestores
        const before = yield* restores.seen
        const waiting = yield* Effect.forkChild(restores.after(before))
        yield* restores.notice(before)
        yield* restores.notice(before)
        expect(yield* restores.seen).toBe(before + 1)
        yield* Fiber.join(waiting)
        // A follower that already knew of it is not woken by it.
        const knowing = yield* Effect.forkChild(restores.after(before + 1))
        yield* Effect.yieldNow
        expect(knowing.pollUnsafe()).toBeUndefined()
        yield* restores.notice(before + 1)
        yield* Fiber.join(knowing)
        expect(yield* restores.seen).toBe(before + 2)
      })
    ))
})
