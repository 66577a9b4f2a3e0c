import { randomBytes } from "node:crypto"
import { ConfigSource, type KubelanConfig } from "@kubelan/config"
import { Discovery, type MembershipSnapshot } from "@kubelan/discovery"
import { type Claim, type InterfaceLock, Netlink, type Underlay } from "@kubelan/netlink"
import { Cause, Context, Deferred, Duration, Effect, FiberHandle, Layer, Queue, Ref, Schedule, Stream } from "effect"
import { announcementRepeats, planAnnouncement } from "./Announcements.ts"
import { EventRecorder } from "./Events.ts"
import { Hooks } from "./Hooks.ts"
import { count, gauge, Metrics, metricNames } from "./Metrics.ts"
import {
  announcementKey,
  type Cue,
  duplicateClaims,
  type FdbPlan,
  type FilterPlan,
  type InterfacePlan,
  initialState,
  type LoopState,
  needsPass,
  needsUnderlay,
  newlyFiltered,
  passTrigger,
  planAddresses,
  planFdb,
  planFilter,
  planInterface,
  readsFor,
  statusAfter,
  type Trigger
} from "./Plan.ts"
import { Status } from "./Status.ts"
import { utcTimestamp } from "./UtcTimestamp.ts"

export type { Trigger } from "./Plan.ts"

export class Reconciler extends Context.Service<
  Reconciler,
  {
    /** Ask for a pass now. The loop cues itself on every event; this is for callers outside it. */
    readonly trigger: (reason: Trigger) => Effect.Effect<void>
  }
>()("@kubelan/reconciler/Reconciler") {}

/** Duplicates (address, other MAC) remembered as reported; past this the memory starts over. */
const maxReportedDuplicates = 256

/** How many addresses a log line lists before it only counts. */
const logSample = 20

/**
 * A failed pass is retried after 250 ms, then twice as long each time up to 30 s, as client-go's
 * rate-limited requeue does: a kernel that keeps refusing is not hammered, nor its error logged
 * in full every second.
 */
export const retrySchedule = Schedule.min([Schedule.exponential("250 millis"), Schedule.spaced("30 seconds")])

const firstLine = (text: string) => text.split("\n")[0] ?? text

const make = Effect.gen(function* () {
  const netlink = yield* Netlink
  const discovery = yield* Discovery
  const configSource = yield* ConfigSource.ConfigSource
  const hooks = yield* Hooks
  const status = yield* Status
  const metrics = yield* Metrics
  const events = yield* EventRecorder
  for (const [name, type, help] of Object.values(metricNames)) metrics.declare(name, type, help)

  // Cues for a pass, and what other agents announce (the loop checks it against its own addresses).
  const cues = yield* Queue.unbounded<Cue | { readonly claim: Claim }>()
  const cue = (reason: Cue) => Queue.offer(cues, reason).pipe(Effect.asVoid)
  /** This agent's id in its announcements: its own, heard back, is no duplicate. */
  const instance = randomBytes(8).toString("hex")
  const latestSnapshot = yield* Ref.make<MembershipSnapshot | undefined>(undefined)
  const retryTimer = yield* FiberHandle.make<void, never>()
  // The first pass waits (briefly) for the kernel monitor: a change between them would go unseen.
  const monitorListening = yield* Deferred.make<void>()
  // The announcements of the interface as it is now: a newer one replaces those still to come.
  const announcer = yield* FiberHandle.make<void, never>()
  const reportedAnnounceProblems = yield* Ref.make(new Set<string>())
  // One agent per interface: a second one in the namespace stops here, before touching anything.
  let lock: InterfaceLock = yield* netlink.lockInterface((yield* configSource.current).config.vxlan.interface)
  /** The name given up by a rename, held until its interface is gone. */
  let retiring: InterfaceLock | undefined

  /** Makes the interface match the plan: create, adopt, or recreate; runs `up` unless adopted. */
  const ensureInterface = Effect.fnUntraced(function* (
    config: KubelanConfig,
    underlay: Underlay,
    plan: Extract<InterfacePlan, { kind: "ensure" }>,
    state: LoopState
  ) {
    const { spec } = plan
    // A new name is taken before the old interface goes, and the old name let go only after.
    if (lock.name !== spec.name) {
      const next = yield* netlink.lockInterface(spec.name)
      retiring = lock
      lock = next
    }
    if (plan.renamedFrom !== undefined) {
      yield* netlink.deleteVxlan(plan.renamedFrom)
      yield* Effect.logInfo("deleted the old interface after a rename", { old: plan.renamedFrom, new: spec.name })
    }
    if (retiring !== undefined) {
      yield* retiring.release
      retiring = undefined
    }
    const result = yield* netlink.ensureVxlan(spec)
    const previous = state.applied
    const action = result.action === "adopted" && previous?.ifindex === result.ifindex ? previous.action : result.action
    yield* count("interfaceEnsures", { action: result.action })
    const fields = { interface: spec.name, ifindex: result.ifindex, vni: spec.vni, port: spec.port, local: spec.local, mtu: spec.mtu }
    if (result.action === "recreated") {
      yield* Effect.logWarning(`recreated interface ${spec.name}: ${result.reasons.join(", ")}`, fields)
      yield* events.record({
        type: "Warning",
        reason: "InterfaceRecreated",
        action: "Recreate",
        note: `recreated interface ${spec.name} (its peers' traffic paused while it was made again): ${result.reasons.join(", ")}`
      })
    } else if (result.action === "created") yield* Effect.logInfo(`created interface ${spec.name}`, fields)
    else if (plan.changed) yield* Effect.logInfo(`adopted interface ${spec.name}`, fields)
    const runsUp = result.action !== "adopted" && config.hooks.up.length > 0
    yield* status.update((current) => ({
      ...current,
      started: true,
      upHooksPending: current.upHooksPending + (runsUp ? 1 : 0),
      interface: { ...fields, name: spec.name, action }
    }))
    if (runsUp)
      yield* hooks.enqueue({
        hook: "up",
        argv: config.hooks.up,
        env: { IFACE: spec.name },
        timeoutMillis: config.hooks.timeoutMillis,
        // The hook may have given the interface addresses: look, and announce them.
        finished: status
          .update((current) => ({ ...current, upHooksPending: current.upHooksPending - 1 }))
          .pipe(Effect.andThen(cue("up-hook")))
      })
    yield* gauge("up", 1)
    const made = result.action !== "adopted"
    const addresses = yield* ensureAddresses(config, spec.name, result.addresses, state.assigned)
    const next: LoopState = {
      ...state,
      assigned: new Set(config.vxlan.addresses),
      applied: { spec, underlay, ipSetting: config.ip, ifindex: result.ifindex, action, addresses },
      // A link made just now has an empty FDB; an adopted one keeps what the last pass knew.
      known: made ? [] : state.known
    }
    return { next, made }
  })

  /** Gives the interface its configured addresses (and takes back those no longer configured); answers what it has then. */
  const ensureAddresses = Effect.fnUntraced(function* (
    config: KubelanConfig,
    name: string,
    has: ReadonlyArray<string>,
    assigned: ReadonlySet<string>
  ) {
    const plan = planAddresses(config.vxlan.addresses, has, assigned)
    if (plan.add.length === 0 && plan.remove.length === 0) return has
    yield* netlink.changeAddresses(name, plan)
    const repaired = new Set(plan.repaired)
    const fresh = plan.add.filter((cidr) => !repaired.has(cidr))
    if (plan.repaired.length > 0)
      yield* Effect.logWarning(`restored address ${plan.repaired.join(", ")} on ${name}: it was removed by someone else`)
    if (fresh.length > 0) yield* Effect.logInfo(`assigned address ${fresh.join(", ")} to ${name}`)
    if (plan.remove.length > 0) yield* Effect.logInfo(`removed address ${plan.remove.join(", ")} from ${name}: no longer configured`)
    yield* count("addressesAssigned", { reason: "repaired" }, plan.repaired.length)
    yield* count("addressesAssigned", { reason: "new" }, fresh.length)
    return plan.after
  })

  /** Announces the interface now and again a little later; what cannot be sent is said once. */
  const announce = (name: string, mac: string | undefined, addresses: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      // The kernel's own MAC when none is configured: peers compare claims by it.
      const linkMac =
        mac ??
        (yield* netlink.readLink(name).pipe(
          Effect.map((link) => (link._tag === "Some" ? link.value.mac : undefined)),
          Effect.orElseSucceed(() => undefined)
        ))
      const plan = planAnnouncement(name, linkMac, addresses, instance)
      const once = netlink.announce(name, plan).pipe(
        Effect.tap((sent) =>
          Effect.gen(function* () {
            yield* count("announcements", { kind: "datagram", result: "sent" }, sent.datagrams)
            yield* count("announcements", { kind: "datagram", result: "failed" }, plan.datagrams.length - sent.datagrams)
            yield* count("announcements", { kind: "gratuitous_arp", result: "sent" }, sent.gratuitousArps)
            yield* count("announcements", { kind: "gratuitous_arp", result: "failed" }, plan.arp.length - sent.gratuitousArps)
            const reported = yield* Ref.get(reportedAnnounceProblems)
            const fresh = sent.problems.filter((problem) => !reported.has(problem))
            if (fresh.length > 0) {
              yield* Ref.set(reportedAnnounceProblems, new Set([...reported, ...fresh]))
              yield* Effect.logInfo(`announcing ${name}: ${fresh.join("; ")}`)
            }
          })
        )
      )
      yield* Effect.logDebug(`announcing ${name}`, { mac: linkMac, addresses })
      yield* once
      for (const delay of announcementRepeats) {
        yield* Effect.sleep(delay)
        yield* once
      }
    })

  /** Writes or takes away the member filter; answers what the loop then knows of it. */
  const applyFilterPlan = Effect.fnUntraced(function* (plan: FilterPlan, known: LoopState["filter"], services: ReadonlyArray<string>) {
    if (plan.kind === "keep") return known
    if (plan.kind === "remove" || plan.replaces !== undefined) {
      const old = plan.kind === "remove" ? plan.filter : (plan.replaces as NonNullable<LoopState["filter"]>)
      yield* netlink.removeMemberFilter(old.name, old.family)
      yield* Effect.logInfo(`removed the VXLAN filter of ${old.name}`)
      if (plan.kind === "remove") {
        yield* gauge("filterMembers", 0)
        return undefined
      }
    }
    const { spec } = plan
    const filter = yield* netlink.applyMemberFilter(spec)
    if (known === undefined || known.name !== spec.name)
      yield* Effect.logInfo(`VXLAN filter on ${spec.name}: port ${spec.port} accepts ${spec.members.length} members, drops the rest`)
    yield* gauge("filterMembers", spec.members.length)
    yield* gauge("filterDropped", filter.dropped)
    // Someone sends VXLAN here who is not a member: a misconfigured pod, or a Service that lost it.
    for (const source of newlyFiltered(known?.name === spec.name ? known.droppedFrom : undefined, filter.droppedFrom)) {
      yield* Effect.logWarning(`the VXLAN filter on ${spec.name} dropped packets from ${source}, which is not a member`)
      yield* events.record({
        type: "Warning",
        reason: "VxlanFiltered",
        action: "Filter",
        note: `dropped VXLAN packets on ${spec.name} from ${source}, which is not a member of ${services.join(", ") || "any configured service"}`
      })
    }
    return { name: spec.name, family: spec.family, key: plan.key, droppedFrom: filter.droppedFrom }
  })

  /** Another agent claims one of this interface's addresses: say so once, and announce, so that it hears of it too. */
  const checkClaim = Effect.fnUntraced(function* (claim: Claim, state: LoopState) {
    const applied = state.applied
    if (applied === undefined) return state
    const duplicates = duplicateClaims(applied.addresses, instance, claim, state.reportedDuplicates)
    if (duplicates.length === 0) return state
    for (const { address } of duplicates) {
      const note = `${address} on ${applied.spec.name} is claimed by another member too (MAC ${claim.mac}, from ${claim.from}): two members answer ARP for it`
      yield* Effect.logWarning(`duplicate overlay address: ${note}`)
      yield* events.record({ type: "Warning", reason: "DuplicateAddress", action: "Announce", note })
    }
    yield* FiberHandle.run(announcer, announce(applied.spec.name, applied.spec.mac, applied.addresses))
    // Anyone on the overlay can send claims: what is remembered is bounded (the Events are rate-limited too).
    const reported = state.reportedDuplicates.size >= maxReportedDuplicates ? new Set<string>() : state.reportedDuplicates
    return { ...state, reportedDuplicates: new Set([...reported, ...duplicates.map(({ key }) => key)]) }
  })

  /** Runs what the FDB plan asks for: one batch, the hooks, the log lines, status and metrics. */
  const applyFdbPlan = Effect.fnUntraced(function* (config: KubelanConfig, name: string, plan: FdbPlan, snapshot: MembershipSnapshot) {
    for (const skip of plan.newSkips) {
      yield* Effect.logWarning(`skipped endpoint ${JSON.stringify(skip.address)} of ${skip.service}: ${skip.reason}`)
      yield* count("skippedEndpoints", { service: skip.service, reason: skip.reason })
    }
    yield* netlink.applyFdb(name, plan.diff)
    if (plan.diff.add.length > 0 || plan.diff.remove.length > 0)
      yield* Effect.logInfo("programmed FDB", {
        interface: name,
        added: plan.diff.add.length,
        removed: plan.diff.remove.length,
        // A sample keeps the line readable when thousands of peers change at once.
        addedSample: plan.diff.add.slice(0, logSample),
        removedSample: plan.diff.remove.slice(0, logSample)
      })
    for (const change of plan.changes)
      yield* hooks.enqueue({
        hook: "change",
        argv: config.hooks.change,
        env: { IFACE: name, SERVICE: change.service, IPS: change.ips.join(" "), DELETED: String(change.deleted) },
        timeoutMillis: config.hooks.timeoutMillis
      })
    if (plan.becomesReady) yield* Effect.logInfo("ready: first full membership sync programmed", { peers: plan.programmed.length })
    yield* status.update((current) => statusAfter(current, plan, snapshot))
    yield* count("fdbAdded", {}, plan.diff.add.length)
    yield* count("fdbRemoved", {}, plan.diff.remove.length)
    yield* gauge("ready", plan.state.ready ? 1 : 0)
    yield* gauge("peersDesired", plan.desired.peers.size)
    yield* gauge("peersProgrammed", plan.programmed.length)
    metrics.replaceGauge(
      metricNames.servicePeers[0],
      metricNames.servicePeers[2],
      [...plan.desired.byService].map(([service, peers]) => ({ labels: { service }, value: peers.size }))
    )
  })

  /** One pass over a batch of cues: read what the cues call for, decide, write the difference. */
  const pass = Effect.fnUntraced(function* (batch: ReadonlyArray<Cue>, state: LoopState) {
    const started = Date.now()
    const reads = readsFor(batch, state)
    const { config } = yield* configSource.current
    const underlay =
      needsUnderlay(config, state, reads) || state.applied === undefined ? yield* netlink.detectUnderlay(config.ip) : state.applied.underlay
    const interfacePlan = planInterface(config, underlay, state, reads)
    const ensured = interfacePlan.kind === "ensure" ? yield* ensureInterface(config, underlay, interfacePlan, state) : undefined
    let next = ensured?.next ?? state
    // An interface made in this pass has an empty FDB: nothing to read.
    const made = ensured?.made ?? false
    const snapshot = yield* Ref.get(latestSnapshot)
    let outcome = { added: 0, removed: 0 }
    if (snapshot !== undefined) {
      const kernel = next.known !== undefined && (made || !reads.fdb) ? next.known : yield* netlink.readFdb(interfacePlan.spec.name)
      const plan = planFdb({ config, underlay, snapshot, kernel, state: next })
      // The filter first: a new member is accepted by the time its FDB entry is there.
      const filter = yield* applyFilterPlan(planFilter(config, underlay, plan.programmed, next, reads.fdb), next.filter, config.services)
      yield* applyFdbPlan(config, interfacePlan.spec.name, plan, snapshot)
      next = { ...plan.state, filter }
      outcome = { added: plan.diff.add.length, removed: plan.diff.remove.length }
    }
    // A new interface, or new addresses on it: tell the peers, once there are flood entries to carry it.
    const applied = next.applied
    const key = applied && announcementKey(applied.ifindex, applied.addresses, next.known?.length ?? 0)
    if (applied !== undefined && key !== undefined && key !== next.announced && config.vxlan.announce) {
      yield* FiberHandle.run(announcer, announce(applied.spec.name, applied.spec.mac, applied.addresses))
      next = { ...next, announced: key }
    }
    yield* gauge("reconcileSeconds", (Date.now() - started) / 1000)
    return { next, outcome }
  })

  /** The loop: the only fiber that reads or writes the loop's state. */
  const loop = Effect.gen(function* () {
    let state = initialState
    let retryStep = yield* Schedule.toStep(retrySchedule)
    const shutdown = Effect.suspend(() => {
      const applied = state.applied
      const filter = state.filter
      const removeFilter =
        filter === undefined
          ? Effect.void
          : netlink
              .removeMemberFilter(filter.name, filter.family)
              .pipe(Effect.catchCause((cause) => Effect.logError(`could not remove the VXLAN filter: ${Cause.pretty(cause)}`)))
      if (applied === undefined) return removeFilter.pipe(Effect.andThen(lock.release))
      // SIGINT/SIGTERM close the scope: remove the interface, as the original did.
      return netlink.deleteVxlan(applied.spec.name).pipe(
        Effect.tap(() => Effect.logInfo(`deleted interface ${applied.spec.name}`)),
        Effect.catchCause((cause) => Effect.logError(`could not delete interface ${applied.spec.name}: ${Cause.pretty(cause)}`)),
        Effect.andThen(removeFilter),
        Effect.andThen(lock.release)
      )
    })
    const run = Effect.gen(function* () {
      yield* Deferred.await(monitorListening).pipe(Effect.timeoutOption("2 seconds"))
      for (;;) {
        const taken = yield* Queue.takeAll(cues)
        const batch: Array<Cue> = []
        for (const input of taken) {
          if (typeof input === "string" || !("claim" in input)) batch.push(input)
          else state = yield* checkClaim(input.claim, state)
        }
        // The kernel echoing this agent's own batch is no news: nothing to read, nothing to do.
        if (batch.length === 0 || !needsPass(batch, state)) continue
        const trigger = passTrigger(batch)
        const result = yield* Effect.exit(pass(batch, state))
        const at = utcTimestamp(Date.now())
        if (result._tag === "Success") {
          const recovered = state.failures > 0
          state = { ...result.value.next, failures: 0, lastError: undefined }
          if (recovered) {
            yield* Effect.logInfo("reconcile succeeded again", { trigger })
            retryStep = yield* Schedule.toStep(retrySchedule)
            yield* FiberHandle.clear(retryTimer)
          }
          yield* count("reconciles", { trigger, result: "ok" })
          yield* status.update((current) => ({ ...current, lastReconcile: { at, trigger, ...result.value.outcome, error: undefined } }))
          continue
        }
        // Shutdown interrupts a pass in flight: that is not a failure to report or retry.
        if (Cause.hasInterruptsOnly(result.cause)) return yield* Effect.failCause(result.cause)
        const error = Cause.pretty(result.cause)
        const [, delay] = yield* retryStep(Date.now(), undefined).pipe(Effect.orElseSucceed(() => [0, Duration.seconds(30)] as const))
        const wait = Duration.format(delay)
        const failures = state.failures + 1
        if (error === state.lastError)
          yield* Effect.logWarning(`reconcile still failing (${failures} passes), retrying in ${wait}: ${firstLine(error)}`, { trigger })
        else yield* Effect.logError(`reconcile failed, retrying in ${wait}: ${error}`, { trigger })
        state = { ...state, known: undefined, failures, lastError: error }
        yield* count("reconciles", { trigger, result: "error" })
        yield* status.update((current) => ({ ...current, lastReconcile: { at, trigger, added: 0, removed: 0, error } }))
        yield* FiberHandle.run(retryTimer, Effect.sleep(delay).pipe(Effect.andThen(cue("retry"))))
      }
    })
    return yield* run.pipe(Effect.ensuring(shutdown))
  })

  // Membership and config feed the loop; each only records the latest value and cues a pass.
  yield* discovery.snapshots.pipe(
    Stream.runForEach((snapshot) => Ref.set(latestSnapshot, snapshot).pipe(Effect.andThen(cue("membership")))),
    Effect.forkScoped
  )
  yield* configSource.changes.pipe(
    Stream.drop(1),
    Stream.runForEach(() => count("configReloads").pipe(Effect.andThen(cue("config")))),
    Effect.forkScoped
  )
  // Kernel events repair drift within moments; the resync tick catches anything they miss.
  yield* configSource.changes.pipe(
    Stream.map((loaded) => `${loaded.config.vxlan.interface}${loaded.config.vxlan.addresses.length > 0 ? " addresses" : ""}`),
    Stream.changes,
    Stream.switchMap((watched) => {
      const [name = "", addresses] = watched.split(" ")
      // Every start of the monitor opens with `listening`, a cue that reads everything (no link
      // named), as a resync would: a monitor started again may have missed changes while down.
      return netlink.changes(name, { addresses: addresses !== undefined }).pipe(
        Stream.tapError((error) => Effect.logWarning(`kernel monitor for ${name} failed, restarting it in 1s: ${error.message}`)),
        Stream.retry(Schedule.spaced("1 second"))
      )
    }),
    // The cue first, then the first pass may start: it takes the cue in its batch.
    Stream.runForEach((change) =>
      cue(
        change.kind === "link"
          ? change.link === undefined
            ? "kernel-link"
            : { trigger: "kernel-link", link: change.link }
          : change.kind === "address"
            ? "kernel-address"
            : change.entries === undefined
              ? "kernel-fdb"
              : { trigger: "kernel-fdb", entries: change.entries }
      ).pipe(Effect.andThen(change.listening === true ? Deferred.succeed(monitorListening, undefined) : Effect.void))
    ),
    Effect.forkScoped
  )
  yield* Effect.gen(function* () {
    const { config } = yield* configSource.current
    yield* Effect.sleep(config.resyncIntervalMillis)
    yield* cue("resync")
  }).pipe(Effect.forever, Effect.forkScoped)

  // What other agents announce on the interface, for the loop to check against its own addresses.
  yield* configSource.changes.pipe(
    Stream.map((loaded) => loaded.config.vxlan.interface),
    Stream.changes,
    Stream.switchMap((name) => netlink.claims(name)),
    Stream.runForEach((claim) => Queue.offer(cues, { claim })),
    Effect.forkScoped
  )
  yield* Effect.forkScoped(loop)
  yield* cue("start")
  return Reconciler.of({ trigger: cue })
})

export const layer = Layer.effect(Reconciler, make)
