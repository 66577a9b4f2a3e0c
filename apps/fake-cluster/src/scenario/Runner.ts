import { mkdirSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { startCluster } from "../Cluster.ts"
import type { ContainerRuntime } from "../kubelet/Image.ts"
import type { ControlPlaneKind } from "../real/ControlPlaneKind.ts"
import { reportHtml } from "./Html.ts"
import { recordMembershipInWorker } from "./MembershipWorker.ts"
import { recordFdbs, recordMembership, recordPings, recordResources } from "./Recorders.ts"
import { buildReport, type StepRecord, summary } from "./Report.ts"
import type { Scenario, Step } from "./ScenarioFile.ts"
import { seededRandom, shuffled } from "./Selection.ts"
import { converged, kubectl, manifestText, runStep, type StepContext } from "./Timeline.ts"

/** A step as a line: its kind and what it acts on. */
const labelOf = (step: Step) => {
  const spec = step.spec as unknown
  const detail =
    typeof spec === "string"
      ? spec.split("/").at(-1)
      : typeof spec === "object" && spec !== null
        ? Object.entries(spec)
            .filter(([, value]) => typeof value !== "object")
            .map(([key, value]) => `${key}=${String(value)}`)
            .join(" ")
        : ""
  return `${step.kind}${detail ? ` ${detail}` : ""}`
}

/**
 * Runs a scenario on a cluster of its own, in this process: brings it up, applies the
 * manifests, runs the timeline with the probes recording, tears it all down, and writes the
 * report. The exit status says whether every expectation held.
 */
export const runScenario = async (
  scenario: Scenario,
  options: {
    reportDir?: string | undefined
    log?: (line: string) => void
    runtime?: ContainerRuntime | undefined
    controlPlane?: ControlPlaneKind | undefined
  }
) => {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`))
  const startedAt = Date.now()
  let current = "start"
  const clock = { now: () => Date.now() - startedAt, step: () => current }
  const links = Array.from({ length: scenario.nodes }, (_, index) => scenario.links.get(`node-${index}`) ?? {})
  const cluster = await startCluster({ listen: "127.0.0.1:0", nodes: links, runtime: options.runtime, controlPlane: options.controlPlane })
  log(`containers: kubelan ${cluster.runtime === "image" ? "from its image (podman)" : "as a process"}`)
  log(`control plane: ${cluster.controlPlane === "real" ? "kube-apiserver and kube-controller-manager" : "kube-fake"}`)
  const membership =
    cluster.realApi === undefined
      ? recordMembership(cluster.store, scenario.service, clock)
      : recordMembershipInWorker(cluster.realApi, scenario.service, startedAt, clock)
  const fdbs = recordFdbs(cluster, scenario.interfaceName, clock)
  const resources = recordResources(cluster, clock)
  let pings: ReturnType<typeof recordPings> | undefined
  const steps: Array<StepRecord> = []
  const context: StepContext = {
    cluster,
    random: seededRandom(scenario.name),
    membership,
    histories: fdbs.histories,
    agentEnded: fdbs.ended,
    measures: new Map(),
    checks: { passed: 0, failed: 0, failures: [] },
    faults: [],
    now: clock.now,
    log: (line) => log(`    ${line.split("\n").join("\n    ")}`)
  }
  const startPings = () => {
    if (pings !== undefined || scenario.ping.pairs <= 0) return
    const names = cluster.kubelets
      .flatMap((kubelet) => kubelet.running())
      .filter((running) => !running.phantom && [...running.containers.values()].some((container) => container.runtime === "agent"))
      .map((running) => `${running.namespace}/${running.name}`)
      .sort()
    const pairs = shuffled(
      names.flatMap((from) => names.filter((to) => to !== from).map((to) => ({ from, to }))),
      seededRandom(`${scenario.name}/pairs`)
    ).slice(0, scenario.ping.pairs)
    pings = recordPings(cluster, pairs, scenario.ping.intervalMillis, scenario.interfaceName, startedAt)
    context.log(`pinging ${pairs.length} pairs over the overlay every ${scenario.ping.intervalMillis} ms`)
  }
  let stopped = false
  try {
    try {
      log(`${scenario.name}: ${scenario.nodes} node(s), size ${scenario.size}`)
      if ("ready" in membership) await membership.ready
      for (const manifest of scenario.manifests) {
        const applied = await kubectl(["apply", "-f", "-"], manifestText(manifest))
        if (applied.exitCode !== 0) throw new Error(`kubectl apply: ${applied.all}`)
        context.log(applied.all.trim())
      }
      for (const step of scenario.timeline) {
        // Membership events are put down to the last action, not to the wait that watches them happen.
        if (step.kind !== "wait" && step.kind !== "sleep" && step.kind !== "measure" && step.kind !== "check") current = step.kind
        const label = labelOf(step)
        log(`  ${label}`)
        const started = clock.now()
        let error: string | undefined
        try {
          await runStep(step, context)
          if (step.kind === "wait" && converged(context)) startPings()
        } catch (failure) {
          error = failure instanceof Error ? failure.message : String(failure)
          log(`    FAILED: ${error}`)
        }
        steps.push({ index: step.index, kind: step.kind, label, started, ended: clock.now(), error })
      }
    } finally {
      current = "end"
      pings?.stop()
      resources.stop()
      membership.stop()
    }
    const duration = clock.now()
    const histories = fdbs.histories()
    const fabricVxlanPackets = await cluster.fabric.vxlanPackets()
    fdbs.stop()
    const report = buildReport({
      scenario,
      startedAt: new Date(startedAt).toISOString(),
      duration,
      nodes: cluster.fabric.nodes.map((node) => ({
        name: node.name,
        internalIP: node.internalIP,
        podCIDR: node.subnet.cidr,
        mtu: node.mtu
      })),
      steps,
      membership: membership.events,
      histories,
      pings: pings?.pairs ?? [],
      resources: resources.samples,
      restarts: fdbs.restarts(),
      recorderResyncs: fdbs.resyncs(),
      measures: context.measures,
      checks: context.checks,
      faults: context.faults,
      // kube-apiserver sends each watcher its events on its own: the recorder may hear of a change a few ms after an agent.
      recorderLagMillis: cluster.controlPlane === "real" ? 100 : 0,
      fabricVxlanPackets
    })
    await cluster.stop()
    stopped = true
    if (options.reportDir !== undefined) {
      const dir = resolve(options.reportDir)
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, "report.json"), `${JSON.stringify(report, null, 2)}\n`)
      writeFileSync(join(dir, "report.html"), await reportHtml(report))
    }
    log(summary(report, options.reportDir === undefined ? undefined : resolve(options.reportDir)))
    return report
  } finally {
    // A run that failed before its report (a manifest refused, a recorder's error) still leaves nothing behind.
    if (!stopped) {
      fdbs.stop()
      await cluster.stop()
    }
  }
}
