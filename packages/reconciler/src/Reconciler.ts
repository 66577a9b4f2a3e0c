import { ConfigSource, type KubelanConfig } from "@kubelan/config"
import { Discovery, isFullySynced, type MembershipSnapshot } from "@kubelan/discovery"
import { Netlink, type Underlay, type VxlanSpec, vxlanMtu } from "@kubelan/netlink"
import { Cause, Context, Effect, Layer, Queue, Ref, Schedule, Stream } from "effect"
import { desiredPeers } from "./desiredPeers.ts"
import { diffPeers } from "./diffPeers.ts"
import { Hooks } from "./Hooks.ts"
import { count, gauge, Metrics, metricNames } from "./Metrics.ts"
import { Status } from "./Status.ts"
import { serviceChanges } from "./serviceChanges.ts"

/** Why a pass runs. Only a cue: every pass recomputes from the latest config and membership. */
export type Trigger = "start" | "config" | "membership" | "kernel-link" | "kernel-fdb" | "resync" | "retry"

/** The interface as this agent last made or adopted it. */
interface Applied {
  readonly spec: VxlanSpec
  readonly underlay: Underlay
  /** The `ip` setting the underlay was detected for. */
  readonly ipSetting: string
  readonly ifindex: number
  /** How this agent got this ifindex: a later check that adopts it does not change that. */
  readonly action: string
}

interface LoopState {
  applied: Applied | undefined
  /** Read the link before touching the FDB: set at start, on link events, reloads and errors. */
  checkLink: boolean
  /**
   * The FDB as this agent last read or wrote it. Someone else's change always arrives as a
   * kernel event, which clears it; until then a membership change needs no read of the kernel.
   */
  known: ReadonlySet<string> | undefined
  byService: ReadonlyMap<string, ReadonlySet<string>>
  reportedSkips: Set<string>
  ready: boolean
}

export class Reconciler extends Context.Service<
  Reconciler,
  {
    /** Ask for a pass now. The loop cues itself on every event; this is for callers outside it. */
    readonly trigger: (reason: Trigger) => Effect.Effect<void>
  }
>()("@kubelan/reconciler/Reconciler") {}

/** How many addresses a log line lists before it only counts. */
const logSample = 20

const specFor = (config: KubelanConfig, underlay: Underlay): VxlanSpec => ({
  name: config.vxlan.interface,
  vni: config.vxlan.vni,
  port: config.vxlan.port,
  local: underlay.address,
  mtu: config.vxlan.mtu === -1 ? vxlanMtu(underlay) : config.vxlan.mtu
})

const sameSpec = (a: VxlanSpec, b: VxlanSpec) =>
  a.name === b.name && a.vni === b.vni && a.port === b.port && a.local === b.local && a.mtu === b.mtu

const make = Effect.gen(function* () {
  const netlink = yield* Netlink
  const discovery = yield* Discovery
  const configSource = yield* ConfigSource.ConfigSource
  const hooks = yield* Hooks
  const status = yield* Status
  const metrics = yield* Metrics
  for (const [name, type, help] of Object.values(metricNames)) metrics.declare(name, type, help)

  const triggers = yield* Queue.unbounded<Trigger>()
  const latestSnapshot = yield* Ref.make<MembershipSnapshot | undefined>(undefined)
  const state: LoopState = {
    applied: undefined,
    checkLink: true,
    known: undefined,
    byService: new Map(),
    reportedSkips: new Set(),
    ready: false
  }
  /**
   * Cues a pass. Only a membership change may trust what the agent last programmed; any other
   * cue reads the FDB again, and all but an FDB event also check the link.
   */
  const trigger = (reason: Trigger) =>
    Effect.suspend(() => {
      if (reason !== "membership") {
        state.known = undefined
        if (reason !== "kernel-fdb") state.checkLink = true
      }
      return Queue.offer(triggers, reason).pipe(Effect.asVoid)
    })

  /** Makes the interface match the config: create, adopt, or recreate; runs `up` unless adopted. */
  const ensureInterface = Effect.fnUntraced(function* (config: KubelanConfig) {
    const previous = state.applied
    const underlay =
      previous !== undefined && previous.ipSetting === config.ip ? previous.underlay : yield* netlink.detectUnderlay(config.ip)
    const spec = specFor(config, underlay)
    if (previous !== undefined && sameSpec(previous.spec, spec) && !state.checkLink) return spec
    if (previous !== undefined && previous.spec.name !== spec.name) {
      yield* netlink.deleteVxlan(previous.spec.name)
      yield* Effect.logInfo("deleted the old interface after a rename", { old: previous.spec.name, new: spec.name })
    }
    const result = yield* netlink.ensureVxlan(spec)
    const action = result.action === "adopted" && previous?.ifindex === result.ifindex ? previous.action : result.action
    state.applied = { spec, underlay, ipSetting: config.ip, ifindex: result.ifindex, action }
    state.checkLink = false
    if (result.action !== "adopted") state.known = undefined
    yield* count("interfaceEnsures", { action: result.action })
    const fields = { interface: spec.name, ifindex: result.ifindex, vni: spec.vni, port: spec.port, local: spec.local, mtu: spec.mtu }
    if (result.action === "recreated") yield* Effect.logWarning(`recreated interface ${spec.name}: ${result.reasons.join(", ")}`, fields)
    else if (result.action === "created") yield* Effect.logInfo(`created interface ${spec.name}`, fields)
    else if (previous === undefined || !sameSpec(previous.spec, spec)) yield* Effect.logInfo(`adopted interface ${spec.name}`, fields)
    if (result.action !== "adopted")
      yield* hooks.enqueue({ hook: "up", argv: config.hooks.up, env: { IFACE: spec.name }, timeoutMillis: config.hooks.timeoutMillis })
    yield* status.update((current) => ({
      ...current,
      started: true,
      interface: { name: spec.name, ifindex: result.ifindex, vni: spec.vni, port: spec.port, local: spec.local, mtu: spec.mtu, action }
    }))
    yield* gauge("up", 1)
    return spec
  })

  /** Programs the FDB to the membership: one read, one batched write of the difference. */
  const convergeFdb = Effect.fnUntraced(function* (config: KubelanConfig, spec: VxlanSpec, snapshot: MembershipSnapshot) {
    const underlay = state.applied?.underlay
    if (underlay === undefined) return { added: 0, removed: 0 }
    const desired = desiredPeers(snapshot, { self: underlay.address, family: underlay.family, include: config.peers.include })
    for (const skip of desired.skipped) {
      const key = `${skip.service}|${skip.address}|${skip.reason}`
      if (state.reportedSkips.has(key)) continue
      state.reportedSkips.add(key)
      yield* Effect.logWarning(`skipped endpoint ${JSON.stringify(skip.address)} of ${skip.service}: ${skip.reason}`)
      yield* count("skippedEndpoints", { service: skip.service, reason: skip.reason })
    }
    const synced = isFullySynced(snapshot)
    const actual = state.known === undefined ? yield* netlink.readFdb(spec.name) : [...state.known]
    const diff = diffPeers(desired.peers.keys(), actual)
    // Until every source has listed once, a missing peer may just be unlisted yet: keep it.
    const safe = synced ? diff : { add: diff.add, remove: [] }
    yield* netlink.applyFdb(spec.name, safe)
    if (safe.add.length > 0 || safe.remove.length > 0)
      yield* Effect.logInfo("programmed FDB", {
        interface: spec.name,
        added: safe.add.length,
        removed: safe.remove.length,
        // A sample keeps the line readable when thousands of peers change at once.
        addedSample: safe.add.slice(0, logSample),
        removedSample: safe.remove.slice(0, logSample)
      })
    const removed = new Set(safe.remove)
    const programmed = [...actual.filter((address) => !removed.has(address)), ...safe.add].sort()
    state.known = new Set(programmed)

    for (const change of serviceChanges(state.byService, desired.byService))
      yield* hooks.enqueue({
        hook: "change",
        argv: config.hooks.change,
        env: { IFACE: spec.name, SERVICE: change.service, IPS: change.ips.join(" "), DELETED: String(change.deleted) },
        timeoutMillis: config.hooks.timeoutMillis
      })
    state.byService = desired.byService
    if (synced && !state.ready) {
      state.ready = true
      yield* Effect.logInfo("ready: first full membership sync programmed", { peers: programmed.length })
    }
    yield* status.update((current) => ({
      ...current,
      ready: state.ready,
      programmed,
      desired: new Map([...desired.peers].map(([address, services]) => [address, [...services].sort()])),
      services: new Map(
        [...snapshot.services].map(([name, membership]) => [
          name,
          { synced: membership.synced, endpoints: membership.endpoints.length, peers: [...(desired.byService.get(name) ?? [])].sort() }
        ])
      )
    }))
    yield* count("fdbAdded", {}, safe.add.length)
    yield* count("fdbRemoved", {}, safe.remove.length)
    yield* gauge("ready", state.ready ? 1 : 0)
    yield* gauge("peersDesired", desired.peers.size)
    yield* gauge("peersProgrammed", programmed.length)
    metrics.replaceGauge(
      metricNames.servicePeers[0],
      metricNames.servicePeers[2],
      [...desired.byService].map(([service, peers]) => ({ labels: { service }, value: peers.size }))
    )
    return { added: safe.add.length, removed: safe.remove.length }
  })

  const pass = (reason: Trigger) =>
    Effect.gen(function* () {
      const started = Date.now()
      const { config } = yield* configSource.current
      const spec = yield* ensureInterface(config)
      const snapshot = yield* Ref.get(latestSnapshot)
      const outcome = snapshot === undefined ? { added: 0, removed: 0 } : yield* convergeFdb(config, spec, snapshot)
      yield* gauge("reconcileSeconds", (Date.now() - started) / 1000)
      return outcome
    }).pipe(
      Effect.tap((outcome) =>
        Effect.all([
          count("reconciles", { trigger: reason, result: "ok" }),
          status.update((current) => ({
            ...current,
            lastReconcile: { at: new Date().toISOString(), trigger: reason, ...outcome, error: undefined }
          }))
        ])
      ),
      Effect.catchCause((cause) =>
        Effect.gen(function* () {
          // Shutdown interrupts a pass in flight: that is not a failure to report or retry.
          if (Cause.hasInterruptsOnly(cause)) return yield* Effect.failCause(cause)
          // A pass that failed may have half-applied: the next one, whatever cues it, reads again.
          state.known = undefined
          state.checkLink = true
          const error = Cause.pretty(cause)
          yield* Effect.logError(`reconcile failed, retrying in 1s: ${error}`, { trigger: reason })
          yield* count("reconciles", { trigger: reason, result: "error" })
          yield* status.update((current) => ({
            ...current,
            lastReconcile: { at: new Date().toISOString(), trigger: reason, added: 0, removed: 0, error }
          }))
          yield* trigger("retry").pipe(Effect.delay("1 second"), Effect.forkScoped)
        })
      )
    )

  // Shutdown (SIGINT/SIGTERM close the scope): remove the interface, as the original did.
  // Added before the loop fibers are forked, so it runs after they have stopped.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      const applied = state.applied
      if (applied === undefined) return
      yield* netlink.deleteVxlan(applied.spec.name).pipe(
        Effect.tap(() => Effect.logInfo(`deleted interface ${applied.spec.name}`)),
        Effect.catchCause((cause) => Effect.logError(`could not delete interface ${applied.spec.name}: ${Cause.pretty(cause)}`))
      )
    })
  )
  // Membership and config feed the loop; each only records the latest value and cues a pass.
  yield* discovery.snapshots.pipe(
    Stream.runForEach((snapshot) => Ref.set(latestSnapshot, snapshot).pipe(Effect.andThen(trigger("membership")))),
    Effect.forkScoped
  )
  let firstConfig = true
  yield* configSource.changes.pipe(
    Stream.runForEach(() =>
      Effect.gen(function* () {
        if (!firstConfig) {
          yield* count("configReloads")
          yield* trigger("config")
        }
        firstConfig = false
      })
    ),
    Effect.forkScoped
  )
  // Kernel events repair drift within moments; the resync tick catches anything they miss.
  yield* configSource.changes.pipe(
    Stream.map((loaded) => loaded.config.vxlan.interface),
    Stream.changes,
    Stream.switchMap((name) => netlink.changes(name).pipe(Stream.retry(Schedule.spaced("1 second")))),
    Stream.runForEach((change) => trigger(change.kind === "link" ? "kernel-link" : "kernel-fdb")),
    Effect.forkScoped
  )
  yield* Effect.gen(function* () {
    const { config } = yield* configSource.current
    yield* Effect.sleep(config.resyncIntervalMillis)
    yield* trigger("resync")
  }).pipe(Effect.forever, Effect.forkScoped)

  yield* Effect.gen(function* () {
    const batch = yield* Queue.takeAll(triggers)
    // Coalesce a burst of cues into one pass, named after the most telling one.
    const reason = batch.find((t) => t !== "kernel-fdb") ?? batch[0]
    yield* pass(reason)
  }).pipe(Effect.forever, Effect.forkScoped)

  yield* trigger("start")
  return Reconciler.of({ trigger })
})

export const layer = Layer.effect(Reconciler, make)
