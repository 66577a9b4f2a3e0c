import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ConfigError, formatProblem, type LoadedConfig, type LoadOptions, loadConfigSync, toConfigDocument } from "../src/index.ts"

const fixture = (name: string) => join(import.meta.dirname, "fixtures", name)
const writeConfig = (text: string) => {
  const dir = mkdtempSync(join(tmpdir(), "kubelan-config-"))
  const path = join(dir, "kubelan.yaml")
  writeFileSync(path, text)
  return path
}
const load = (options: LoadOptions): LoadedConfig => {
  const loaded = loadConfigSync(options)
  if (loaded instanceof ConfigError) throw new Error(loaded.message)
  return loaded
}
const problems = (options: LoadOptions): Array<string> => {
  const loaded = loadConfigSync(options)
  return loaded instanceof ConfigError ? loaded.problems.map(formatProblem) : []
}

describe("loadConfig", () => {
  it("loads the original's sample config unchanged", () => {
    const { config } = load({ configPath: fixture("original.sample.yaml") })
    expect(config.logLevel).toBe("debug")
    expect(config.ip).toBe("1.2.3.4")
    expect(config.services).toEqual(["kube-system/some-svc", "default/some-default-ns-svc"])
    expect(config.vxlan).toEqual({
      interface: "my-lan",
      vni: 1337,
      port: 4789,
      mtu: 1450,
      mac: "",
      addresses: [],
      announce: true,
      filter: false
    })
    expect(config.hooks.up).toEqual(["sh", "-c", 'echo "Hello from up hook!" && ip link show dev $IFACE'])
    expect(config.hooks.change[0]).toBe("sh")
  })

  it("loads the sample in deploy/ and gets the documented defaults", () => {
    const { config } = load({ configPath: join(import.meta.dirname, "../../../deploy/kubelan.sample.yaml") })
    const { config: defaults } = load({ searchDirs: [] })
    expect(toConfigDocument(config)).toEqual(toConfigDocument(defaults))
    expect(defaults.vxlan).toEqual({
      interface: "kubelan",
      vni: 6969,
      port: 4789,
      mtu: -1,
      mac: "",
      addresses: [],
      announce: true,
      filter: false
    })
    expect(defaults.httpAddress).toBe(":8181")
    expect(defaults.discovery.backend).toBe("kubernetes")
  })

  it("applies flags over env over file over defaults, and records each origin", () => {
    const path = writeConfig("log_level: warn\nvxlan:\n  vni: 10\n  port: 5000\n")
    const loaded = load({
      configPath: path,
      env: { KL_VXLAN_VNI: "20", KL_LOG_LEVEL: "error", KL_IP: "" },
      flags: { logLevel: { raw: "TRACE", flag: "--log-level" } }
    })
    expect(loaded.config.logLevel).toBe("trace")
    expect(loaded.config.vxlan.vni).toBe(20)
    expect(loaded.config.vxlan.port).toBe(5000)
    expect(loaded.origins.logLevel).toEqual({ kind: "flag", name: "--log-level" })
    expect(loaded.origins.vxlanVni).toEqual({ kind: "env", name: "KL_VXLAN_VNI" })
    expect(loaded.origins.vxlanPort).toEqual({ kind: "file", path })
    expect(loaded.origins.ip).toEqual({ kind: "default" })
  })

  it("vxlan.mac: stable derives a locally administered unicast MAC from namespace/pod name; a bad one is named", () => {
    const mac = (env: Record<string, string>, hostname = "kubelan-1") =>
      load({ searchDirs: [], hostname, env: { KL_NAMESPACE: "lan", ...env } }).config.vxlan.mac
    const stable = mac({ KL_VXLAN_MAC: "stable" })
    expect(stable).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/)
    // Locally administered (bit 1 set), unicast (bit 0 clear).
    expect(Number.parseInt(stable.slice(0, 2), 16) & 0b11).toBe(0b10)
    // The same pod, replaced, gets the same MAC; another pod another; pod_name overrides the host name.
    expect(mac({ KL_VXLAN_MAC: "stable" })).toBe(stable)
    expect(mac({ KL_VXLAN_MAC: "stable" }, "kubelan-2")).not.toBe(stable)
    expect(mac({ KL_VXLAN_MAC: "stable", KL_POD_NAME: "kubelan-1" }, "elsewhere")).toBe(stable)
    expect(mac({})).toBe("")
    expect(mac({ KL_VXLAN_MAC: "02:AA:bb:00:00:01" })).toBe("02:aa:bb:00:00:01")
    expect(problems({ searchDirs: [], env: { KL_VXLAN_MAC: "01:00:5e:00:00:01" } }).join()).toMatch(/vxlan\.mac.*multicast/)
    expect(problems({ searchDirs: [], env: { KL_VXLAN_MAC: "stable" } }).join()).toContain("set namespace (KL_NAMESPACE)")
  })

  it("vxlan.address renders each template for the pod's ordinal; what cannot be an address is named with the pod", () => {
    const file = writeConfig("vxlan:\n  address:\n    - 192.168.69.{ordinal+1}/24\n    - fd69::{ ordinal + 1 }/64\n    - 10.9.0.7/16\n")
    const addresses = (hostname: string) => load({ configPath: file, hostname }).config.vxlan.addresses
    expect(addresses("kubelan-0")).toEqual(["192.168.69.1/24", "fd69::1/64", "10.9.0.7/16"])
    // Hexadecimal inside IPv6, as its groups are written.
    expect(addresses("kubelan-10")).toEqual(["192.168.69.11/24", "fd69::b/64", "10.9.0.7/16"])
    expect(load({ configPath: file, hostname: "x", env: { KL_POD_NAME: "web-4" } }).config.vxlan.addresses[0]).toBe("192.168.69.5/24")
    const envProblems = (value: string) => problems({ searchDirs: [], hostname: "lan-0", env: { KL_VXLAN_ADDRESS: value } }).join("\n")
    const problemsFor = (hostname: string, env: Record<string, string> = {}) => problems({ configPath: file, hostname, env }).join("\n")
    expect(problemsFor("kubelan-254")).toMatch(/vxlan\.address.*pod kubelan-254: 192\.168\.69\.255\/24 is the broadcast address/)
    expect(envProblems("10.0.1.{ordinal}/24")).toMatch(/10\.0\.1\.0\/24 is the network address/)
    expect(problemsFor("kubelan-300")).toMatch(/vxlan\.address.*pod kubelan-300: .*gives "192\.168\.69\.301\/24".*not an IP address/)
    expect(problemsFor("frontend")).toMatch(/vxlan\.address.*pod frontend: .*uses \{ordinal\}.*does not end in -N/)
    expect(envProblems("10.0.0.{index}/24")).toMatch(/KL_VXLAN_ADDRESS.*\{index\}.*is not \{ordinal\}/)
    expect(envProblems("10.0.0.{ordinal}")).toMatch(/no prefix length/)
    expect(envProblems("10.0.0.{ordinal-1}/24")).toMatch(/gives "10\.0\.0\.-1\/24"/)
    expect(envProblems("10.0.0.{ordinal}/40")).toMatch(/too long for IPv4/)
    expect(envProblems("127.0.0.{ordinal+2}/8")).toMatch(/loopback/)
    expect(
      load({ searchDirs: [], hostname: "lan-2", env: { KL_VXLAN_ADDRESS: "10.0.0.{ordinal}/24, fd00::{ordinal}/64" } }).config.vxlan
        .addresses
    ).toEqual(["10.0.0.2/24", "fd00::2/64"])
  })

  it("networks: each entry is one network with the original's keys; services may be shared, interfaces and VXLANs not", () => {
    const file = writeConfig(
      [
        "namespace: lan",
        "networks:",
        "  - name: storage",
        "    services: [db]",
        "    vxlan: { interface: kl-storage, vni: 100, address: ['10.70.0.{ordinal+1}/24'] }",
        "    hooks: { change: ['true'] }",
        "  - services: [db, web]",
        "    vxlan: { interface: kl-front, vni: 200 }",
        "    peers: { include: ready }"
      ].join("\n")
    )
    const { config } = load({ configPath: file, hostname: "db-2" })
    expect(config.networksListed).toBe(true)
    expect(config.networks.map((network) => [network.name, network.services, network.vxlan.interface, network.vxlan.vni])).toEqual([
      ["storage", ["lan/db"], "kl-storage", 100],
      ["kl-front", ["lan/db", "lan/web"], "kl-front", 200]
    ])
    expect(config.networks[0]?.vxlan.addresses).toEqual(["10.70.0.3/24"])
    expect(config.networks[0]?.hooks.change).toEqual(["true"])
    expect(config.networks[1]?.peers.include).toBe("ready")
    // Defaults fill what an entry leaves out; the membership source follows every network's services.
    expect(config.networks[1]?.vxlan.port).toBe(4789)
    expect(config.services).toEqual(["lan/db", "lan/web"])
    // The effective config shows the list, and loads back to the same networks.
    const printed = toConfigDocument(config)
    expect(printed).not.toHaveProperty("services")
    const again = load({ configPath: writeConfig(JSON.stringify(printed)), hostname: "db-2" })
    expect(again.config.networks).toEqual(config.networks)

    // KL_NETWORKS_<index>_<key>: one key of one entry over the file's; a new index adds an entry.
    const env = load({
      configPath: file,
      hostname: "db-2",
      env: {
        KL_NETWORKS_1_VXLAN_VNI: "201",
        KL_NETWORKS_2_SERVICES: "cache",
        KL_NETWORKS_2_VXLAN_INTERFACE: "kl-cache",
        KL_NETWORKS_2_VXLAN_VNI: "300"
      }
    })
    expect(env.config.networks.map((network) => `${network.name}:${network.vxlan.vni}`)).toEqual([
      "storage:100",
      "kl-front:201",
      "kl-cache:300"
    ])
    expect(env.networkOrigins[1]?.vxlanVni).toEqual({ kind: "env", name: "KL_NETWORKS_1_VXLAN_VNI" })
  })

  it("networks: mixing the forms, clashes, gaps and keys that are not a network's are each named", () => {
    const problemsOf = (yaml: string, env: Record<string, string> = {}) =>
      problems({ configPath: writeConfig(yaml), env, hostname: "x-0" }).join("\n")
    expect(problemsOf("services: [lan/a]\nvxlan: { vni: 7 }\nnetworks: [{ services: [lan/b] }]")).toMatch(
      /^networks \(file .*\): cannot be used with services, vxlan\.vni at the top level: move them into a networks entry$/m
    )
    expect(problemsOf("networks: [{ services: [lan/a] }]", { KL_SERVICES: "lan/b" })).toMatch(
      /networks \(env KL_SERVICES\): cannot be used with services/
    )
    const clashes = problemsOf("networks:\n  - { services: [lan/a], vxlan: { vni: 5 } }\n  - { services: [lan/a], vxlan: { vni: 5 } }")
    expect(clashes).toMatch(/networks\[1\]\.vxlan\.interface \(default\): the interface "kubelan" is networks\[0\]'s too/)
    expect(clashes).toMatch(/networks\[1\]\.vxlan\.vni \(file .*\): vni 5 on port 4789 is networks\[0\]'s too/)
    expect(
      problemsOf("networks:\n  - { vxlan: { interface: a } }\n  - { vxlan: { interface: b, vni: 7 }, log_level: debug, colour: red }")
    ).toMatch(
      /networks\[1\]\.log_level \(file .*\): is not a network's setting: set it at the top level\n.*networks\[1\]\.colour \(file .*\): unknown key/
    )
    expect(problemsOf("networks: [{ vxlan: { vni: 0 } }]")).toMatch(/networks\[0\]\.vxlan\.vni \(file .*\): 0 is outside 1\.\.16777215/)
    expect(problemsOf("networks: {}")).toMatch(/networks \(file .*\): is not a list of networks/)
    expect(problemsOf("networks: [{ name: Bad_Name }]")).toMatch(/networks\[0\]\.name \(file .*\): "Bad_Name" is not a network name/)
    expect(problemsOf("networks: [{ services: [lan/a] }]", { KL_NETWORKS_2_VXLAN_VNI: "9" })).toMatch(
      /networks\[2\] \(env KL_NETWORKS_2_VXLAN_VNI\): networks are numbered from 0 without gaps; there is no networks\[1\]/
    )
    expect(problemsOf("networks: [{ services: [lan/a] }]", { KL_NETWORKS_0_LOG_LEVEL: "debug" })).toMatch(
      /networks\[0\] \(env KL_NETWORKS_0_LOG_LEVEL\): KL_NETWORKS_0_LOG_LEVEL names no setting of a network/
    )
  })

  it("reads env lists split on whitespace and commas", () => {
    const { config } = load({ searchDirs: [], env: { KL_SERVICES: "a, b  c", KL_NAMESPACE: "lan", KL_HOOKS_UP: "touch /tmp/x" } })
    expect(config.services).toEqual(["lan/a", "lan/b", "lan/c"])
    expect(config.hooks.up).toEqual(["touch", "/tmp/x"])
  })

  it("reads static membership from the file and from env", () => {
    const path = writeConfig(
      'services: [default/lan]\ndiscovery:\n  backend: static\n  static:\n    "default/lan": ["10.0.0.2", "fd00::02"]\n'
    )
    expect(load({ configPath: path }).config.discovery.static.get("default/lan")).toEqual(["10.0.0.2", "fd00::2"])
    const fromEnv = load({
      searchDirs: [],
      env: { KL_SERVICES: "x/a x/b", KL_DISCOVERY_BACKEND: "static", KL_DISCOVERY_STATIC: "x/a=10.0.0.2,10.0.0.3;x/b=10.0.0.4" }
    })
    expect(Object.fromEntries(fromEnv.config.discovery.static)).toEqual({ "x/a": ["10.0.0.2", "10.0.0.3"], "x/b": ["10.0.0.4"] })
  })

  it("names the key and its source for every bad value, all at once", () => {
    const path = writeConfig("vxlan:\n  vni: 0\n  colour: blue\nip: 10.0.0.300\n")
    expect(problems({ configPath: path, env: { KL_VXLAN_PORT: "http" } })).toEqual([
      `vxlan.colour (file ${path}): unknown key`,
      `ip (file ${path}): "10.0.0.300" is not an IPv4 or IPv6 address`,
      `vxlan.vni (file ${path}): 0 is outside 1..16777215`,
      `vxlan.port (env KL_VXLAN_PORT): "http" is not a whole number`
    ])
  })

  it("rejects ports and VNIs outside their ranges from any source", () => {
    expect(problems({ searchDirs: [], env: { KL_VXLAN_PORT: "65536" } })).toEqual([
      "vxlan.port (env KL_VXLAN_PORT): 65536 is outside 1..65535"
    ])
    expect(problems({ searchDirs: [], env: { KL_VXLAN_VNI: "16777216" } })).toEqual([
      "vxlan.vni (env KL_VXLAN_VNI): 16777216 is outside 1..16777215"
    ])
  })

  it("reports malformed YAML with its line", () => {
    const path = writeConfig("services: [a, b\nvxlan: {\n")
    const [line] = problems({ configPath: path })
    expect(line).toMatch(new RegExp(`^config \\(file ${path}\\): malformed YAML at line \\d+`))
  })

  it("rejects a service without namespace while namespace is unset", () => {
    const path = writeConfig("services: [lan, other/ok]\n")
    expect(problems({ configPath: path })).toEqual([
      `services (file ${path}): lan has no namespace and namespace is unset: write namespace/name or set namespace (KL_NAMESPACE)`
    ])
  })

  it("rejects a --config path that does not exist", () => {
    expect(problems({ configPath: "/nonexistent/kubelan.yaml" })).toEqual([
      "config (flag --config): /nonexistent/kubelan.yaml: no such file"
    ])
  })

  it("accepts log levels in any case and durations in Go notation", () => {
    const { config } = load({ searchDirs: [], env: { KL_LOG_LEVEL: "Warn", KL_HOOKS_TIMEOUT: "1m30s", KL_RESYNC_INTERVAL: "1500ms" } })
    expect(config.logLevel).toBe("warn")
    expect(config.hooks.timeoutMillis).toBe(90_000)
    expect(config.resyncIntervalMillis).toBe(1500)
  })
})

describe("documentation", () => {
  it("the README's reference table lists every key with its env name and default", async () => {
    const { readFileSync } = await import("node:fs")
    const { configKeys, keyNames } = await import("../src/index.ts")
    const readme = readFileSync(join(import.meta.dirname, "../../../README.md"), "utf8")
    const rows = readme
      .split("\n")
      .filter((line) => line.startsWith("|"))
      .map((line) =>
        line
          .split("|")
          .slice(1, 4)
          .map((cell) => cell.trim())
      )
    for (const name of keyNames) {
      const spec = configKeys[name]
      expect(rows).toContainEqual([`\`${spec.path}\``, `\`${spec.env}\``, `\`${JSON.stringify(spec.defaultValue)}\``])
    }
  })
})
