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
    const name = loaded.config.vxlan.interface
    const addresses = new Set(
      Object.values(networkInterfaces())
        .flatMap((entries) => entries ?? [])
        .map((entry) => entry.address)
    )
    const existing = yield* netlink.readLink(name).pipe(Effect.orElseSucceed(() => Option.none()))
    // The running agent's own interface is locked by itself; any other name must be free.
    const ours = running?.config.vxlan.interface === name
    const interfaceLocked = ours
      ? false
      : yield* netlink.lockInterface(name).pipe(
          Effect.flatMap((lock) => lock.release),
          Effect.as(false),
          Effect.orElseSucceed(() => true)
        )
    return {
      addresses,
      existingLink: Option.match(existing, { onNone: () => undefined, onSome: (link) => ({ kind: link.kind }) }),
      interfaceLocked,
      iptablesRestore: !loaded.config.vxlan.filter || (onPath("iptables-restore") && onPath("ip6tables-restore"))
    } satisfies HostFacts
  })

export const preflight = (loaded: LoadedConfig, running?: LoadedConfig): Effect.Effect<ReadonlyArray<ConfigProblem>, never, Netlink> =>
  factsFor(loaded, running).pipe(Effect.map((facts) => hostProblems(loaded, facts)))
