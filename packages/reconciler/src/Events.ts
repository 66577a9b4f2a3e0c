import { Context, Effect, Layer, Ref } from "effect"

/**
 * Kubernetes Events about the pod, as `kubectl describe pod` shows them: what went wrong that a
 * user should see without reading the agent's log. The agent records them here; where they go
 * (events.k8s.io/v1 on the API server, or nowhere without one) is the layer's business.
 */
export type EventType = "Normal" | "Warning"

export interface AgentEvent {
  readonly type: EventType
  /** UpperCamelCase, as Kubernetes reasons are: InterfaceRecreated, HookFailed, ... */
  readonly reason: string
  /** What the agent was doing: Recreate, RunHook, Reload. */
  readonly action: string
  readonly note: string
}

export class EventRecorder extends Context.Service<
  EventRecorder,
  {
    /** Never waits for the API server, never fails: an event that cannot be sent is logged. */
    readonly record: (event: AgentEvent) => Effect.Effect<void>
  }
>()("@kubelan/reconciler/EventRecorder") {}

/** No API server to tell (the static and dns backends): events are only log lines, as they were. */
export const layerNone: Layer.Layer<EventRecorder> = Layer.succeed(EventRecorder, EventRecorder.of({ record: () => Effect.void }))

/** Keeps what was recorded, for tests. */
export const makeMemory = Effect.gen(function* () {
  const recorded = yield* Ref.make<ReadonlyArray<AgentEvent>>([])
  const recorder = EventRecorder.of({ record: (event) => Ref.update(recorded, (all) => [...all, event]) })
  return { recorder, recorded: Ref.get(recorded) }
})

/**
 * Aggregation as client-go's event recorder does it: the same event (type, reason, action and
 * note) again is not a new Event but one more in its series — the Event's `series.count` grows.
 * New Events are rate-limited with a token bucket (client-go's spam filter: a burst of 25, then
 * one per 5 minutes); a series' count is never dropped, only its update coalesced.
 */
export interface Correlation {
  readonly series: ReadonlyMap<string, { readonly name: string; readonly count: number; readonly first: number; readonly last: number }>
  readonly tokens: number
  readonly refilledAt: number
}

export const initialCorrelation = (now: number): Correlation => ({ series: new Map(), tokens: burst, refilledAt: now })

const burst = 25
const refillMillis = 5 * 60_000
/** A series not seen for this long starts over as a new Event (client-go: 6 minutes). */
const seriesMillis = 6 * 60_000

export type Decision =
  | { readonly kind: "create"; readonly key: string; readonly name: string }
  | { readonly kind: "update"; readonly key: string; readonly name: string; readonly count: number; readonly first: number }
  | { readonly kind: "drop" }

export const eventKey = (event: AgentEvent) => JSON.stringify([event.type, event.reason, event.action, event.note])

export const correlate = (
  state: Correlation,
  event: AgentEvent,
  now: number,
  newName: () => string
): { readonly state: Correlation; readonly decision: Decision } => {
  const key = eventKey(event)
  const refills = Math.floor((now - state.refilledAt) / refillMillis)
  const tokens = Math.min(burst, state.tokens + refills)
  const refilledAt = refills > 0 ? state.refilledAt + refills * refillMillis : state.refilledAt
  const known = state.series.get(key)
  if (known !== undefined && now - known.last < seriesMillis) {
    const series = new Map(state.series).set(key, { ...known, count: known.count + 1, last: now })
    return {
      state: { series, tokens, refilledAt },
      decision: { kind: "update", key, name: known.name, count: known.count + 1, first: known.first }
    }
  }
  if (tokens < 1) return { state: { ...state, tokens, refilledAt }, decision: { kind: "drop" } }
  const name = newName()
  const series = new Map(state.series).set(key, { name, count: 1, first: now, last: now })
  return { state: { series, tokens: tokens - 1, refilledAt }, decision: { kind: "create", key, name } }
}
