import { Effect, Stream, SubscriptionRef } from "effect"

/**
 * The restores of the API server's storage that the followers have noticed, shared by them.
 * One follower sees the resourceVersion go backwards; the others may not, because a watch whose
 * resourceVersion the restored server reaches again is served from there and never sees the
 * writes in between. So every follower relists when any one notices.
 */
export interface ServerRestores {
  /** How many restores have been noticed so far; a follower reads it before each watch. */
  readonly seen: Effect.Effect<number>
  /** Say that a restore was noticed by a follower that had seen `seen`; one restore counts once. */
  readonly notice: (seen: number) => Effect.Effect<void>
  /** Completes once a restore after `seen` is noticed. */
  readonly after: (seen: number) => Effect.Effect<void>
}

export const makeServerRestores: Effect.Effect<ServerRestores> = Effect.gen(function* () {
  const count = yield* SubscriptionRef.make(0)
  return {
    seen: SubscriptionRef.get(count),
    notice: (seen) => SubscriptionRef.update(count, (current) => (current === seen ? current + 1 : current)),
    after: (seen) =>
      SubscriptionRef.changes(count).pipe(
        Stream.filter((current) => current > seen),
        Stream.take(1),
        Stream.runDrain
      )
  }
})
