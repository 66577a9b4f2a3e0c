import { it } from "@effect/vitest"
import { ConfigError, ConfigSource, type LoadedConfig, type LoadOptions, loadConfigSync } from "@kubelan/config"
import { Effect, Fiber, Layer, Stream } from "effect"
import { describe, expect } from "vitest"
import { Discovery, StaticDiscovery } from "../src/index.ts"

const load = (options: LoadOptions): LoadedConfig => {
  const loaded = loadConfigSync({ searchDirs: [], ...options })
  if (loaded instanceof ConfigError) throw new Error(loaded.message)
  return loaded
}
const staticEnv = (members: string) => ({ KL_SERVICES: "lan/a lan/b", KL_DISCOVERY_BACKEND: "static", KL_DISCOVERY_STATIC: members })
const addresses = (snapshot: { services: ReadonlyMap<string, { endpoints: ReadonlyArray<{ address: string }> }> }) =>
  Object.fromEntries([...snapshot.services].map(([name, service]) => [name, service.endpoints.map((endpoint) => endpoint.address)]))

describe("static discovery", () => {
  it.live("lists every configured service, then follows reloads and skips reloads that change nothing", () =>
    Effect.gen(function* () {
      const manual = yield* ConfigSource.makeManual(load({ env: staticEnv("lan/a=10.0.0.2,10.0.0.3") }))
      const discovery = yield* Discovery.pipe(
        Effect.provide(StaticDiscovery.layer.pipe(Layer.provide(Layer.succeed(ConfigSource.ConfigSource, manual.service))))
      )
      const collected = yield* discovery.snapshots.pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      yield* Effect.sleep("20 millis")
      yield* manual.set(load({ env: { ...staticEnv("lan/a=10.0.0.2,10.0.0.3"), KL_LOG_LEVEL: "debug" } }))
      yield* manual.set(load({ env: staticEnv("lan/a=10.0.0.2;lan/b=10.0.0.4") }))
      const snapshots = yield* Fiber.join(collected)
      expect(snapshots.map(addresses)).toEqual([
        { "lan/a": ["10.0.0.2", "10.0.0.3"], "lan/b": [] },
        { "lan/a": ["10.0.0.2"], "lan/b": ["10.0.0.4"] }
      ])
      expect(discovery.backend).toBe("static")
    })
  )
})
