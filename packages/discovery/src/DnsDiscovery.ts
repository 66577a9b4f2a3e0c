import { NODATA, NOTFOUND } from "node:dns"
import { Resolver } from "node:dns/promises"
import { ConfigSource, type KubelanConfig, specialAddressReason } from "@kubelan/config"
import { Effect, Layer, Queue, Stream, SubscriptionRef } from "effect"
import { Discovery } from "./Discovery.ts"
import { type MembershipSnapshot, readyEndpoint, type ServiceMembership, sameMembership } from "./Membership.ts"

/**
 * The dns backend: resolves each headless Service's name (`<name>.<namespace>.svc.<domain>`,
 * A and AAAA) every `discovery.dns.interval`. It needs no RBAC. A name that does not exist has
 * no members; a resolver that does not answer leaves the last membership in place.
 */
export const serviceHostname = (service: string, clusterDomain: string) => {
  const [namespace, name] = service.split("/") as [string, string]
  return `${name}.${namespace}.svc.${clusterDomain}`
}

/** The resolver's answers that mean "no such records", as opposed to "no answer". */
const absent = new Set<string>([NOTFOUND, NODATA])

/** The addresses of one name, or the resolver's failure (as opposed to its saying there are none). */
const resolveAll = (resolver: Resolver, hostname: string) =>
  Effect.promise(async () => {
    const lookups = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)])
    const addresses: Array<string> = []
    for (const lookup of lookups) {
      if (lookup.status === "fulfilled") addresses.push(...lookup.value)
      else if (!absent.has((lookup.reason as { code?: string }).code ?? ""))
        return { error: String((lookup.reason as Error).message ?? lookup.reason) }
    }
    return { addresses: [...new Set(addresses)].sort() }
  })

/** An answer as a membership: a special address (127.0.0.1 from a misconfigured zone) is skipped with its reason. */
const membershipOf = (service: string, addresses: ReadonlyArray<string>): ServiceMembership => {
  const usable = addresses.filter((address) => specialAddressReason(address) === undefined)
  return {
    endpoints: usable.map(readyEndpoint),
    skipped: addresses.flatMap((address) => {
      const reason = specialAddressReason(address)
      return reason === undefined ? [] : [{ service, address, reason }]
    }),
    synced: true
  }
}

const resolveServices = (resolver: Resolver, config: KubelanConfig, previous: MembershipSnapshot) =>
  Effect.gen(function* () {
    const services = new Map<string, ServiceMembership>()
    for (const service of config.services) {
      const hostname = serviceHostname(service, config.discovery.dns.clusterDomain)
      const answer = yield* resolveAll(resolver, hostname)
      if ("error" in answer) {
        yield* Effect.logWarning(`dns: resolving ${hostname} failed: ${answer.error}; keeping the last membership`, { service })
        services.set(service, previous.services.get(service) ?? { endpoints: [], synced: false })
      } else services.set(service, membershipOf(service, answer.addresses))
    }
    return { services } satisfies MembershipSnapshot
  })

const make = Effect.gen(function* () {
  const source = yield* ConfigSource.ConfigSource
  const resolver = new Resolver({ timeout: 2000, tries: 2 })
  const initial = (yield* source.current).config
  const membership = yield* SubscriptionRef.make<MembershipSnapshot>({
    services: new Map(initial.services.map((service) => [service, { endpoints: [], synced: false }]))
  })
  // A reload only cues the loop: one fiber resolves and publishes, so an answer that took long
  // can never overwrite a newer one.
  const reloads = yield* Queue.sliding<void>(1)
  yield* source.changes.pipe(
    Stream.drop(1),
    Stream.runForEach(() => Queue.offer(reloads, undefined)),
    Effect.forkScoped
  )
  yield* Effect.gen(function* () {
    const { config } = yield* source.current
    const next = yield* resolveServices(resolver, config, yield* SubscriptionRef.get(membership))
    if (!sameMembership(yield* SubscriptionRef.get(membership), next)) yield* SubscriptionRef.set(membership, next)
    // Resolve again after the interval (re-read each round, so reloads apply), or at once on a reload.
    yield* Queue.take(reloads).pipe(Effect.timeoutOption(config.discovery.dns.intervalMillis))
  }).pipe(Effect.forever, Effect.forkScoped)
  return Discovery.of({ backend: "dns", snapshots: SubscriptionRef.changes(membership) })
})

export const layer: Layer.Layer<Discovery, never, ConfigSource.ConfigSource> = Layer.effect(Discovery, make)
