import { ConfigSource, type LoadedConfig, networkView } from "@kubelan/config"
import { Discovery, type MembershipSnapshot } from "@kubelan/discovery"
import { Netlink } from "@kubelan/netlink"
import { Events, Hooks, Metrics, Reconciler, Status } from "@kubelan/reconciler"
import { Context, Effect, Layer, Stream } from "effect"

/**
 * One reconcile loop per network, each with its own view of the config (its network's
 * settings at the top level), of the membership (its services only), its own status and, when
 * the config lists networks, metrics labelled with its name. The kernel, the hooks' queue, the
 * membership source and the Events are shared.
 */
export interface RunningNetwork {
  readonly name: string
  readonly status: Status.Status["Service"]
}

export class Networks extends Context.Service<
  Networks,
  {
    readonly all: ReadonlyArray<RunningNetwork>
    /** The config used the `networks` list: the HTTP answers name each network. */
    readonly listed: boolean
  }
>()("@kubelan/agent/Networks") {}

/** The loaded config as one network sees it; a network a reload dropped keeps its running settings (Reload.ts). */
const viewOf = (loaded: LoadedConfig, name: string): LoadedConfig => {
  const network = loaded.config.networks.find((candidate) => candidate.name === name) ?? loaded.config.networks[0]
  return network === undefined ? loaded : { ...loaded, config: networkView(loaded.config, network) }
}

/** The membership of some services only; the same input gives the same object (the planner's cache keys on it). */
const restricter = () => {
  let last: { readonly from: MembershipSnapshot; readonly key: string; readonly to: MembershipSnapshot } | undefined
  return (snapshot: MembershipSnapshot, services: ReadonlyArray<string>): MembershipSnapshot => {
    const key = services.join(" ")
    if (last?.from === snapshot && last.key === key) return last.to
    const to = { services: new Map([...snapshot.services].filter(([service]) => services.includes(service))) }
    last = { from: snapshot, key, to }
    return to
  }
}

export const layer = (
  backend: string
): Layer.Layer<Networks, unknown, ConfigSource.ConfigSource | Discovery | Netlink | Hooks.Hooks | Metrics.Metrics | Events.EventRecorder> =>
  Layer.effect(
    Networks,
    Effect.gen(function* () {
      const source = yield* ConfigSource.ConfigSource
      const discovery = yield* Discovery
      const shared = Layer.mergeAll(
        Layer.succeed(Netlink, yield* Netlink),
        Layer.succeed(Hooks.Hooks, yield* Hooks.Hooks),
        Layer.succeed(Events.EventRecorder, yield* Events.EventRecorder)
      )
      const metrics = yield* Metrics.Metrics
      const { config } = yield* source.current
      const all: Array<RunningNetwork> = []
      for (const network of config.networks) {
        const view = ConfigSource.ConfigSource.of({
          current: Effect.map(source.current, (loaded) => viewOf(loaded, network.name)),
          changes: Stream.map(source.changes, (loaded) => viewOf(loaded, network.name)),
          reload: source.reload
        })
        const restrict = restricter()
        const membership = config.networksListed
          ? Discovery.of({
              backend: discovery.backend,
              snapshots: Stream.mapEffect(discovery.snapshots, (snapshot) =>
                Effect.map(view.current, (loaded) => restrict(snapshot, loaded.config.services))
              )
            })
          : discovery
        const registry = config.networksListed ? Metrics.labelled(metrics, { network: network.name }) : metrics
        const context = yield* Layer.build(
          Reconciler.layer.pipe(
            Layer.provideMerge(
              Layer.mergeAll(
                shared,
                Layer.succeed(ConfigSource.ConfigSource, view),
                Layer.succeed(Discovery, membership),
                Layer.succeed(Metrics.Metrics, registry),
                Status.layer(backend)
              )
            )
          )
        )
        all.push({ name: network.name, status: Context.get(context, Status.Status) })
      }
      return Networks.of({ all, listed: config.networksListed })
    })
  )
