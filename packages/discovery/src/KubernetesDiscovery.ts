import { ConfigSource } from "@kubelan/config"
import { Clock, Data, Effect, FiberMap, Layer, Schedule, Stream, SubscriptionRef } from "effect"
import { Discovery } from "./Discovery.ts"
import {
  type KubeConfig,
  KubeconfigError,
  KubernetesApiError,
  listServiceSlices,
  loadKubeConfig,
  WatchHung,
  watchServiceSlices
} from "./KubernetesApi.ts"
import type { MembershipSnapshot, ServiceMembership } from "./Membership.ts"
import { makeServerRestores, type ServerRestores } from "./ServerRestores.ts"
import { applyEvents, applyList, emptyCache, membershipOf, type Notice } from "./SliceCache.ts"

/**
 * The default backend: per configured Service, a list and a watch of only its EndpointSlices
 * (label `kubernetes.io/service-name`), so a namespaced Role suffices and unrelated slices never
 * reach the agent. While the API is unreachable the last known membership stands.
 */

/** Extra time a watch may stay open past the timeout the server was asked for, before it counts as hung. */
const hungGrace = (timeoutSeconds: number) => Math.max(2, Math.round(timeoutSeconds * 0.25))

/**
 * client-go's reflector rule: a watch that ends within a second with no events failed, however
 * cleanly it ended (a server or proxy that ends every watch at once would otherwise be asked
 * again thousands of times a second).
 */
const shortWatchMillis = 1000

/** Jittered exponential backoff between failed requests: 0.2 s doubling to 5 s, each ±20 %. */
export const backoffSchedule = Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("5 seconds")]).pipe(Schedule.jittered)

/** A watch event older than the newest seen: stop the watch and relist. */
class WentBackwards extends Data.TaggedError("WentBackwards")<{ readonly service: string }> {}

/** Another follower noticed the server's storage restored: this watch may never see what was written since. */
class RestoreNoticed extends Data.TaggedError("RestoreNoticed")<{ readonly service: string }> {}

const log = (notice: Notice, service: string) =>
  notice.level === "warning" ? Effect.logWarning(notice.message, { service }) : Effect.logInfo(notice.message, { service })

export const followService = Effect.fnUntraced(function* (
  config: KubeConfig,
  service: string,
  timeoutMillis: () => number,
  publish: (membership: ServiceMembership) => Effect.Effect<void>,
  restores: ServerRestores
) {
  const [namespace, name] = service.split("/") as [string, string]
  let cache = emptyCache
  let backoff = yield* Schedule.toStepWithSleep(backoffSchedule)
  // Relisting for a restore already noticed: this list going backwards is that restore, not a new one.
  let restoreKnown = false
  const failed = (reason: string) =>
    Effect.gen(function* () {
      yield* Effect.logWarning(`kubernetes: ${reason}; keeping the last membership and retrying`, { service })
      yield* backoff(undefined).pipe(Effect.ignore)
    })
  for (;;) {
    // Read before the list, so a restore noticed while listing still ends the watch after it.
    const restoresSeen = yield* restores.seen
    if (cache.resourceVersion === undefined) {
      const listed = yield* Effect.result(listServiceSlices(config, namespace, name, timeoutMillis()))
      if (listed._tag === "Failure") {
        yield* failed(listed.failure.message)
        continue
      }
      const folded = applyList(cache, service, listed.success)
      for (const notice of folded.notices) yield* log(notice, service)
      if (folded.backwards && !restoreKnown) yield* restores.notice(restoresSeen)
      restoreKnown = false
      cache = folded.cache
      yield* Effect.logDebug("kubernetes: listed EndpointSlices", {
        service,
        slices: cache.slices.size,
        resourceVersion: cache.resourceVersion
      })
      if (folded.changed) yield* publish(membershipOf(cache))
    }
    const from = cache.resourceVersion as string
    const timeoutSeconds = Math.max(1, Math.round(timeoutMillis() / 1000))
    const started = yield* Clock.currentTimeMillis
    let events = 0
    const watched = yield* watchServiceSlices(config, namespace, name, from, timeoutSeconds).pipe(
      Stream.runForEachArray((batch) =>
        Effect.gen(function* () {
          events += batch.length
          const folded = applyEvents(cache, service, batch)
          for (const notice of folded.notices) yield* log(notice, service)
          cache = folded.cache
          if (folded.changed) yield* publish(membershipOf(cache))
          if (folded.backwards) return yield* new WentBackwards({ service })
        })
      ),
      Effect.timeoutOrElse({
        duration: (timeoutSeconds + hungGrace(timeoutSeconds)) * 1000,
        orElse: () => Effect.fail(new WatchHung({ seconds: timeoutSeconds + hungGrace(timeoutSeconds) }))
      }),
      Effect.raceFirst(restores.after(restoresSeen).pipe(Effect.andThen(Effect.fail(new RestoreNoticed({ service }))))),
      Effect.result
    )
    const lasted = (yield* Clock.currentTimeMillis) - started
    const short = lasted < shortWatchMillis && events === 0
    // A watch that ran a while or brought events was healthy, however it ended.
    if (!short) backoff = yield* Schedule.toStepWithSleep(backoffSchedule)
    if (watched._tag === "Success") {
      if (short) yield* failed("the server ended the watch at once, with no events")
      continue
    }
    const error = watched.failure
    if (error instanceof WatchHung) {
      yield* Effect.logWarning(`kubernetes: watch open ${error.seconds}s past its timeout; restarting it`, { service })
      continue
    }
    if (error instanceof WentBackwards) {
      yield* restores.notice(restoresSeen)
      restoreKnown = true
      continue
    }
    if (error instanceof RestoreNoticed) {
      yield* Effect.logInfo("kubernetes: the API server's storage was restored (noticed on another service); relisting", { service })
      cache = { ...cache, resourceVersion: undefined }
      restoreKnown = true
      continue
    }
    if (error instanceof KubernetesApiError && error.status === 410) {
      yield* Effect.logInfo("kubernetes: resourceVersion expired (410); relisting", { service, resourceVersion: from })
      cache = { ...cache, resourceVersion: undefined }
      if (short) yield* backoff(undefined).pipe(Effect.ignore)
      continue
    }
    if (error instanceof KubernetesApiError && error.status === 504) {
      // "Too large resource version": the server is behind what this agent saw (a restored etcd).
      cache = { ...cache, resourceVersion: undefined }
      yield* restores.notice(restoresSeen)
      restoreKnown = true
      yield* failed(`${error.message} (the server is behind resourceVersion ${from}); relisting`)
      continue
    }
    yield* failed(error.message)
  }
})

const make = Effect.gen(function* () {
  const source = yield* ConfigSource.ConfigSource
  const config = yield* Effect.try({
    try: () => loadKubeConfig(),
    catch: (error) =>
      error instanceof KubeconfigError ? error : new KubeconfigError({ reason: `cannot load the credentials: ${String(error)}` })
  })
  const initial = (yield* source.current).config
  const membership = yield* SubscriptionRef.make<MembershipSnapshot>({
    services: new Map(initial.services.map((service) => [service, { endpoints: [], synced: false }]))
  })
  const followers = yield* FiberMap.make<string>()
  const restores = yield* makeServerRestores
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
        for (const [service] of [...followers]) if (!wanted.has(service)) yield* FiberMap.remove(followers, service)
        yield* SubscriptionRef.update(membership, (snapshot) => ({
          services: new Map([...wanted].map((service) => [service, snapshot.services.get(service) ?? { endpoints: [], synced: false }]))
        }))
        for (const service of wanted)
          yield* FiberMap.run(
            followers,
            service,
            followService(config, service, () => watchTimeout, publish(service), restores),
            { onlyIfMissing: true }
          )
      })
    ),
    Effect.forkScoped
  )
  return Discovery.of({ backend: "kubernetes", snapshots: SubscriptionRef.changes(membership) })
})

export const layer: Layer.Layer<Discovery, KubeconfigError, ConfigSource.ConfigSource> = Layer.effect(Discovery, make)
