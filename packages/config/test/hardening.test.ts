import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import {
  ConfigError,
  formatProblem,
  hostProblems,
  type LoadedConfig,
  type LoadOptions,
  loadConfigSync,
  planReload,
  specialAddressReason,
  subnetBroadcast
} from "../src/index.ts"

const writeConfig = (text: string) => {
  const path = join(mkdtempSync(join(tmpdir(), "kubelan-config-")), "kubelan.yaml")
  writeFileSync(path, text)
  return path
}
const problems = (options: LoadOptions): Array<string> => {
  const loaded = loadConfigSync(options)
  return loaded instanceof ConfigError ? loaded.problems.map(formatProblem) : []
}
const load = (options: LoadOptions): LoadedConfig => {
  const loaded = loadConfigSync(options)
  if (loaded instanceof ConfigError) throw new Error(loaded.message)
  return loaded
}
const staticConfig = (addresses: string) =>
  `services: [default/lan]\ndiscovery:\n  backend: static\n  static:\n    default/lan: [${addresses}]\n`

describe("special addresses", () => {
  it("names what makes an address unusable as a peer, in both families", () => {
    const special: Record<string, string> = {
      "0.0.0.0": "an unspecified address (0.0.0.0/8)",
      "127.0.0.1": "a loopback address (127.0.0.0/8)",
      "169.254.10.1": "a link-local address (169.254.0.0/16)",
      "224.0.0.18": "a multicast address (224.0.0.0/4)",
      "239.255.255.250": "a multicast address (224.0.0.0/4)",
      "255.255.255.255": "the broadcast address",
      "240.0.0.1": "a reserved address (240.0.0.0/4)",
      "::": "the unspecified address (::)",
      "::1": "the loopback address (::1)",
      "fe80::1": "a link-local address (fe80::/10)",
      "ff02::1": "a multicast address (ff00::/8)",
      "::ffff:10.0.0.1": "an IPv4-mapped address (::ffff:0:0/96)"
    }
    for (const [address, reason] of Object.entries(special)) expect(specialAddressReason(address), address).toBe(reason)
    for (const address of ["10.0.0.1", "192.168.69.3", "223.255.255.254", "fd00::1", "2001:db8::1", "fec0::1"])
      expect(specialAddressReason(address), address).toBeUndefined()
  })

  it("computes an IPv4 subnet's broadcast", () => {
    expect(subnetBroadcast("10.244.0.7", 24)).toBe("10.244.0.255")
    expect(subnetBroadcast("10.244.1.7", 23)).toBe("10.244.1.255")
    expect(subnetBroadcast("10.0.0.1", 8)).toBe("10.255.255.255")
    expect(subnetBroadcast("10.0.0.1", 31)).toBeUndefined()
    expect(subnetBroadcast("fd00::1", 64)).toBeUndefined()
  })

  it("config validate refuses them in discovery.static and in ip, naming the key", () => {
    for (const address of ["0.0.0.0", "127.0.0.1", "169.254.0.9", "224.0.0.1", "255.255.255.255", "::", "ff02::2"]) {
      const path = writeConfig(staticConfig(`10.0.0.2, "${address}"`))
      const [line, ...rest] = problems({ configPath: path })
      expect(rest).toEqual([])
      expect(line).toMatch(
        new RegExp(
          `^discovery\\.static \\(file ${path}\\): "default/lan": "${address.replaceAll(".", "\\.")}" is .*, which can never be a peer$`
        )
      )
    }
    expect(problems({ searchDirs: [], env: { KL_IP: "127.0.0.1" } })).toEqual([
      'ip (env KL_IP): "127.0.0.1" is a loopback address (127.0.0.0/8), which can never be a peer'
    ])
  })
})

describe("bad values exit with one line naming the key", () => {
  it("durations: a hooks.timeout past what a timer holds, a resync that would spin", () => {
    expect(problems({ searchDirs: [], env: { KL_HOOKS_TIMEOUT: "600h" } })).toEqual([
      'hooks.timeout (env KL_HOOKS_TIMEOUT): "600h" is longer than the maximum 24h'
    ])
    expect(problems({ searchDirs: [], env: { KL_RESYNC_INTERVAL: "1ms" } })).toEqual([
      'resync_interval (env KL_RESYNC_INTERVAL): "1ms" is shorter than the minimum 1s'
    ])
    expect(problems({ searchDirs: [], env: { KL_DISCOVERY_KUBERNETES_WATCH_TIMEOUT: "0s" } })).toEqual([
      'discovery.kubernetes.watch_timeout (env KL_DISCOVERY_KUBERNETES_WATCH_TIMEOUT): "0s" is shorter than the minimum 1s'
    ])
  })

  it("a number too large for a double reads as Infinity, not null", () => {
    const path = writeConfig("vxlan:\n  mtu: 1e400\n")
    expect(problems({ configPath: path })).toEqual([`vxlan.mtu (file ${path}): Infinity is not a whole number`])
  })

  it("a 10 MB value is not echoed whole", () => {
    const huge = "x".repeat(10 * 1024 * 1024)
    const [line] = problems({ searchDirs: [], env: { KL_VXLAN_INTERFACE: huge } })
    expect(line?.length).toBeLessThan(300)
    expect(line).toMatch(/^vxlan\.interface \(env KL_VXLAN_INTERFACE\): "x+… \(10485762 characters\) is longer than 15 bytes/)
  })

  it("a YAML alias bomb is one problem, not a stack trace", () => {
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for (let i = 1; i < 10; i++)
      bomb.push(
        `${"abcdefghij"[i]}: &${"abcdefghij"[i]} [${Array(9)
          .fill(`*${"abcdefghij"[i - 1]}`)
          .join(", ")}]`
      )
    const path = writeConfig(`${bomb.join("\n")}\n`)
    const lines = problems({ configPath: path })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^config \\(file ${path}\\): the YAML cannot be expanded: .*alias`))
  })

  it("thousands of unknown keys give a bounded answer", () => {
    const path = writeConfig(Array.from({ length: 5000 }, (_, i) => `key${i}: 1`).join("\n"))
    const lines = problems({ configPath: path })
    expect(lines).toHaveLength(51)
    expect(lines.at(-1)).toBe("config (default): and 4950 more problems not shown")
  })

  it("interface names the kernel would refuse or iproute2 would rewrite", () => {
    const cases: Record<string, string> = {
      ".": '"." is not an interface name',
      "..": '".." is not an interface name',
      abcdefghijklmnop: '"abcdefghijklmnop" is longer than 15 bytes, the kernel\'s limit for interface names',
      ééééééééé: '"ééééééééé" is longer than 15 bytes, the kernel\'s limit for interface names',
      "kl%d": `"kl%d" is not an interface name (no spaces, '/', ':' or '%')`,
      "a/b": `"a/b" is not an interface name (no spaces, '/', ':' or '%')`
    }
    for (const [name, message] of Object.entries(cases))
      expect(problems({ searchDirs: [], env: { KL_VXLAN_INTERFACE: name } })).toEqual([
        `vxlan.interface (env KL_VXLAN_INTERFACE): ${message}`
      ])
    expect(problems({ searchDirs: [], env: { KL_VXLAN_INTERFACE: "abcdefghijklmno" } })).toEqual([])
  })

  it("listen addresses: :port, IPv4:port, [IPv6]:port, localhost:port", () => {
    for (const good of [":8181", "0.0.0.0:8181", "10.0.0.1:80", "[::]:8181", "[fd00::1]:9000", "localhost:8181"])
      expect(problems({ searchDirs: [], env: { KL_HTTP_ADDRESS: good } }), good).toEqual([])
    for (const bad of ["8181", "example.com:80", "[10.0.0.1]:80", "fd00::1:80", ":99999", ":"])
      expect(problems({ searchDirs: [], env: { KL_HTTP_ADDRESS: bad } }), bad).toEqual([
        `http_address (env KL_HTTP_ADDRESS): ${JSON.stringify(bad)} is not a listen address (:port, IPv4:port, [IPv6]:port or localhost:port)`
      ])
  })
})

describe("checks against the pod itself", () => {
  const loaded = (env: Record<string, string>) => load({ searchDirs: [], env })
  const host = {
    addresses: new Set(["127.0.0.1", "10.0.0.7"]),
    existingLinks: new Map<string, { kind: string | undefined }>(),
    lockedInterfaces: new Set<string>(),
    iptablesRestore: true
  }

  it("an ip or an http_address that is not the pod's own", () => {
    expect(hostProblems(loaded({ KL_IP: "10.0.0.7", KL_HTTP_ADDRESS: "10.0.0.7:8181" }), host)).toEqual([])
    expect(hostProblems(loaded({ KL_HTTP_ADDRESS: "0.0.0.0:8181" }), host)).toEqual([])
    expect(hostProblems(loaded({ KL_IP: "10.0.0.8", KL_HTTP_ADDRESS: "10.9.9.9:8181" }), host).map(formatProblem)).toEqual([
      `ip (env KL_IP): "10.0.0.8" is not assigned to any interface of this pod: set ip (KL_IP) to the pod's own address (status.podIP)`,
      'http_address (env KL_HTTP_ADDRESS): "10.9.9.9" is not an address of this pod: use :8181 to listen on every address'
    ])
  })

  it("an interface name that another kind of link already has, or that another agent holds", () => {
    expect(hostProblems(loaded({}), { ...host, existingLinks: new Map([["kubelan", { kind: "vxlan" }]]) })).toEqual([])
    expect(
      hostProblems(loaded({ KL_VXLAN_INTERFACE: "eth0" }), { ...host, existingLinks: new Map([["eth0", { kind: "veth" }]]) }).map(
        formatProblem
      )
    ).toEqual([
      'vxlan.interface (env KL_VXLAN_INTERFACE): "eth0" is an existing veth link, not a VXLAN interface; kubelan never deletes a link it did not make: choose another name'
    ])
    expect(
      hostProblems(loaded({ KL_VXLAN_INTERFACE: "lo" }), { ...host, existingLinks: new Map([["lo", { kind: undefined }]]) }).map(
        formatProblem
      )
    ).toEqual([
      'vxlan.interface (env KL_VXLAN_INTERFACE): "lo" is an existing non-VXLAN link, not a VXLAN interface; kubelan never deletes a link it did not make: choose another name'
    ])
    expect(hostProblems(loaded({}), { ...host, lockedInterfaces: new Set(["kubelan"]) }).map(formatProblem)).toEqual([
      'vxlan.interface (default): another kubelan agent in this network namespace already manages "kubelan": only one agent may own an interface'
    ])
  })
})

describe("reload", () => {
  const staticLoaded = (extra: Record<string, string>) =>
    load({
      searchDirs: [],
      env: { KL_SERVICES: "x/a", KL_DISCOVERY_BACKEND: "static", KL_DISCOVERY_STATIC: "x/a=10.0.0.2,10.0.0.3", ...extra }
    })

  it("a backend change keeps every discovery setting of the running source and says a restart is needed", () => {
    const running = staticLoaded({})
    const plan = planReload(running, load({ searchDirs: [], env: { KL_SERVICES: "x/a x/b", KL_DISCOVERY_BACKEND: "dns" } }))
    expect(plan.loaded.config.discovery).toEqual(running.config.discovery)
    expect(plan.loaded.config.services).toEqual(["x/a", "x/b"])
    expect(plan.warnings).toEqual([
      "discovery.backend changed from static to dns: restart the agent to switch; until then it keeps following static with its running discovery settings"
    ])
  })

  it("an http_address change is kept for the restart, and said", () => {
    const plan = planReload(staticLoaded({}), staticLoaded({ KL_HTTP_ADDRESS: ":9000", KL_VXLAN_VNI: "7" }))
    expect(plan.loaded.config.httpAddress).toBe(":8181")
    expect(plan.loaded.config.vxlan.vni).toBe(7)
    expect(plan.warnings).toEqual(['http_address changed from ":8181" to ":9000": it applies after a restart; still serving on :8181'])
  })
})
