import { networkInterfaces } from "node:os"
import { type ConfigProblem, type HostFacts, hostProblems, type LoadedConfig } from "@kubelan/config"
import { Netlink, onPath } from "@kubelan/netlink"
import { Effect, Option } from "effect"

/**
 * What this pod says about a config, before anything is created in the kernel and again for
 * every reload: the addresses it holds, what already has the interface's name, and whether
 * another agent here manages it.
 */
const factsFor = (loaded: LoadedConfig, running: LoadedConfig | undefined) =>
  Effect.gen(function* () {
    const netlink = yield* Netlink
    const names = loaded.config.networks.map((network) => network.vxlan.interface)
    const addresses = new Set(
      Object.values(networkInterfaces())
        .flatMap((entries) => entries ?? [])
        .map((entry) => entry.address)
    )
    const existingLinks = new Map<string, { kind: string | undefined }>()
    const lockedInterfaces = new Set<string>()
    // The running agent's own interfaces are locked by itself; any other name must be free.
    const ours = new Set(running?.config.networks.map((network) => network.vxlan.interface) ?? [])
    for (const name of names) {
      const existing = yield* netlink.readLink(name).pipe(Effect.orElseSucceed(() => Option.none()))
      if (Option.isSome(existing)) existingLinks.set(name, { kind: existing.value.kind })
      const locked =
        !ours.has(name) &&
        (yield* netlink.lockInterface(name).pipe(
          Effect.flatMap((lock) => lock.release),
          Effect.as(false),
          Effect.orElseSucceed(() => true)
        ))
      if (locked) lockedInterfaces.add(name)
    }
    const filtered = loaded.config.networks.some((network) => network.vxlan.filter)
    return {
      addresses,
      existingLinks,
      lockedInterfaces,
      iptablesRestore: !filtered || (onPath("iptables-restore") && onPath("ip6tables-restore"))
    } satisfies HostFacts
  })

export const preflight = (loaded: LoadedConfig, running?: LoadedConfig): Effect.Effect<ReadonlyArray<ConfigProblem>, never, Netlink> =>
  factsFor(loaded, running).pipe(Effect.map((facts) => hostProblems(loaded, facts)))
