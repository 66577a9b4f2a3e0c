/**
 * Fault injection, through the library and `POST /_fake/faults`: tests make the API misbehave
 * the ways real ones do.
 */
export interface FaultState {
  /** Fail this many next requests with this status (500, 429 ...). */
  failNext: { count: number; code: number }
  /** Added before every response. */
  latencyMillis: number
  /** New connections are held this long before being served. */
  hangUntil: number
  /** Until then, requests are answered by closing the connection, as an unreachable server. */
  refuseUntil: number
  /** Every watch ends right after its first events, as a proxy that cuts long requests does. */
  endWatchesAtOnce: boolean
}

export const noFaults = (): FaultState => ({
  failNext: { count: 0, code: 500 },
  latencyMillis: 0,
  hangUntil: 0,
  refuseUntil: 0,
  endWatchesAtOnce: false
})

export interface FaultRequest {
  readonly dropWatches?: boolean
  readonly failNext?: { readonly count: number; readonly code?: number }
  readonly latencyMillis?: number
  readonly compact?: boolean
  readonly hangMillis?: number
  readonly refuseMillis?: number
  readonly endWatchesAtOnce?: boolean
  readonly reset?: boolean
}
