import { ConfigSource, type KubelanConfig } from "@kubelan/config"
import { Effect, Layer, Stream } from "effect"
import { Discovery } from "./Discovery.ts"
import { type MembershipSnapshot, readyEndpoint, sameMembership } from "./Membership.ts"

/** Membership written in the config (`discovery.static`); every listed address is ready. */
export const snapshotFromConfig = (config: KubelanConfig): MembershipSnapshot => ({
  services: new Map(
    config.services.map((service) => [
      service,
      { endpoints: (config.discovery.static.get(service) ?? []).map(readyEndpoint), synced: true }
    ])
  )
})

/** The static backend: follows config reloads, so editing the list changes the members. */
export const layer: Layer.Layer<Discovery, never, ConfigSource.ConfigSource> = Layer.effect(
  Discovery,
  Effect.gen(function* () {
    const config = yield* ConfigSource.ConfigSource
    return Discovery.of({
      backend: "static",
      snapshots: config.changes.pipe(
        Stream.map((loaded) => snapshotFromConfig(loaded.config)),
        Stream.changesWith(sameMembership)
      )
    })
  })
)
