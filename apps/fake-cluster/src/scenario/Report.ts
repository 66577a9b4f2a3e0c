import {
  type Convergence,
  convergence,
  type Fault,
  type FdbHistory,
  fdbSizes,
  finalDifferences,
  type MembershipEvent,
  percentile,
  pingImpact,
  pingWindows,
  wrongRemovals
} from "./Analysis.ts"
import { type Expectation, evaluate, parseExpectation, type Verdict } from "./Expectations.ts"
import type { PingPair } from "./Recorders.ts"
import type { Scenario } from "./ScenarioFile.ts"

/** A step as it ran. */
export interface StepRecord {
  readonly index: number
  readonly kind: string
  readonly label: string
  readonly started: number
  readonly ended: number
  readonly error: string | undefined
}

export interface Recorded {
  readonly scenario: Scenario
  readonly startedAt: string
  readonly duration: number
  readonly nodes: ReadonlyArray<{ name: string; internalIP: string; podCIDR: string; mtu: number }>
  readonly steps: ReadonlyArray<StepRecord>
  readonly membership: ReadonlyArray<MembershipEvent>
  readonly histories: ReadonlyArray<FdbHistory>
  readonly pings: ReadonlyArray<PingPair>
  readonly resources: ReadonlyArray<{ at: number; pod: string; pid: number; rssBytes: number; cpuSeconds: number }>
  readonly restarts: number
  /** Times a recorder's monitor lost events and a dump put its record right (those changes are dated at the dump). */
  readonly recorderResyncs: number
  readonly measures: ReadonlyMap<string, number>
  readonly checks: { readonly passed: number; readonly failed: number; readonly failures: ReadonlyArray<string> }
  readonly faults: ReadonlyArray<Fault>
  readonly fabricVxlanPackets: number
  /** How long after an agent the membership recorder may see a change (0 with kube-fake: it sees them first). */
  readonly recorderLagMillis: number
}

const convergenceMetrics = (prefix: string, results: ReadonlyArray<Convergence>) => {
  const times = results.flatMap((result) => (result.millis === undefined ? [] : [result.millis]))
  return {
    [`${prefix}.count`]: results.length,
    [`${prefix}.unconverged`]: results.filter((result) => result.millis === undefined).length,
    [`${prefix}.p50`]: percentile(times, 50),
    [`${prefix}.p90`]: percentile(times, 90),
    [`${prefix}.p99`]: percentile(times, 99),
    [`${prefix}.max`]: times.length === 0 ? undefined : Math.max(...times)
  }
}

/** Every figure a run yields, by the names `expect:` uses, and the report built from them. */
export const buildReport = (recorded: Recorded) => {
  const { membership, histories, duration } = recorded
  const converged = convergence(membership, histories, duration)
  const wrong = wrongRemovals(membership, histories, recorded.recorderLagMillis)
  const final = finalDifferences(membership, histories, duration)
  // A probe sent in the last second may still be in flight: it is not judged.
  const judged = recorded.pings.map((pair) => ({ ...pair, probes: pair.probes.filter((probe) => probe.at < duration - 1000) }))
  const pairs = judged.map((pair) => ({
    from: pair.from,
    to: pair.to,
    sent: pair.probes.length,
    lost: pair.probes.filter((probe) => !probe.answered).length
  }))
  // A path cut by a fault is given 2 s after it heals before a lost ping counts against the run.
  const impact = pingImpact(judged, recorded.faults, 2000)
  const sent = pairs.reduce((sum, pair) => sum + pair.sent, 0)
  const lost = pairs.reduce((sum, pair) => sum + pair.lost, 0)
  const steps = [...new Set(converged.map((result) => result.step))]
  const rss = recorded.resources.map((sample) => sample.rssBytes)
  const metrics: Record<string, number | undefined> = {
    ...convergenceMetrics("convergence", converged),
    ...Object.assign(
      {},
      ...steps.map((step) =>
        convergenceMetrics(
          `convergence.${step}`,
          converged.filter((result) => result.step === step)
        )
      )
    ),
    "probes.sent": sent,
    "probes.lost": lost,
    "probes.loss": sent === 0 ? undefined : lost / sent,
    "probes.lost_to_faults": impact.explained,
    "probes.lost_otherwise": impact.unexplained,
    "heal.max": impact.healMax,
    "fdb.wrong_removals": wrong.length,
    "fdb.missing": final.reduce((sum, agent) => sum + agent.missing.length, 0),
    "fdb.stale": final.reduce((sum, agent) => sum + agent.stale.length, 0),
    "agents.restarts": recorded.restarts,
    "agents.max_rss_mb": rss.length === 0 ? undefined : Math.max(...rss) / 1024 / 1024,
    "checks.failed": recorded.checks.failed,
    "checks.passed": recorded.checks.passed,
    "steps.failed": recorded.steps.filter((step) => step.error !== undefined).length,
    "fabric.vxlan_packets": recorded.fabricVxlanPackets,
    "recorder.resyncs": recorded.recorderResyncs,
    ...Object.fromEntries([...recorded.measures].map(([name, millis]) => [`measure.${name}`, millis]))
  }
  const parsed = recorded.scenario.expect.map(parseExpectation)
  const verdicts: Array<Verdict> = parsed.map((expectation, index) =>
    typeof expectation === "string"
      ? { expectation: recorded.scenario.expect[index] as string, metric: "", actual: undefined, held: false, why: expectation }
      : evaluate(expectation as Expectation, metrics)
  )
  // A step that failed fails the run, whatever was expected.
  const failedSteps = recorded.steps.filter((step) => step.error !== undefined)
  const passed = verdicts.every((verdict) => verdict.held) && failedSteps.length === 0
  return {
    scenario: {
      name: recorded.scenario.name,
      description: recorded.scenario.description,
      file: recorded.scenario.file,
      size: recorded.scenario.size,
      nodes: recorded.scenario.nodes
    },
    startedAt: recorded.startedAt,
    durationMillis: duration,
    passed,
    nodes: recorded.nodes,
    steps: recorded.steps,
    expectations: verdicts,
    metrics,
    membership,
    convergence: converged,
    fdb: { wrongRemovals: wrong, final },
    pings: {
      intervalMillis: recorded.scenario.ping.intervalMillis,
      pairs,
      windows: judged.flatMap((pair) => pingWindows(`${pair.from} → ${pair.to}`, pair.probes))
    },
    agents: histories.map((history) => ({ agent: history.agent, pod: history.pod, live: history.live, fdbSizes: fdbSizes(history) })),
    resources: recorded.resources,
    checks: recorded.checks,
    faults: recorded.faults
  }
}

export type Report = ReturnType<typeof buildReport>

const formatValue = (metric: string, value: number | undefined) =>
  value === undefined
    ? "—"
    : metric.startsWith("convergence.") && !metric.endsWith(".count") && !metric.endsWith(".unconverged")
      ? `${Math.round(value)} ms`
      : metric.startsWith("measure.")
        ? `${Math.round(value)} ms`
        : metric.startsWith("heal.")
          ? `${Math.round(value)} ms`
          : metric.endsWith(".loss")
            ? `${(value * 100).toFixed(2)} %`
            : Number.isInteger(value)
              ? String(value)
              : value.toFixed(1)

export { formatValue }

/** What the terminal shows at the end of a run. */
export const summary = (report: Report, reportDir: string | undefined) => {
  const lines = [
    `${report.passed ? "PASS" : "FAIL"}  ${report.scenario.name} (${report.scenario.size}, ${report.scenario.nodes} node${report.scenario.nodes === 1 ? "" : "s"}) in ${(report.durationMillis / 1000).toFixed(1)} s`
  ]
  for (const step of report.steps)
    lines.push(
      `  ${step.error === undefined ? "ok  " : "FAIL"} ${step.index + 1}. ${step.label} (${((step.ended - step.started) / 1000).toFixed(1)} s)${step.error === undefined ? "" : `: ${step.error}`}`
    )
  const m = report.metrics
  lines.push(
    `  membership events ${formatValue("convergence.count", m["convergence.count"])}: convergence p50 ${formatValue("convergence.p50", m["convergence.p50"])}, p99 ${formatValue("convergence.p99", m["convergence.p99"])}, max ${formatValue("convergence.max", m["convergence.max"])}, never ${m["convergence.unconverged"]}`,
    `  probes ${m["probes.sent"]} sent, ${m["probes.lost"]} lost; FDB wrong removals ${m["fdb.wrong_removals"]}, missing ${m["fdb.missing"]}, stale ${m["fdb.stale"]}; agent restarts ${m["agents.restarts"]}`
  )
  if ((m["recorder.resyncs"] ?? 0) > 0)
    lines.push(
      `  the FDB recorder lost kernel events ${m["recorder.resyncs"]} time(s) and read the FDB again: changes it missed are dated when it read them (an upper bound)`
    )
  for (const verdict of report.expectations)
    lines.push(`  ${verdict.held ? "held  " : "FAILED"} ${verdict.expectation}${verdict.held ? "" : ` — ${verdict.why}`}`)
  if (reportDir !== undefined) lines.push(`  report: ${reportDir}/report.html (and report.json)`)
  return lines.join("\n")
}
