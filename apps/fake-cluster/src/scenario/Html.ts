import * as vega from "vega"
import { compile, type TopLevelSpec } from "vega-lite"
import { formatValue, type Report } from "./Report.ts"

/**
 * report.html: one self-contained page, the plots drawn as SVG by Vega-Lite when the report is
 * written (no script runs in the page, nothing is fetched).
 */

const width = 760

const svgOf = async (spec: TopLevelSpec): Promise<string> => {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" })
  return view.toSVG()
}

const escapeHtml = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;")

const seconds = (millis: number) => Math.round(millis) / 1000

/** Each plot: its title, and a spec, or why there is nothing to draw. */
const plots = (report: Report): ReadonlyArray<{ id: string; title: string; spec: TopLevelSpec | string }> => {
  const converged = report.convergence
    .filter((result) => result.millis !== undefined)
    .map((result) => ({ step: result.step, millis: result.millis as number }))
  const windows = report.pings.windows.map((window) => ({ ...window, loss: window.sent === 0 ? 0 : window.lost / window.sent }))
  const sizes = report.agents.flatMap((agent) =>
    agent.fdbSizes.map((point) => ({ agent: agent.pod, at: seconds(point.at), size: point.size }))
  )
  const memory = report.resources.map((sample) => ({ pod: sample.pod, at: seconds(sample.at), mb: sample.rssBytes / 1024 / 1024 }))
  const cpu: Array<{ pod: string; at: number; percent: number }> = []
  // Per process: a restarted agent starts counting its CPU time again.
  const lastCpu = new Map<number, { at: number; cpu: number }>()
  for (const sample of report.resources) {
    const previous = lastCpu.get(sample.pid)
    if (previous !== undefined && sample.at > previous.at)
      cpu.push({
        pod: sample.pod,
        at: seconds(sample.at),
        percent: (100 * (sample.cpuSeconds - previous.cpu) * 1000) / (sample.at - previous.at)
      })
    lastCpu.set(sample.pid, { at: sample.at, cpu: sample.cpuSeconds })
  }
  const steps = report.steps.map((step) => ({
    step: `${step.index + 1}. ${step.label}`,
    from: seconds(step.started),
    to: seconds(Math.max(step.ended, step.started + 50)),
    failed: step.error !== undefined
  }))
  const base = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width,
    config: { font: "sans-serif", axis: { labelLimit: 260 }, legend: { labelLimit: 260 } }
  } as const
  return [
    {
      id: "timeline",
      title: "Timeline: the steps as they ran",
      spec:
        steps.length === 0
          ? "no steps ran"
          : {
              ...base,
              height: Math.max(60, steps.length * 18),
              data: { values: steps },
              mark: { type: "bar", cornerRadius: 2 },
              encoding: {
                x: { field: "from", type: "quantitative", title: "seconds since start" },
                x2: { field: "to" },
                y: { field: "step", type: "nominal", sort: null, title: null },
                color: { field: "failed", type: "nominal", scale: { domain: [false, true], range: ["#4c78a8", "#e45756"] }, legend: null }
              }
            }
    },
    {
      id: "convergence",
      title: "Convergence: API write → last agent's kernel change, per membership event, by step",
      spec:
        converged.length === 0
          ? "no membership event converged"
          : {
              ...base,
              height: Math.max(80, new Set(converged.map((point) => point.step)).size * 36),
              data: { values: converged },
              layer: [
                {
                  mark: { type: "boxplot", extent: "min-max", opacity: 0.5 },
                  encoding: {
                    x: { field: "millis", type: "quantitative", title: "milliseconds" },
                    y: { field: "step", type: "nominal", title: null }
                  }
                },
                {
                  mark: { type: "point", filled: true, size: 28, opacity: 0.7 },
                  encoding: { x: { field: "millis", type: "quantitative" }, y: { field: "step", type: "nominal" } }
                }
              ]
            }
    },
    {
      id: "reachability",
      title: "Reachability over the overlay: lost pings per pair and second",
      spec:
        windows.length === 0
          ? "no pings were sent"
          : {
              ...base,
              height: Math.max(60, new Set(windows.map((window) => window.pair)).size * 14),
              data: { values: windows },
              mark: "rect",
              encoding: {
                x: { field: "second", type: "ordinal", title: "second", axis: { labelOverlap: true } },
                y: { field: "pair", type: "nominal", title: null },
                color: { field: "loss", type: "quantitative", scale: { domain: [0, 1], range: ["#54a24b", "#e45756"] }, title: "lost" }
              }
            }
    },
    {
      id: "fdb",
      title: "Each agent's FDB size over time",
      spec:
        sizes.length === 0
          ? "no agent was watched"
          : {
              ...base,
              height: 220,
              data: { values: sizes },
              mark: { type: "line", interpolate: "step-after" },
              encoding: {
                x: { field: "at", type: "quantitative", title: "seconds since start" },
                y: { field: "size", type: "quantitative", title: "peers" },
                color: {
                  field: "agent",
                  type: "nominal",
                  legend: sizes.length > 0 && new Set(sizes.map((point) => point.agent)).size <= 20 ? {} : null
                }
              }
            }
    },
    {
      id: "memory",
      title: "Agents' resident memory",
      spec:
        memory.length === 0
          ? "no samples"
          : {
              ...base,
              height: 200,
              data: { values: memory },
              mark: "line",
              encoding: {
                x: { field: "at", type: "quantitative", title: "seconds since start" },
                y: { field: "mb", type: "quantitative", title: "MB", scale: { zero: false } },
                color: { field: "pod", type: "nominal", legend: new Set(memory.map((point) => point.pod)).size <= 20 ? {} : null }
              }
            }
    },
    {
      id: "cpu",
      title: "Agents' CPU (% of a core)",
      spec:
        cpu.length === 0
          ? "no samples"
          : {
              ...base,
              height: 200,
              data: { values: cpu },
              mark: "line",
              encoding: {
                x: { field: "at", type: "quantitative", title: "seconds since start" },
                y: { field: "percent", type: "quantitative", title: "% of a core" },
                color: { field: "pod", type: "nominal", legend: new Set(cpu.map((point) => point.pod)).size <= 20 ? {} : null }
              }
            }
    }
  ]
}

export const reportHtml = async (report: Report): Promise<string> => {
  const figures = await Promise.all(
    plots(report).map(async (plot) => {
      const body = typeof plot.spec === "string" ? `<p class="empty">${escapeHtml(plot.spec)}</p>` : await svgOf(plot.spec)
      return `<figure id="${plot.id}"><figcaption>${escapeHtml(plot.title)}</figcaption>${body}</figure>`
    })
  )
  const verdicts = report.expectations
    .map(
      (verdict) =>
        `<tr class="${verdict.held ? "held" : "failed"}"><td>${verdict.held ? "held" : "FAILED"}</td><td><code>${escapeHtml(verdict.expectation)}</code></td><td>${escapeHtml(formatValue(verdict.metric, verdict.actual))}</td><td>${escapeHtml(verdict.held ? "" : verdict.why)}</td></tr>`
    )
    .join("\n")
  const metrics = Object.entries(report.metrics)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([metric, value]) => `<tr><td><code>${escapeHtml(metric)}</code></td><td>${escapeHtml(formatValue(metric, value))}</td></tr>`)
    .join("\n")
  const steps = report.steps
    .map(
      (step) =>
        `<li class="${step.error === undefined ? "ok" : "failed"}">${(step.started / 1000).toFixed(1)} s: ${escapeHtml(step.label)}${step.error === undefined ? "" : ` — ${escapeHtml(step.error)}`}</li>`
    )
    .join("\n")
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>kubelan-sim: ${escapeHtml(report.scenario.name)}</title>
<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 880px; color: #222; }
h1 { font-size: 1.5em; } .verdict { font-weight: bold; padding: 0.2em 0.6em; border-radius: 4px; color: white; }
.verdict.pass { background: #54a24b; } .verdict.fail { background: #e45756; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
tr.failed td:first-child, li.failed { color: #c0392b; font-weight: bold; } tr.held td:first-child { color: #2e7d32; }
figure { margin: 1.5em 0; } figure svg { max-width: 100%; height: auto; } figcaption { font-weight: bold; margin-bottom: 0.4em; } .empty { color: #888; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: 0.6em; }
</style>
</head>
<body>
<h1>${escapeHtml(report.scenario.name)} <span class="verdict ${report.passed ? "pass" : "fail"}">${report.passed ? "PASS" : "FAIL"}</span></h1>
<p>${escapeHtml(report.scenario.description)}</p>
<p>Size <b>${escapeHtml(report.scenario.size)}</b>, ${report.scenario.nodes} node(s), started ${escapeHtml(report.startedAt)}, ran ${(report.durationMillis / 1000).toFixed(1)} s. File: <code>${escapeHtml(report.scenario.file)}</code></p>
<h2>Expectations</h2>
<table><tr><th></th><th>expectation</th><th>measured</th><th></th></tr>
${verdicts || '<tr><td colspan="4">none</td></tr>'}
</table>
<h2>Steps</h2>
<ol>${steps}</ol>
${figures.join("\n")}
<h2>Every figure</h2>
<table>${metrics}</table>
</body>
</html>
`
}
