import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fc, fuzz, makePodNetwork, type PodNetwork, run, runInNetnsArgs } from "@kubelan/testkit"
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
      name: "a hooks.timeout longer than a timer holds",
      yaml: `${base}hooks:\n  timeout: 600h\n`,
      line: (f) => `hooks.timeout (file ${f}): "600h" is longer than the maximum 24h`
    },
    {
      name: "a resync_interval that would spin",
      yaml: `${base}resync_interval: 1ms\n`,
      line: (f) => `resync_interval (file ${f}): "1ms" is shorter than the minimum 1s`
    },
    {
      name: "an MTU of 1e400",
      yaml: `${base}vxlan:\n  mtu: 1e400\n`,
      line: (f) => `vxlan.mtu (file ${f}): Infinity is not a whole number`
    },
    {
      name: "interface name ..",
      yaml: `${base}vxlan:\n  interface: ".."\n`,
      line: (f) => `vxlan.interface (file ${f}): ".." is not an interface name`
    },
    {
      name: "an interface name over 15 bytes",
      yaml: `${base}vxlan:\n  interface: kubelan-network0\n`,
      line: (f) => `vxlan.interface (file ${f}): "kubelan-network0" is longer than 15 bytes, the kernel's limit for interface names`
    },
    {
      name: "0.0.0.0 among the static members",
      yaml: base.replace("[10.99.0.11]", "[10.99.0.11, 0.0.0.0]"),
      line: (f) => `discovery.static (file ${f}): "default/lan": "0.0.0.0" is an unspecified address (0.0.0.0/8), which can never be a peer`
    },
    {
      name: "a YAML alias bomb",
      yaml: `${["a: &a [x, x, x, x, x, x, x, x, x]", ..."bcdefghij".split("").map((n, i) => `${n}: &${n} [${Array(9).fill(`*${"abcdefghij"[i]}`).join(", ")}]`)].join("\n")}\n`,
      line: (f) => `config (file ${f}): the YAML cannot be expanded:`
    },
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
      expect(result.stderr).not.toContain("    at ")
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

  it("a 10 MB value is not echoed back", async () => {
    const result = await runAgent(`${base}namespace: ${"x".repeat(10 * 1024 * 1024)}\n`)
    expect(result.exitCode).toBe(2)
    expect(result.stderr.length).toBeLessThan(1000)
  })

  it("fuzzed documents through the real agent: exit 2 with lines naming keys, and nothing created", async () => {
    const before = await links()
    const shaped = fc.record(
      {
        vxlan: fc.record(
          {
            vni: fc.jsonValue({ maxDepth: 0 }),
            port: fc.jsonValue({ maxDepth: 0 }),
            interface: fc.jsonValue({ maxDepth: 0 }),
            mtu: fc.jsonValue({ maxDepth: 0 })
          },
          { requiredKeys: [] }
        ),
        ip: fc.oneof(fc.constantFrom("0.0.0.0", "127.0.0.1", "10.99.0.999", "300.1.1.1"), fc.jsonValue({ maxDepth: 0 })),
        resync_interval: fc.oneof(fc.constantFrom("0s", "1ms", "600h", "x"), fc.jsonValue({ maxDepth: 0 })),
        hooks: fc.jsonValue({ maxDepth: 2 }),
        junk: fc.jsonValue({ maxDepth: 2 })
      },
      // An unknown key makes every document invalid, so each run ends at once.
      { requiredKeys: ["junk"] }
    )
    await fuzz(
      fc.asyncProperty(shaped, async (document) => {
        const result = await runAgent(
          `${base}${Object.entries(document)
            .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
            .join("\n")}\n`
        )
        expect(result.exitCode).toBe(2)
        const lines = result.stderr.split("\n").filter((line) => line !== "")
        expect(lines[0]).toBe("kubelan: invalid config:")
        for (const line of lines.slice(1)) expect(line).toMatch(/^kubelan: .+ \((file [^)]+|env KL_[A-Z_]+|flag [-a-z]+|default)\): \S/)
        expect(await links()).toEqual(before)
      }),
      8
    )
  })
})

describe("the container the agent runs in", () => {
  it("without NET_ADMIN: one line naming the capability, exit 2, nothing made", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kubelan-nocap-"))
    writeFileSync(join(dir, "kubelan.yaml"), base)
    const [ip, ...argv] = ["ip", ...runInNetnsArgs(net.pods[0]!.netns, ["--config", join(dir, "kubelan.yaml")])]
    // setpriv drops NET_ADMIN from the bounding set: root then execs without it, as a container would.
    const netnsExec = argv.slice(0, 3)
    const agent = argv.slice(3)
    const result = await execa(ip as string, [...netnsExec, "setpriv", "--bounding-set=-net_admin", "--", ...agent], {
      reject: false,
      timeout: 20_000
    })
    expect(result.exitCode).toBe(2)
    expect(result.stderr.trim().split("\n")).toEqual([
      "kubelan: the container lacks the NET_ADMIN capability, which kubelan needs to create its VXLAN interface and program its FDB: add it to the kubelan container's securityContext (capabilities: { add: [NET_ADMIN] })"
    ])
    expect(await links()).not.toContain("kubelan")
  })
})

describe("the kubernetes backend's credentials", () => {
  const k8sConfig = "services: [default/lan]\n"
  it("in a pod without its ServiceAccount token: one line naming the file, exit 2", async () => {
    const result = await runAgent(k8sConfig, { KUBECONFIG: "", KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" })
    expect(result.exitCode).toBe(2)
    expect(result.stderr.trim().split("\n")).toEqual([
      "kubelan: cannot read the ServiceAccount token /var/run/secrets/kubernetes.io/serviceaccount/token (no such file or directory, open '/var/run/secrets/kubernetes.io/serviceaccount/token'): the pod needs its ServiceAccount token mounted (automountServiceAccountToken must not be false)"
    ])
  })

  it("outside a pod with no KUBECONFIG: one line saying so, exit 2", async () => {
    const result = await runAgent(k8sConfig, { KUBECONFIG: "", KUBERNETES_SERVICE_HOST: "", KUBERNETES_SERVICE_PORT: "" })
    expect(result.exitCode).toBe(2)
    expect(result.stderr.trim().split("\n")).toEqual([
      "kubelan: not in a Kubernetes pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set) and no KUBECONFIG: set one, or use discovery.backend static or dns"
    ])
  })
})
