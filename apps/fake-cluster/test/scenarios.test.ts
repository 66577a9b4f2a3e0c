import { randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { listNamespaces, testPrefix } from "@kubelan/testkit"
import { execa } from "execa"
import { afterAll, describe, expect, it } from "vitest"
import type { ControlPlaneKind } from "../src/real/ControlPlaneKind.ts"
import type { Report } from "../src/scenario/Report.ts"

/**
 * Every shipped scenario, run as a user runs it (`kubelan-sim run FILE --size ci --report DIR`),
 * judged by its exit status, by the report it writes, and by what it leaves on the machine.
 */
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url))
const scenarios = fileURLToPath(new URL("../../../scenarios/", import.meta.url))
const impossible = fileURLToPath(new URL("./fixtures/impossible.yaml", import.meta.url))
const reports = mkdtempSync(join(tmpdir(), "kltest-reports-"))
afterAll(() => rmSync(reports, { recursive: true, force: true }))

const sysctls = ["net/ipv4/neigh/default/gc_thresh3", "net/ipv6/neigh/default/gc_thresh3", "net/core/netdev_max_backlog"]
const readSysctls = () => sysctls.map((key) => `${key}=${readFileSync(`/proc/sys/${key}`, "utf8").trim()}`)

/** Runs one scenario in a state directory and namespace prefix of its own; returns what a user sees. */
const run = async (file: string, controlPlane: ControlPlaneKind = "fake") => {
  const id = randomBytes(3).toString("hex")
  const prefix = `${testPrefix}run${id}-`
  const state = `/run/kubelan-sim-run-kltest-${id}`
  const reportDir = join(
    reports,
    `${id}-${file
      .split("/")
      .at(-1)
      ?.replace(/\.yaml$/, "")}`
  )
  const limitsBefore = readSysctls()
  const result = await execa(process.execPath, [cli, "run", file, "--size", "ci", "--report", reportDir, "--control-plane", controlPlane], {
    env: { KUBELAN_SIM_PREFIX: prefix, KUBELAN_SIM_STATE: state },
    reject: false,
    all: true,
    // CI-sized runs take under 2 minutes: a run still going at 5 is killed, and its output shows where it stood.
    timeout: 300_000,
    killSignal: "SIGINT"
  })
  const report = existsSync(join(reportDir, "report.json"))
    ? (JSON.parse(readFileSync(join(reportDir, "report.json"), "utf8")) as Report)
    : undefined
  // What the run left behind: namespaces, its state directory, processes that name either, the kernel's limits.
  const namespaces = (await listNamespaces()).filter((name) => name.startsWith(prefix))
  const processes = (await execa("ps", ["-eo", "pid=,args="], { reject: false })).stdout
    .split("\n")
    .filter((line) => line.includes(prefix) || line.includes(state))
  const left = {
    namespaces,
    state: existsSync(state),
    processes,
    limitsHeld: existsSync("/run/kubelan-sim-limits"),
    limitsChanged: readSysctls().filter((value, index) => value !== limitsBefore[index])
  }
  return { exitCode: result.exitCode, output: result.all, report, reportDir, left }
}

type Run = Awaited<ReturnType<typeof run>>

const expectPassedAndClean = (outcome: Run) => {
  expect(outcome.exitCode, outcome.output).toBe(0)
  expect(outcome.report?.passed, outcome.output).toBe(true)
  expect(outcome.report?.expectations.every((verdict) => verdict.held)).toBe(true)
  expect(outcome.output).toContain(`PASS  ${outcome.report?.scenario.name}`)
  expect(outcome.left).toEqual({ namespaces: [], state: false, processes: [], limitsHeld: false, limitsChanged: [] })
}

const metric = (outcome: Run, name: string) => outcome.report?.metrics[name]
const step = (outcome: Run, kind: string) => outcome.report?.steps.find((candidate) => candidate.kind === kind)

/** Asks headless Chromium to lay the report out, and reads back the size of each plot and its drawn marks. */
const rendered = async (reportDir: string) => {
  const probe = join(reportDir, "rendered.html")
  const script = `<script>
window.addEventListener("load", () => {
  const plots = [...document.querySelectorAll("figure")].map((figure) => {
    const svg = figure.querySelector("svg")
    const box = svg?.getBoundingClientRect()
    const marks = svg ? [...svg.querySelectorAll("path, rect, circle, line")].filter((mark) => { const b = mark.getBBox(); return b.width > 0 || b.height > 0 }).length : 0
    return { id: figure.id, width: Math.round(box?.width ?? 0), height: Math.round(box?.height ?? 0), marks }
  })
  const out = document.createElement("pre")
  out.id = "kltest-rendered"
  out.textContent = JSON.stringify(plots)
  document.body.append(out)
})
</script>`
  writeFileSync(probe, readFileSync(join(reportDir, "report.html"), "utf8").replace("</body>", `${script}</body>`))
  const profile = mkdtempSync(join(tmpdir(), "kltest-chromium-"))
  try {
    const chromium = await execa(
      "chromium",
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--virtual-time-budget=5000",
        "--dump-dom",
        `file://${probe}`
      ],
      { reject: false, timeout: 120_000 }
    )
    const found = /<pre id="kltest-rendered">([^<]*)<\/pre>/.exec(chromium.stdout)?.[1]
    if (found === undefined) throw new Error(`chromium rendered no result (exit ${chromium.exitCode}): ${chromium.stderr.slice(-2000)}`)
    return JSON.parse(found.replaceAll("&quot;", '"')) as Array<{ id: string; width: number; height: number; marks: number }>
  } finally {
    rmSync(profile, { recursive: true, force: true })
  }
}

const shipped = readdirSync(scenarios)
  .filter((name) => name.endsWith(".yaml"))
  .sort()

// A test waits for its run (killed at 5 minutes) and renders its report.
describe.runIf(process.getuid?.() === 0)("shipped scenarios at --size ci", { timeout: 900_000 }, () => {
  const outcomes = new Map<string, Run>()
  const outcome = async (name: string) => {
    const known = outcomes.get(name)
    if (known !== undefined) return known
    const fresh = await run(join(scenarios, name))
    outcomes.set(name, fresh)
    return fresh
  }

  it("ships every scenario the documentation names", () => {
    expect(shipped).toEqual(
      [
        "api-outage.yaml",
        "churn.yaml",
        "dhcp.yaml",
        "mixed-mtu.yaml",
        "node-partition.yaml",
        "phantom-5000.yaml",
        "rolling-update.yaml",
        "scale-100.yaml",
        "vrrp-failover.yaml"
      ].sort()
    )
  })

  it("churn: every FDB follows the pods, and its report renders its plots in Chromium", async () => {
    const churn = await outcome("churn.yaml")
    expectPassedAndClean(churn)
    expect(metric(churn, "fdb.wrong_removals")).toBe(0)
    expect(metric(churn, "convergence.count")).toBeGreaterThan(0)
    expect(metric(churn, "agents.restarts")).toBe(1)
    const plots = await rendered(churn.reportDir)
    expect(plots.map((plot) => plot.id)).toEqual(["timeline", "convergence", "reachability", "fdb", "memory", "cpu"])
    for (const plot of plots) {
      expect(plot.width, plot.id).toBeGreaterThan(200)
      expect(plot.height, plot.id).toBeGreaterThan(100)
      expect(plot.marks, plot.id).toBeGreaterThan(3)
    }
  })

  it("api-outage: 60 s without the API drops no peer and loses no probe", async () => {
    const outage = await outcome("api-outage.yaml")
    expectPassedAndClean(outage)
    const fault = step(outage, "api-outage")
    expect((fault?.ended ?? 0) - (fault?.started ?? 0)).toBeGreaterThanOrEqual(60_000)
    expect(metric(outage, "probes.sent")).toBeGreaterThan(1000)
    expect(metric(outage, "probes.lost")).toBe(0)
    expect(metric(outage, "fdb.wrong_removals")).toBe(0)
  })

  it("node-partition: only paths across the cut are lost, all heal within 2 s, no agent restarts, VXLAN crossed the fabric", async () => {
    const partition = await outcome("node-partition.yaml")
    expectPassedAndClean(partition)
    expect(metric(partition, "probes.lost_to_faults")).toBeGreaterThan(0)
    expect(metric(partition, "probes.lost_otherwise")).toBe(0)
    expect(metric(partition, "heal.max")).toBeLessThanOrEqual(2000)
    expect(metric(partition, "agents.restarts")).toBe(0)
    expect(metric(partition, "fdb.wrong_removals")).toBe(0)
    expect(metric(partition, "fabric.vxlan_packets")).toBeGreaterThan(0)
  })

  it("mixed-mtu: the smaller node's pods get the smaller overlay MTU and full-size pings pass", async () => {
    const mtu = await outcome("mixed-mtu.yaml")
    expectPassedAndClean(mtu)
    expect(mtu.report?.nodes.find((node) => node.name === "node-2")?.mtu).toBe(1400)
    expect(metric(mtu, "checks.failed")).toBe(0)
    expect(metric(mtu, "checks.passed")).toBeGreaterThanOrEqual(4)
    expect(metric(mtu, "fabric.vxlan_packets")).toBeGreaterThan(0)
  })

  it("rolling-update: every restart converges", async () => {
    const rolling = await outcome("rolling-update.yaml")
    expectPassedAndClean(rolling)
    expect(metric(rolling, "convergence.unconverged")).toBe(0)
  })

  it("scale-100: every pod over four nodes gets every peer", async () => {
    const scale = await outcome("scale-100.yaml")
    expectPassedAndClean(scale)
    expect(scale.report?.nodes).toHaveLength(4)
    expect(metric(scale, "fdb.missing")).toBe(0)
    expect(metric(scale, "probes.lost")).toBe(0)
  })

  it("phantom-5000: real agents follow a churning membership of phantoms", async () => {
    const phantoms = await outcome("phantom-5000.yaml")
    expectPassedAndClean(phantoms)
    expect(metric(phantoms, "convergence.count")).toBeGreaterThan(0)
    expect(metric(phantoms, "convergence.p99")).toBeDefined()
    // The agents hold the phantoms: their FDBs are as large as the membership.
    const largest = Math.max(...(phantoms.report?.agents ?? []).map((agent) => Math.max(...agent.fdbSizes.map((point) => point.size))))
    expect(largest).toBeGreaterThan(500)
  })

  it("vrrp-failover: the virtual address answers from a backup after the master is deleted", async () => {
    const vrrp = await outcome("vrrp-failover.yaml")
    expectPassedAndClean(vrrp)
    expect(metric(vrrp, "measure.failover")).toBeGreaterThan(0)
    expect(metric(vrrp, "checks.failed")).toBe(0)
  })

  it("dhcp: every pod gets a lease over kubelan and reaches the others at it", async () => {
    const dhcp = await outcome("dhcp.yaml")
    expectPassedAndClean(dhcp)
    expect(metric(dhcp, "checks.failed")).toBe(0)
    expect(metric(dhcp, "checks.passed")).toBeGreaterThan(0)
  })

  it("an expectation that cannot hold fails the run, and the report and the terminal name it", async () => {
    const failed = await run(impossible)
    expect(failed.exitCode, failed.output).toBe(1)
    expect(failed.report?.passed).toBe(false)
    const verdicts = failed.report?.expectations ?? []
    expect(verdicts.map((verdict) => [verdict.expectation, verdict.held])).toEqual([
      ["fdb.wrong_removals == 0", true],
      ["probes.sent > 1000000", false]
    ])
    expect(failed.output).toMatch(/FAIL {2}impossible/)
    expect(failed.output).toMatch(/FAILED probes\.sent > 1000000 — /)
    expect(readFileSync(join(failed.reportDir, "report.html"), "utf8")).toContain("<code>probes.sent &gt; 1000000</code>")
    expect(failed.left).toEqual({ namespaces: [], state: false, processes: [], limitsHeld: false, limitsChanged: [] })
  })
})

// The same runs on kube-apiserver and kube-controller-manager: their StatefulSet and EndpointSlice
// controllers, the nodes' own identities, the agents' Role; each passes as it does on kube-fake.
describe.runIf(process.getuid?.() === 0)("shipped scenarios at --size ci on the real control plane", { timeout: 900_000 }, () => {
  it.each(shipped)("%s passes and leaves nothing behind", async (name) => {
    const outcome = await run(join(scenarios, name), "real")
    expect(outcome.output).toContain("control plane: kube-apiserver and kube-controller-manager")
    expectPassedAndClean(outcome)
  })
})
