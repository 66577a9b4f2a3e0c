import { type ChildProcess, spawn } from "node:child_process"
import { readdirSync, readFileSync, readlinkSync } from "node:fs"
import { createInterface } from "node:readline"
import type { KubeObject, Store } from "@kubelan/kube-fake"
import { isPodReady, statusOf, watchKind } from "../Api.ts"
import type { Cluster } from "../Cluster.ts"
import { containerProcess, podContainerStatuses } from "../kubelet/Containers.ts"
import type { RunningPod } from "../kubelet/Kubelet.ts"
import { sh } from "../Shell.ts"
import type { FdbHistory, MembershipEvent } from "./Analysis.ts"

/**
 * What a run records while it runs: the probed Service's membership from the API, each agent's
 * FDB from the kernel, pings between sampled pairs over the overlay, and the agents' memory and
 * CPU. Each recorder only appends; the analysis reads the logs when the run is over.
 */

export interface Clock {
  /** Milliseconds since the run started. */
  now(): number
  /** The step running now. */
  step(): string
}

/** The membership of one Service (`namespace/name`) as its EndpointSlices say, every endpoint counted. */
export const recordMembership = (store: Store, service: string, clock: Clock, emit?: (event: MembershipEvent) => void) => {
  const [namespace, name] = service.split("/") as [string, string]
  const slices = new Map<string, ReadonlyArray<string>>()
  const events: Array<MembershipEvent> = []
  let members = new Set<string>()
  const stop = watchKind(store, "endpointslices", (event) => {
    const slice = event.object
    if (slice.metadata.namespace !== namespace || slice.metadata.labels?.["kubernetes.io/service-name"] !== name) return
    const key = slice.metadata.name as string
    if (event.type === "DELETED") slices.delete(key)
    else
      slices.set(
        key,
        ((slice.endpoints ?? []) as Array<{ addresses?: Array<string> }>).flatMap((endpoint) => endpoint.addresses?.slice(0, 1) ?? [])
      )
    const next = new Set([...slices.values()].flat())
    const added = [...next].filter((address) => !members.has(address)).sort()
    const removed = [...members].filter((address) => !next.has(address)).sort()
    if (added.length === 0 && removed.length === 0) return
    members = next
    const recorded = { at: clock.now(), step: clock.step(), added, removed, members: [...next].sort() }
    events.push(recorded)
    emit?.(recorded)
  })
  return { events, stop }
}

/** One agent pod's FDB and the spans in which it was live (running and ready). */
interface AgentRecord {
  readonly pod: string
  readonly uid: string
  readonly self: string
  readonly netns: string
  start: { at: number; entries: ReadonlyArray<string> } | undefined
  readonly changes: Array<{ at: number; dst: string; added: boolean }>
  readonly spans: Array<{ from: number; to: number | undefined }>
  restarts: number
  monitor: ChildProcess | undefined
  /** Times the monitor lost events (the kernel's ENOBUFS) and a dump put the record right. */
  resyncs: number
}

/** Whether a process holds a socket yet: `bridge monitor` makes its netlink socket bound to the FDB group first. */
const hasSocket = (pid: number) => {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")
      } catch {
        return false
      }
    })
  } catch {
    return false
  }
}

const floodLine = /^(Deleted )?00:00:00:00:00:00 dev (\S+) dst (\S+) /

/** The entries after applying the changes in (`from`, `until`] to `start`. */
const replay = (
  start: ReadonlyArray<string>,
  changes: ReadonlyArray<{ at: number; dst: string; added: boolean }>,
  until: number,
  from = -1
) => {
  const entries = new Set(start)
  for (const change of changes) {
    if (change.at <= from || change.at > until) continue
    if (change.added) entries.add(change.dst)
    else entries.delete(change.dst)
  }
  return entries
}

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

/** `Timestamp: Wed Dec  2 16:59:40 2026 765775 usec` (bridge -timestamp, TZ=UTC) in ms since the epoch. */
export const monitorTimestamp = (line: string): number | undefined => {
  const match = /^Timestamp: \w{3} (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4}) (\d+) usec$/.exec(line.trim())
  if (match === null) return undefined
  const [, month, day, hours, minutes, seconds, year, micros] = match
  const index = months.indexOf(month as string)
  if (index === -1) return undefined
  return Date.UTC(Number(year), index, Number(day), Number(hours), Number(minutes), Number(seconds)) + Number(micros) / 1000
}

/** Every real agent's FDB, from `bridge monitor fdb` in its namespace, and when it was live. */
export const recordFdbs = (cluster: Cluster, interfaceName: string, clock: Clock) => {
  const epochOfRunStart = () => Date.now() - clock.now()
  /** The zero-MAC destinations on the interface now; undefined when the dump failed. */
  const dumpFdb = async (netns: string) => {
    const result = await sh("bridge", ["-n", netns, "-json", "fdb", "show", "dev", interfaceName], { allowFailure: true })
    if (result.exitCode !== 0) return undefined
    return (JSON.parse(result.stdout.trim() === "" ? "[]" : result.stdout) as Array<{ mac: string; dst?: string }>)
      .filter((entry) => entry.mac === "00:00:00:00:00:00" && entry.dst !== undefined)
      .map((entry) => entry.dst as string)
  }
  const agents = new Map<string, AgentRecord>()
  const attach = (running: RunningPod) => {
    const record: AgentRecord = {
      pod: `${running.namespace}/${running.name}`,
      uid: running.uid,
      self: running.ip,
      netns: running.netns,
      start: undefined,
      changes: [],
      spans: [],
      restarts: 0,
      monitor: undefined,
      resyncs: 0
    }
    agents.set(running.uid, record)
    // `-timestamp` dates each event when bridge read it from the kernel, in UTC: the simulator may
    // be busy (5,000 pods' controllers) and read the line much later.
    const monitor = spawn("bridge", ["-n", running.netns, "-timestamp", "monitor", "fdb"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TZ: "UTC" }
    })
    monitor.on("error", () => {})
    record.monitor = monitor
    let stamped: number | undefined
    if (monitor.stdout)
      createInterface({ input: monitor.stdout }).on("line", (line) => {
        const stamp = monitorTimestamp(line)
        if (stamp !== undefined) {
          stamped = stamp - epochOfRunStart()
          return
        }
        const match = floodLine.exec(line)
        if (match && match[2] === interfaceName)
          record.changes.push({ at: stamped ?? clock.now(), dst: match[3] as string, added: match[1] === undefined })
        stamped = undefined
      })
    // A burst (an agent programming thousands of peers while the simulator is busy) can overflow
    // the monitor's socket: the kernel drops events and says so once (ENOBUFS). A dump then puts
    // the record right, the missed changes dated at the dump: an upper bound on when they happened.
    let resyncing = false
    const resync = () => {
      if (resyncing) return
      resyncing = true
      const at = clock.now()
      void dumpFdb(running.netns).then((entries) => {
        resyncing = false
        if (entries === undefined || record.start === undefined) return
        const recorded = replay(record.start.entries, record.changes, at, record.start.at)
        const dumped = new Set(entries)
        for (const dst of dumped) if (!recorded.has(dst)) record.changes.push({ at, dst, added: true })
        for (const dst of recorded) if (!dumped.has(dst)) record.changes.push({ at, dst, added: false })
        record.changes.sort((a, b) => a.at - b.at)
        record.resyncs++
      })
    }
    if (monitor.stderr)
      createInterface({ input: monitor.stderr }).on("line", (line) => {
        if (/No buffer space/.test(line)) resync()
      })
    // The dump starts once the monitor has its netlink socket (bound, so subscribed, as it is
    // made): every change after the dump began is then seen, and is replayed on the dump.
    const dumpWhenListening = (tries: number) => {
      const listening = monitor.pid !== undefined && hasSocket(monitor.pid)
      if (!listening && tries > 0) return void setTimeout(() => dumpWhenListening(tries - 1), 20)
      setTimeout(() => {
        const at = clock.now()
        void dumpFdb(running.netns).then((entries) => {
          record.start = { at, entries: entries ?? [] }
        })
      }, 50)
    }
    dumpWhenListening(250)
  }
  const discover = setInterval(() => {
    // Once the agent runs, its namespace exists: a monitor started before would find none.
    for (const kubelet of cluster.kubelets)
      for (const running of kubelet.running())
        if (
          !running.phantom &&
          !agents.has(running.uid) &&
          [...running.containers.values()].some((container) => container.runtime === "agent" && container.child !== undefined)
        )
          attach(running)
  }, 100)
  const openSpan = (record: AgentRecord, at: number) => {
    const last = record.spans.at(-1)
    if (last === undefined || last.to !== undefined) record.spans.push({ from: at, to: undefined })
  }
  const closeSpan = (record: AgentRecord, at: number) => {
    const last = record.spans.at(-1)
    if (last !== undefined && last.to === undefined) last.to = at
  }
  const stopWatching = watchKind(cluster.store, "pods", (event) => {
    const pod = event.object as KubeObject
    const record = agents.get(pod.metadata.uid as string)
    if (record === undefined) return
    const at = clock.now()
    const restarts = podContainerStatuses(statusOf(pod) as { containerStatuses?: Array<{ restartCount?: number }> }).reduce(
      (sum, status) => sum + (status.restartCount ?? 0),
      0
    )
    if (event.type === "DELETED" || pod.metadata.deletionTimestamp || !isPodReady(pod) || restarts > record.restarts) closeSpan(record, at)
    record.restarts = restarts
    if (event.type !== "DELETED" && !pod.metadata.deletionTimestamp && isPodReady(pod)) openSpan(record, at)
  })
  return {
    /** The kill of an agent is known here first: its span ends now, not when the status says so. */
    ended: (uid: string) => {
      const record = agents.get(uid)
      if (record !== undefined) closeSpan(record, clock.now())
    },
    /** Agent container restarts seen, over every pod. */
    restarts: () => [...agents.values()].reduce((sum, record) => sum + record.restarts, 0),
    /** Times a monitor lost events and a dump put its record right, over every agent. */
    resyncs: () => [...agents.values()].reduce((sum, record) => sum + record.resyncs, 0),
    histories: (): ReadonlyArray<FdbHistory> =>
      [...agents.values()].flatMap((record) =>
        record.start === undefined
          ? []
          : record.spans.map((span, index) => {
              const entries = replay(record.start?.entries ?? [], record.changes, span.from, record.start?.at ?? 0)
              return {
                agent: `${record.pod}@${record.uid.slice(0, 8)}#${index}`,
                pod: record.pod,
                self: record.self,
                start: { at: span.from, entries: [...entries] },
                changes: record.changes.filter((change) => change.at > span.from && (span.to === undefined || change.at <= span.to)),
                live: span
              }
            })
      ),
    stop: () => {
      clearInterval(discover)
      stopWatching()
      for (const record of agents.values()) record.monitor?.kill("SIGKILL")
    }
  }
}

/** The overlay address a pod's `up` hook gave its interface, once it has one. */
const overlayAddress = async (netns: string, interfaceName: string) => {
  const result = await sh("ip", ["-n", netns, "-json", "-4", "address", "show", "dev", interfaceName], { allowFailure: true })
  if (result.exitCode !== 0) return undefined
  const [link] = JSON.parse(result.stdout || "[]") as Array<{ addr_info?: Array<{ local?: string; scope?: string }> }>
  return link?.addr_info?.find((info) => info.scope === "global")?.local
}

export interface PingPair {
  readonly from: string
  readonly to: string
  readonly probes: Array<{ at: number; answered: boolean }>
}

/**
 * Pings over the overlay between pairs of pods, at a fixed rate, one long-running `ping` per
 * pair in the source pod (`-O` reports each unanswered probe). A pair whose source pod is gone
 * pauses and resumes in the pod that replaces it.
 */
export const recordPings = (
  cluster: Cluster,
  pairs: ReadonlyArray<{ from: string; to: string }>,
  intervalMillis: number,
  interfaceName: string,
  startedAt: number
) => {
  const results: Array<PingPair> = pairs.map((pair) => ({ ...pair, probes: [] }))
  const processes = new Map<number, { child: ChildProcess; netns: string }>()
  let stopped = false
  const podNamed = (name: string) =>
    cluster.kubelets
      .flatMap((kubelet) => kubelet.running())
      .find((running) => `${running.namespace}/${running.name}` === name && !running.terminating)
  const start = async (index: number) => {
    const pair = results[index] as PingPair
    const source = podNamed(pair.from)
    const target = podNamed(pair.to)
    if (source === undefined || target === undefined) return
    // Both ends need their overlay address: without its own, the source would route the ping out of the overlay.
    const [address, own] = await Promise.all([overlayAddress(target.netns, interfaceName), overlayAddress(source.netns, interfaceName)])
    if (address === undefined || own === undefined || stopped || processes.has(index)) return
    const child = spawn(
      "ip",
      ["netns", "exec", source.netns, "ping", "-D", "-O", "-n", "-i", String(intervalMillis / 1000), "-W", "1", address],
      {
        stdio: ["ignore", "pipe", "ignore"]
      }
    )
    child.on("error", () => {})
    processes.set(index, { child, netns: source.netns })
    const bySeq = new Map<number, { at: number; answered: boolean }>()
    if (child.stdout)
      createInterface({ input: child.stdout }).on("line", (line) => {
        const match = /^\[(\d+\.\d+)\] (?:(\d+) bytes from .*icmp_seq=(\d+)|no answer yet for icmp_seq=(\d+))/.exec(line)
        if (!match) return
        const at = Number(match[1]) * 1000 - startedAt
        const seq = Number(match[3] ?? match[4])
        const answered = match[3] !== undefined
        const known = bySeq.get(seq)
        if (known === undefined) {
          const probe = { at, answered }
          bySeq.set(seq, probe)
          pair.probes.push(probe)
        } else if (answered) known.answered = true
      })
    child.once("close", () => processes.delete(index))
  }
  const tick = setInterval(() => {
    for (let index = 0; index < results.length; index++) if (!processes.has(index)) void start(index)
  }, 500)
  return {
    pairs: results,
    stop: () => {
      stopped = true
      clearInterval(tick)
      for (const { child } of processes.values()) child.kill("SIGKILL")
    }
  }
}

/** Each agent's resident memory and CPU time, every second, read from /proc. */
export const recordResources = (cluster: Cluster, clock: Clock) => {
  const samples: Array<{ at: number; pod: string; pid: number; rssBytes: number; cpuSeconds: number }> = []
  const ticks = Number(process.env.CLK_TCK ?? 100)
  const tick = setInterval(() => {
    const at = clock.now()
    for (const kubelet of cluster.kubelets)
      for (const running of kubelet.running())
        for (const [index, container] of [...running.containers.values()].entries()) {
          // The agent itself, not the runtime's wrapper around it.
          const pid = container.runtime === "agent" && container.child !== undefined ? containerProcess(running.uid, index) : undefined
          if (pid === undefined) continue
          try {
            const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024
            const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
            const cpu = (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / ticks
            samples.push({ at, pod: `${running.namespace}/${running.name}`, pid, rssBytes: rss, cpuSeconds: cpu })
          } catch {
            // the process ended between the list and the read
          }
        }
  }, 1000)
  return { samples, stop: () => clearInterval(tick) }
}
