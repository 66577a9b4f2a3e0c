import { Context, Effect, Layer, Ref } from "effect"
import { byCodePoint } from "./CodePointOrder.ts"

export interface InterfaceStatus {
  readonly name: string
  readonly ifindex: number
  readonly vni: number
  readonly port: number
  readonly local: string
  readonly mtu: number
  /** How the running agent got the interface: created, adopted or recreated. */
  readonly action: string
}

export interface ServiceStatus {
  readonly synced: boolean
  readonly endpoints: number
  readonly peers: ReadonlySet<string>
}

export interface LastReconcile {
  readonly at: string
  readonly trigger: string
  readonly added: number
  readonly removed: number
  readonly error: string | undefined
}

/** What the HTTP endpoints show: the reconciler writes it, nothing else does. */
export interface AgentStatus {
  /** The interface exists and is up (`/health`). */
  readonly started: boolean
  /** The first full membership sync has been programmed. */
  readonly ready: boolean
  /** `up` hooks queued or running: until they finish, the addresses they set may be missing. */
  readonly upHooksPending: number
  readonly backend: string
  readonly interface: InterfaceStatus | undefined
  /** Peer → services listing it. */
  readonly desired: ReadonlyMap<string, ReadonlySet<string>>
  readonly programmed: ReadonlyArray<string>
  readonly services: ReadonlyMap<string, ServiceStatus>
  readonly lastReconcile: LastReconcile | undefined
}

export const initialStatus = (backend: string): AgentStatus => ({
  started: false,
  ready: false,
  upHooksPending: 0,
  backend,
  interface: undefined,
  desired: new Map(),
  programmed: [],
  services: new Map(),
  lastReconcile: undefined
})

export class Status extends Context.Service<
  Status,
  {
    readonly get: Effect.Effect<AgentStatus>
    readonly update: (f: (status: AgentStatus) => AgentStatus) => Effect.Effect<void>
  }
>()("@kubelan/reconciler/Status") {}

export const layer = (backend: string) =>
  Layer.effect(
    Status,
    Effect.gen(function* () {
      const ref = yield* Ref.make(initialStatus(backend))
      return Status.of({ get: Ref.get(ref), update: (f) => Ref.update(ref, f) })
    })
  )

/**
 * Why the agent is not ready (`/readyz` 503), or undefined when it is: the interface is up, the
 * first full membership is programmed and the `up` hook has finished, so a pod that waits for
 * kubelan (a native sidecar's startup probe) finds its L2 network as configured.
 */
export const notReadyReason = (status: AgentStatus): string | undefined =>
  !status.started
    ? "the interface is not up yet"
    : !status.ready
      ? "the first membership sync is not programmed yet"
      : status.upHooksPending > 0
        ? "the up hook has not finished yet"
        : undefined

/** The JSON `/peers` shows. */
export const peersDocument = (status: AgentStatus) => ({
  ready: status.ready,
  backend: status.backend,
  interface: status.interface ?? null,
  desired: [...status.desired]
    .map(([address, services]) => ({ address, services: [...services].sort(byCodePoint) }))
    .sort((a, b) => byCodePoint(a.address, b.address)),
  programmed: status.programmed,
  services: Object.fromEntries(
    [...status.services].map(([name, service]) => [name, { ...service, peers: [...service.peers].sort(byCodePoint) }])
  ),
  last_reconcile: status.lastReconcile ?? null
})
