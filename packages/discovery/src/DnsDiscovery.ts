import { Resolver } from "node:dns/promises"
import { ConfigSource, type KubelanConfig } from "@kubelan/config"
import { Effect, Layer, Schedule, Stream, SubscriptionRef } from "effect"
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

const absent = new Set(["ENOTFOUND", "ENODATA", "NXDOMAIN"])

/** The addresses of one name, or undefined when the resolver failed (as opposed to saying none). */
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

const resolveServices = (resolver: Resolver, config: KubelanConfig, previous: MembershipSnapshot) =>
  Effect.gen(function* () {
    const services = new Map<string, ServiceMembership>()
    for (const service of config.services) {
      const hostname = serviceHostname(service, config.discovery.dns.clusterDomain)
      const answer = yield* resolveAll(resolver, hostname)
      if ("error" in answer) {
        yield* Effect.logWarning(`dns: resolving ${hostname} failed: ${answer.error}; keeping the last membership`, { service })
        services.set(service, previous.services.get(service) ?? { endpoints: [], synced: false })
      } else services.set(service, { endpoints: answer.addresses.map(readyEndpoint), synced: true })
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
  const resolveOnce = Effect.gen(function* () {
    const { config } = yield* source.current
    const next = yield* resolveServices(resolver, config, yield* SubscriptionRef.get(membership))
    const current = yield* SubscriptionRef.get(membership)
    if (!sameMembership(current, next)) yield* SubscriptionRef.set(membership, next)
    return config.discovery.dns.intervalMillis
  })
  // Resolve now, then every interval (re-read on each round, so reloads apply); a reload also
  // resolves at once, so a new service does not wait for the next round.
  yield* Effect.gen(function* () {
    const interval = yield* resolveOnce
    yield* Effect.sleep(interval)
  }).pipe(Effect.forever, Effect.forkScoped)
  yield* source.changes.pipe(
    Stream.drop(1),
    Stream.runForEach(() => resolveOnce),
    Effect.retry(Schedule.forever),
    Effect.forkScoped
  )
  return Discovery.of({ backend: "dns", snapshots: SubscriptionRef.changes(membership) })
})

export const layer: Layer.Layer<Discovery, never, ConfigSource.ConfigSource> = Layer.effect(Discovery, make)
