import { it } from "@effect/vitest"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { KubeFake } from "../src/index.ts"

/** Faults through the HTTP admin path, on a server run as an Effect layer. */
const withServer = <A>(body: (url: string) => Promise<A>) =>
  Effect.gen(function* () {
    const server = yield* KubeFake.KubeFake
    return yield* Effect.promise(() => body(server.url))
  }).pipe(Effect.provide(KubeFake.layer({ history: 100 })))

const fault = (url: string, request: unknown) => fetch(`${url}/_fake/faults`, { method: "POST", body: JSON.stringify(request) })

describe("fault injection", () => {
  it.live("fails the next N requests with 429 and Retry-After, then serves again", () =>
    withServer(async (url) => {
      await fault(url, { failNext: { count: 2, code: 429 } })
      const first = await fetch(`${url}/api/v1/namespaces`)
      const second = await fetch(`${url}/api/v1/namespaces`)
      const third = await fetch(`${url}/api/v1/namespaces`)
      expect([first.status, second.status, third.status]).toEqual([429, 429, 200])
      expect(first.headers.get("retry-after")).toBe("1")
      expect(await first.json()).toMatchObject({ kind: "Status", reason: "TooManyRequests", code: 429 })
    })
  )

  it.live("adds latency to every response until reset", () =>
    withServer(async (url) => {
      await fault(url, { latencyMillis: 300 })
      const started = Date.now()
      await fetch(`${url}/api/v1/namespaces`)
      expect(Date.now() - started).toBeGreaterThanOrEqual(290)
      await fault(url, { reset: true })
      const again = Date.now()
      await fetch(`${url}/api/v1/namespaces`)
      expect(Date.now() - again).toBeLessThan(290)
    })
  )

  it.live("refuses connections while unreachable, and records per-client traffic", () =>
    withServer(async (url) => {
      await fetch(`${url}/api/v1/namespaces`, { headers: { "user-agent": "probe" } })
      const clients = (await (await fetch(`${url}/_fake/clients`)).json()) as Record<string, { requests: number; bytesSent: number }>
      expect(clients.probe?.requests).toBe(1)
      expect(clients.probe?.bytesSent).toBeGreaterThan(100)
      await fault(url, { refuseMillis: 60_000 })
      await expect(fetch(`${url}/api/v1/namespaces`)).rejects.toThrow()
    })
  )

  it.live("endWatchesAtOnce: every watch ends right after the events it starts with", () =>
    withServer(async (url) => {
      await fetch(`${url}/api/v1/namespaces/default/configmaps`, { method: "POST", body: JSON.stringify({ metadata: { name: "a" } }) })
      await fault(url, { endWatchesAtOnce: true })
      const started = Date.now()
      const watched = await fetch(`${url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0`)
      const lines = (await watched.text()).trim().split("\n")
      expect(Date.now() - started).toBeLessThan(1000)
      expect(lines.map((line) => JSON.parse(line).type)).toEqual(["ADDED"])
      await fault(url, { reset: true })
    })
  )
})
