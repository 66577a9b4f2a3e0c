import { ConfigSource } from "@kubelan/config"
import { Duration, Effect, FiberMap, Layer, Stream, SubscriptionRef } from "effect"
import { Discovery } from "./Discovery.ts"
import { type DecodedSlice, decodeEndpointSlice } from "./EndpointSlices.ts"
import { type KubeConfig, KubernetesApiError, listServiceSlices, loadKubeConfig, WatchHung, watchServiceSlices } from "./KubernetesApi.ts"
import type { MembershipSnapshot, ServiceMembership } from "./Membership.ts"

/**
 * The default backend: per configured Service, a list and a watch of only its EndpointSlices
 * (label `kubernetes.io/service-name`), so a namespaced Role suffices and unrelated slices never
 * reach the agent. While the API is unreachable the last known membership stands.
 */

/** Extra time a watch may stay open past the timeout the server was asked for, before it counts as hung. */
const hungGrace = (timeoutSeconds: number) => Math.max(2, Math.round(timeoutSeconds * 0.25))

/** Jittered exponential backoff: 0.2 s doubling to 5 s, ±50 %. */
const backoff = (failures: number) => Math.min(5000, 200 * 2 ** Math.min(failures, 10)) * (0.5 + Math.random())

const membershipOf = (slices: ReadonlyMap<string, DecodedSlice>, synced: boolean): ServiceMembership => ({
  endpoints: [...slices.values()].flatMap((slice) => slice.endpoints),
  skipped: [...slices.values()].flatMap((slice) => slice.skipped),
  synced
})

const followService = Effect.fnUntraced(function* (
  config: KubeConfig,
  service: string,
  timeoutMillis: () => number,
  publish: (membership: ServiceMembership) => Effect.Effect<void>
) {
  const [namespace, name] = service.split("/") as [string, string]
  const slices = new Map<string, DecodedSlice>()
  let resourceVersion: string | undefined
  let synced = false
  let failures = 0
  const retryAfterFailure = (error: unknown) =>
    Effect.gen(function* () {
      const wait = backoff(failures++)
      yield* Effect.logWarning(
        `kubernetes: ${error instanceof Error ? error.message : String(error)}; keeping the last membership, retrying in ${Math.round(wait)}ms`,
        {
          service
        }
      )
      yield* Effect.sleep(wait)
    })
  /** Folds watch events into the slices; publishes once per batch that changed something. */
  const pending: Array<[string, unknown]> = []
  const applyPending = Effect.gen(function* () {
    let changed = false
    for (const [type, object] of pending.splice(0)) {
      const version = (object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion
      if (typeof version === "string") resourceVersion = version
      if (type === "BOOKMARK") continue
      const decoded = decodeEndpointSlice(service, object)
      if (type === "DELETED") slices.delete(decoded.name)
      else slices.set(decoded.name, decoded)
      changed = true
    }
    if (changed) {
      failures = 0
      yield* publish(membershipOf(slices, synced))
    }
  })
  for (;;) {
    if (resourceVersion === undefined) {
      const listed = yield* Effect.result(listServiceSlices(config, namespace, name, timeoutMillis()))
      if (listed._tag === "Failure") {
        yield* retryAfterFailure(listed.failure)
        continue
      }
      slices.clear()
      for (const item of listed.success.items) {
        const decoded = decodeEndpointSlice(service, item)
        slices.set(decoded.name, decoded)
      }
      resourceVersion = listed.success.resourceVersion
      synced = true
      failures = 0
      yield* Effect.logDebug("kubernetes: listed EndpointSlices", { service, slices: slices.size, resourceVersion })
      yield* publish(membershipOf(slices, synced))
    }
    const timeoutSeconds = Math.max(1, Math.round(timeoutMillis() / 1000))
    const watched = yield* Effect.result(
      watchServiceSlices(config, namespace, name, resourceVersion, timeoutSeconds, (type, object) => {
        pending.push([type, object])
        Effect.runFork(applyPending)
      }).pipe(
        Effect.timeoutOrElse({
          duration: Duration.seconds(timeoutSeconds + hungGrace(timeoutSeconds)),
          orElse: () => Effect.fail(new WatchHung({ seconds: timeoutSeconds + hungGrace(timeoutSeconds) }))
        })
      )
    )
    yield* applyPending
    if (watched._tag === "Success") continue
    const error = watched.failure
    if (error instanceof WatchHung)
      yield* Effect.logWarning(`kubernetes: watch open ${error.seconds}s past its timeout; restarting it`, { service })
    else if (error instanceof KubernetesApiError && error.status === 410) {
      yield* Effect.logInfo("kubernetes: resourceVersion expired (410); relisting", { service, resourceVersion })
      resourceVersion = undefined
    } else yield* retryAfterFailure(error)
  }
})

const make = Effect.gen(function* () {
  const source = yield* ConfigSource.ConfigSource
  const config = yield* Effect.try({
    try: loadKubeConfig,
    catch: (error) =>
      new KubernetesApiError({ operation: "load the kubeconfig (KUBECONFIG, else in-cluster)", status: undefined, reason: String(error) })
  })
  const initial = (yield* source.current).config
  const membership = yield* SubscriptionRef.make<MembershipSnapshot>({
    services: new Map(initial.services.map((service) => [service, { endpoints: [], synced: false }]))
  })
  const followers = yield* FiberMap.make<string>()
  const running = new Set<string>()
  let watchTimeout = initial.discovery.kubernetes.watchTimeoutMillis

  const publish = (service: string) => (next: ServiceMembership) =>
    SubscriptionRef.update(membership, (snapshot) =>
      snapshot.services.has(service) ? { services: new Map(snapshot.services).set(service, next) } : snapshot
    )

  // Follow the configured services: start a follower per new one, stop those removed.
  yield* source.changes.pipe(
    Stream.runForEach((loaded) =>
      Effect.gen(function* () {
        watchTimeout = loaded.config.discovery.kubernetes.watchTimeoutMillis
        const wanted = new Set(loaded.config.services)
        for (const service of running)
          if (!wanted.has(service)) {
            running.delete(service)
            yield* FiberMap.remove(followers, service)
          }
        yield* SubscriptionRef.update(membership, (snapshot) => ({
          services: new Map([...wanted].map((service) => [service, snapshot.services.get(service) ?? { endpoints: [], synced: false }]))
        }))
        for (const service of wanted)
          if (!running.has(service)) {
            running.add(service)
            yield* FiberMap.run(
              followers,
              service,
              followService(config, service, () => watchTimeout, publish(service))
            )
          }
      })
    ),
    Effect.forkScoped
  )
  return Discovery.of({ backend: "kubernetes", snapshots: SubscriptionRef.changes(membership) })
})

export const layer: Layer.Layer<Discovery, KubernetesApiError, ConfigSource.ConfigSource> = Layer.effect(Discovery, make)
