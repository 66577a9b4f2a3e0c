// Simulation runs at full size: scale-100 (100 real pods over 4 nodes) and phantom-5000 (real
// agents following 5,000 members that churn), read from the reports `kubelan-sim run` writes;
// and iperf3 over the overlay beside iperf3 over the underlay between pods on two nodes.
import { randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { testPrefix } from "@kubelan/testkit"
import { execa } from "execa"
import type { Report } from "../apps/fake-cluster/src/scenario/Report.ts"
import { isolatedSim } from "../apps/fake-cluster/test/Sim.ts"
import { fmt } from "./stats.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const cli = `${root}apps/fake-cluster/src/cli.ts`

const isolated = (what: string) => {
  const id = randomBytes(2).toString("hex")
  return { KUBELAN_SIM_STATE: `/run/kubelan-sim-run-bench-${what}-${id}`, KUBELAN_SIM_PREFIX: `${testPrefix}bench-${what}${id}-` }
}

/** What the machine was doing: a figure measured under load is read beside it. */
export const machineLoad = () => {
  const [one, five] = loadavg()
  return `${cpus().length} CPUs, load average ${one?.toFixed(2)} (1 min) ${five?.toFixed(2)} (5 min)`
}

const runScenario = async (name: string, size: string) => {
  const reportDir = mkdtempSync(join(tmpdir(), `klbench-${name}-`))
  try {
    const started = performance.now()
    // The process runtime: these figures are the agents' and the lab's; the image's cost is the image section's.
    const run = await execa(
      process.execPath,
      [cli, "run", `${root}scenarios/${name}.yaml`, "--size", size, "--report", reportDir, "--runtime", "process"],
      {
        env: isolated(name),
        reject: false,
        all: true,
        timeout: 1_800_000
      }
    )
    const wall = performance.now() - started
    const file = join(reportDir, "report.json")
    if (!existsSync(file)) throw new Error(`${name}: no report (exit ${run.exitCode}):\n${run.all.slice(-3000)}`)
    return { report: JSON.parse(readFileSync(file, "utf8")) as Report, wall, exitCode: run.exitCode, load: machineLoad() }
  } finally {
    rmSync(reportDir, { recursive: true, force: true })
  }
}

/** Each pod's last sample, summed: the agents' memory once everything is up. */
const summedRss = (report: Report) => {
  const last = new Map<string, number>()
  for (const sample of report.resources) last.set(sample.pod, sample.rssBytes)
  return { agents: last.size, bytes: [...last.values()].reduce((sum, bytes) => sum + bytes, 0) }
}

export const benchScale100 = async () => {
  const { report, wall, exitCode, load } = await runScenario("scale-100", "full")
  const [apply, ready, converged] = report.steps
  if (apply === undefined || ready === undefined || converged === undefined) throw new Error("scale-100: its first three steps did not run")
  return {
    passed: report.passed && exitCode === 0,
    pods: report.agents.length,
    nodes: report.nodes.length,
    ready: ready.ended - apply.started,
    fdbFull: converged.ended - apply.started,
    rss: summedRss(report),
    lost: report.metrics["probes.lost"],
    sent: report.metrics["probes.sent"],
    wall,
    load
  }
}

export const benchPhantom5000 = async () => {
  const { report, wall, exitCode, load } = await runScenario("phantom-5000", "full")
  const m = report.metrics
  return {
    passed: report.passed && exitCode === 0,
    events: m["convergence.count"],
    p50: m["convergence.p50"],
    p99: m["convergence.p99"],
    max: m["convergence.max"],
    agents: new Set(report.agents.map((agent) => agent.pod)).size,
    largestFdb: Math.max(...report.agents.flatMap((agent) => agent.fdbSizes.map((point) => point.size))),
    maxRssMb: m["agents.max_rss_mb"],
    wall,
    load
  }
}

/** iperf3 between two pods on different nodes: once to the peer's overlay address, once to its pod IP. */
export const benchOverlayThroughput = async (seconds = 5) => {
  const { sim, kubectl } = isolatedSim()
  const up = await sim(["up", "--listen", "127.0.0.1:0", "--nodes", "2", "--runtime", "process"])
  if (up.exitCode !== 0) throw new Error(up.all)
  try {
    const manifest = readFileSync(`${root}deploy/k8s-example.yaml`, "utf8")
      .replace("replicas: 3", "replicas: 2")
      .replace("  serviceName: kubelan\n", "  serviceName: kubelan\n  podManagementPolicy: Parallel\n")
    const applied = await kubectl(["apply", "-f", "-"], manifest)
    if (applied.exitCode !== 0) throw new Error(applied.all)
    for (let i = 0; (await kubectl(["get", "statefulset", "kubelan", "-o", "jsonpath={.status.readyReplicas}"])).stdout !== "2"; i++) {
      if (i > 900) throw new Error("the two pods did not become Ready in 180 s")
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    const field = async (pod: string, path: string) => (await kubectl(["get", "pod", pod, "-o", `jsonpath=${path}`])).stdout
    const nodes = [await field("kubelan-0", "{.spec.nodeName}"), await field("kubelan-1", "{.spec.nodeName}")]
    if (nodes[0] === nodes[1]) throw new Error(`both pods are on ${nodes[0]}: the figure would not cross the fabric`)
    const underlay = await field("kubelan-0", "{.status.podIP}")
    const overlay = "192.168.69.1"
    // The overlay has its peer once kubelan-1's agent has programmed kubelan-0.
    for (let i = 0; ; i++) {
      const ping = await sim(["exec", "kubelan-1", "--", "ping", "-c", "1", "-W", "1", overlay])
      if (ping.exitCode === 0) break
      if (i > 60) throw new Error(`no overlay path: ${ping.all}`)
    }
    const mtu = (await sim(["exec", "kubelan-1", "--", "cat", "/sys/class/net/kubelan/mtu"])).stdout.trim()
    const measure = async (address: string) => {
      const server = sim(["exec", "kubelan-0", "--", "iperf3", "--server", "--one-off", "--bind", address])
      await new Promise((resolve) => setTimeout(resolve, 500))
      const client = await sim(["exec", "kubelan-1", "--", "iperf3", "--client", address, "--time", String(seconds), "--json"])
      await server
      if (client.exitCode !== 0) throw new Error(`iperf3 to ${address}: ${client.all.slice(-2000)}`)
      const result = JSON.parse(client.stdout) as { end: { sum_received: { bits_per_second: number } } }
      return result.end.sum_received.bits_per_second
    }
    const underlayBps = await measure(underlay)
    const overlayBps = await measure(overlay)
    return { underlayBps, overlayBps, mtu: Number(mtu), nodes, seconds, load: machineLoad() }
  } finally {
    await kubectl(["delete", "statefulset", "kubelan", "--wait=false"])
    await sim(["down"])
  }
}

const gbps = (bps: number) => `${(bps / 1e9).toFixed(2)} Gbit/s`
const maybe = (millis: number | undefined) => (millis === undefined ? "—" : fmt(millis))

export const printSimulation = (
  scale: Awaited<ReturnType<typeof benchScale100>>,
  phantom: Awaited<ReturnType<typeof benchPhantom5000>>,
  iperf: Awaited<ReturnType<typeof benchOverlayThroughput>>
) => {
  console.log(
    `kubelan-sim scale-100 (full: ${scale.pods} real pods over ${scale.nodes} nodes), ${scale.passed ? "passed" : "FAILED"}; ${scale.load}`
  )
  console.log(`  apply → every pod Ready: ${fmt(scale.ready)}; apply → every FDB full: ${fmt(scale.fdbFull)}`)
  console.log(
    `  agents' summed RSS: ${(scale.rss.bytes / 1024 / 1024 / 1024).toFixed(2)} GB over ${scale.rss.agents} agents (${(scale.rss.bytes / scale.rss.agents / 1024 / 1024).toFixed(1)} MB each); overlay pings lost ${scale.lost} of ${scale.sent}; the run took ${fmt(scale.wall)}`
  )
  console.log(
    `kubelan-sim phantom-5000 (full: ${phantom.agents} real agents, largest FDB ${phantom.largestFdb} entries), ${phantom.passed ? "passed" : "FAILED"}; ${phantom.load}`
  )
  console.log(
    `  per membership event until every real agent converged, ${phantom.events} events: p50 ${maybe(phantom.p50)}, p99 ${maybe(phantom.p99)}, max ${maybe(phantom.max)}; agent RSS max ${phantom.maxRssMb?.toFixed(1)} MB; the run took ${fmt(phantom.wall)}`
  )
  console.log(
    `iperf3 TCP for ${iperf.seconds} s between pods on ${iperf.nodes.join(" and ")} (overlay MTU ${iperf.mtu}, auto); ${iperf.load}`
  )
  console.log(
    `  underlay ${gbps(iperf.underlayBps)}, overlay ${gbps(iperf.overlayBps)}: overlay ÷ underlay = ${(iperf.overlayBps / iperf.underlayBps).toFixed(2)}`
  )
}
