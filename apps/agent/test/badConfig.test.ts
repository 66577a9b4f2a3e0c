import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makePodNetwork, type PodNetwork, run, runInNetnsArgs } from "@kubelan/testkit"
import { execa } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

let net: PodNetwork
beforeAll(async () => {
  net = await makePodNetwork({ purpose: "badcfg", pods: 1 })
})
afterAll(async () => {
  await net?.destroy()
})

const links = async () =>
  JSON.parse((await run("ip", ["-n", net.pods[0]!.netns, "-json", "link", "show"])).stdout)
    .map((link: { ifname: string }) => link.ifname)
    .sort()

/** Runs the agent in the pod with a config file and env; returns what a user sees. */
const runAgent = async (yaml: string | undefined, env: Record<string, string> = {}, args: ReadonlyArray<string> = []) => {
  const dir = mkdtempSync(join(tmpdir(), "kubelan-bad-"))
  const file = join(dir, "kubelan.yaml")
  if (yaml !== undefined) writeFileSync(file, yaml)
  const result = await execa("ip", runInNetnsArgs(net.pods[0]!.netns, ["--config", file, ...args]), { reject: false, env, timeout: 20_000 })
  return { exitCode: result.exitCode, stderr: result.stderr, file }
}

const base = "services: [default/lan]\ndiscovery:\n  backend: static\n  static:\n    default/lan: [10.99.0.11]\n"

describe("bad config", () => {
  const cases: Array<{ name: string; yaml: string; env?: Record<string, string>; line: (file: string) => string }> = [
    {
      name: "a VNI outside 1..16777215",
      yaml: `${base}vxlan:\n  vni: 16777216\n`,
      line: (f) => `vxlan.vni (file ${f}): 16777216 is outside 1..16777215`
    },
    { name: "a port outside 1..65535", yaml: `${base}vxlan:\n  port: 0\n`, line: (f) => `vxlan.port (file ${f}): 0 is outside 1..65535` },
    {
      name: "an invalid ip",
      yaml: `${base}ip: 10.99.0.999\n`,
      line: (f) => `ip (file ${f}): "10.99.0.999" is not an IPv4 or IPv6 address`
    },
    { name: "an unknown key", yaml: `${base}vxlan:\n  vnid: 5\n`, line: (f) => `vxlan.vnid (file ${f}): unknown key` },
    {
      name: "a non-numeric KL_VXLAN_PORT",
      yaml: base,
      env: { KL_VXLAN_PORT: "vxlan" },
      line: () => `vxlan.port (env KL_VXLAN_PORT): "vxlan" is not a whole number`
    },
    { name: "malformed YAML", yaml: `${base}hooks: [up\n`, line: (f) => `config (file ${f}): malformed YAML at line` },
    {
      name: "a service without namespace while namespace is unset",
      yaml: "services: [lan]\ndiscovery:\n  backend: static\n",
      line: (f) => `services (file ${f}): lan has no namespace and namespace is unset`
    }
  ]
  for (const testCase of cases) {
    it(`${testCase.name}: exits 2, names the key and its source, creates nothing`, async () => {
      const before = await links()
      const result = await runAgent(testCase.yaml, testCase.env)
      expect(result.exitCode).toBe(2)
      expect(result.stderr).toContain(`kubelan: ${testCase.line(result.file)}`)
      expect(await links()).toEqual(before)
    })
  }

  it("reports every problem at once, one line each", async () => {
    const result = await runAgent(`${base}vxlan:\n  vni: 0\n  port: 70000\nlog_level: loud\n`)
    expect(result.exitCode).toBe(2)
    const lines = result.stderr.split("\n").filter((line) => line.startsWith("kubelan: ") && line.includes(" (file "))
    expect(lines.map((line) => line.split(" ")[1])).toEqual(["log_level", "vxlan.vni", "vxlan.port"])
  })

  it("a --config file that does not exist exits 2", async () => {
    const result = await runAgent(undefined)
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toMatch(/kubelan: config \(flag --config\): .*kubelan\.yaml: no such file/)
  })
})
