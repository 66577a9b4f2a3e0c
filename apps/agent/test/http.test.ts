import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { eventually, fdbDestinations, makePodNetwork, type PodNetwork, run } from "@kubelan/testkit"
import { execa } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Lan, lanConfig, startLan } from "./lan.ts"

let net: PodNetwork
let lan: Lan
beforeAll(async () => {
  net = await makePodNetwork({ purpose: "http", pods: 2 })
  lan = await startLan(net)
})
afterAll(async () => {
  await lan?.stopAll()
  await net?.destroy()
})

describe("HTTP endpoints", () => {
  it("/metrics is valid Prometheus text (promtool check metrics) with the agent's figures", async () => {
    const metrics = await lan.agents[0]!.http("/metrics")
    expect(metrics.status).toBe(200)
    const check = await execa("promtool", ["check", "metrics"], { input: metrics.body, reject: false })
    expect(check.exitCode, `${check.stdout}${check.stderr}`).toBe(0)
    expect(metrics.body).toContain("kubelan_peers_programmed 1")
    expect(metrics.body).toContain('kubelan_service_peers{service="default/lan"} 1')
    expect(metrics.body).toContain("kubelan_ready 1")
  })

  it("/health answers 204 once started, /healthz and /readyz 200 when ready", async () => {
    const agent = lan.agents[0]!
    expect((await agent.http("/health")).status).toBe(204)
    expect(await agent.http("/healthz")).toEqual({ status: 200, body: "ok\n" })
    expect(await agent.http("/readyz")).toEqual({ status: 200, body: "ready\n" })
  })

  it("/readyz waits for the up hook: a pod waiting on kubelan finds the addresses the hook sets", async () => {
    const pod = net.pods[1]!
    await lan.agents[1]!.kill("SIGKILL")
    // A fresh interface (an adopted one keeps its addresses and runs no `up`).
    await run("ip", ["-n", pod.netns, "link", "del", "kubelan"])
    const gate = join(lan.dir, "release-up")
    // The hook waits for the test's word, then sets the address, as a slow DHCP client or script would.
    const up = `['sh', '-c', 'while [ ! -e ${gate} ]; do sleep 0.05; done; ip addr add 192.168.69.2/24 dev $IFACE']`
    const agent = lan.start(pod, lanConfig({ members: net.pods.map((p) => p.ip), up }))
    await eventually(async () => ((await fdbDestinations(pod.netns, "kubelan")).length === 1 ? true : undefined), {
      what: "the FDB to be programmed"
    })
    expect(await agent.http("/readyz")).toEqual({ status: 503, body: "not ready: the up hook has not finished yet\n" })
    writeFileSync(gate, "")
    await agent.waitReady()
    expect(await agent.http("/readyz")).toEqual({ status: 200, body: "ready\n" })
    expect((await run("ip", ["-n", pod.netns, "-br", "address", "show", "dev", "kubelan"])).stdout).toContain("192.168.69.2/24")
  })

  it("every answer carries a Date header in the HTTP form, for now", async () => {
    const agent = lan.agents[0]!
    const headers = await run("ip", [
      "netns",
      "exec",
      agent.netns,
      "curl",
      "-s",
      "-D",
      "-",
      "-o",
      "/dev/null",
      "http://127.0.0.1:8181/healthz"
    ])
    const date = /^date: (.*)\r$/im.exec(headers.stdout)?.[1]
    expect(date).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/)
    expect(Math.abs(Date.parse(date ?? "") - Date.now())).toBeLessThan(60_000)
    expect(headers.stdout.match(/^date:/gim)).toHaveLength(1)
  })

  it("/config shows the effective config in the file's own keys", async () => {
    const config = JSON.parse((await lan.agents[0]!.http("/config")).body)
    expect(config.vxlan).toEqual({
      interface: "kubelan",
      vni: 6969,
      port: 4789,
      mtu: -1,
      mac: "",
      address: [],
      announce: true,
      filter: false
    })
    expect(config.services).toEqual(["default/lan"])
    expect(config.discovery.static["default/lan"]).toEqual(net.pods.map((pod) => pod.ip))
  })

  it("/peers shows desired, programmed and per-service peers", async () => {
    const peers = JSON.parse((await lan.agents[1]!.http("/peers")).body)
    expect(peers.desired).toEqual([{ address: net.pods[0]!.ip, services: ["default/lan"] }])
    expect(peers.programmed).toEqual([net.pods[0]!.ip])
    expect(peers.services["default/lan"]).toEqual({ synced: true, endpoints: 2, peers: [net.pods[0]!.ip] })
  })

  it("logs are JSON lines when stdout is not a terminal", () => {
    const lines = lan.agents[0]!.output()
      .split("\n")
      .filter((line) => line !== "")
    const records = lines.map((line) => JSON.parse(line) as { level: string; msg: string })
    expect(records.some((record) => record.level === "info" && record.msg === "created interface kubelan")).toBe(true)
  })
})

describe("command line", () => {
  const kubelan = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
    execa(process.execPath, [join(import.meta.dirname, "../dist/kubelan.mjs"), ...args], { reject: false, env, cwd: tmpdir() })

  it("--help and --version", async () => {
    const help = await kubelan(["--help"])
    expect(help.exitCode).toBe(0)
    expect(help.stdout).toContain("kubelan config validate [FILE]")
    expect((await kubelan(["--version"])).stdout).toMatch(/^kubelan \d+\.\d+\.\d+$/)
  })

  it("config print says where each value came from", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kubelan-cli-"))
    writeFileSync(join(dir, "kubelan.yaml"), "vxlan:\n  vni: 77\n")
    const printed = await kubelan(["config", "print", "--config", join(dir, "kubelan.yaml"), "-l", "debug"], { KL_VXLAN_PORT: "4800" })
    expect(printed.exitCode).toBe(0)
    expect(printed.stdout).toMatch(/vxlan\.vni: 77\s+# file .*kubelan\.yaml/)
    expect(printed.stdout).toMatch(/vxlan\.port: 4800\s+# env KL_VXLAN_PORT/)
    expect(printed.stdout).toMatch(/log_level: "debug"\s+# flag -l/)
    expect(printed.stdout).toMatch(/vxlan\.interface: "kubelan"\s+# default/)
  })

  it("config validate checks a file without touching the kernel", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kubelan-cli-"))
    writeFileSync(join(dir, "good.yaml"), "services: [a/b]\n")
    writeFileSync(join(dir, "bad.yaml"), "services: [a/b]\nvxlan: {vni: -4}\n")
    const good = await kubelan(["config", "validate", join(dir, "good.yaml")])
    expect(good.exitCode).toBe(0)
    const bad = await kubelan(["config", "validate", join(dir, "bad.yaml")])
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain(`kubelan: vxlan.vni (file ${join(dir, "bad.yaml")}): -4 is outside 1..16777215`)
  })

  it("an unknown flag exits 2 and points at --help", async () => {
    const result = await kubelan(["--colour"])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toBe("kubelan: unknown flag --colour\nkubelan: see kubelan --help")
  })

  it("accepts -- before the arguments, as `pnpm kubelan -- ARGS` passes them", async () => {
    expect((await kubelan(["--", "--version"])).stdout).toMatch(/^kubelan \d+\.\d+\.\d+$/)
  })

  it("the bundle runs with plain node and iproute2 alone (no node_modules beside it)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kubelan-bundle-"))
    await run("cp", ["-r", `${join(import.meta.dirname, "../dist")}/.`, dir])
    const result = await execa(process.execPath, [join(dir, "kubelan.mjs"), "--version"], { reject: false, cwd: dir })
    expect(result.exitCode).toBe(0)
  })
})

describe("deploy/Dockerfile", () => {
  it("runs the bundle with the same node options and environment the tests and benchmarks use", async () => {
    const { agentNodeEnv, agentNodeFlags } = await import("@kubelan/testkit")
    const dockerfile = readFileSync(join(import.meta.dirname, "../../../deploy/Dockerfile"), "utf8")
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1]
    expect(JSON.parse(entrypoint ?? "[]")).toEqual(["node", ...agentNodeFlags, "/app/kubelan.mjs"])
    // The code cache is made with the same options, or V8 refuses it.
    const cached = /^RUN (\[.*kubelan\.mjs.*\])$/m.exec(dockerfile)?.[1]
    expect(JSON.parse(cached ?? "[]")).toEqual(["node", ...agentNodeFlags, "/app/kubelan.mjs", "config", "validate"])
    const env = [...dockerfile.matchAll(/^ENV (\S+)=(\S+)$/gm)].map(([, name, value]) => [name, value])
    expect(Object.fromEntries(env)).toEqual(agentNodeEnv)
  })
})
