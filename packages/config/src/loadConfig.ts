import { existsSync } from "node:fs"
import { hostname } from "node:os"
import { resolve } from "node:path"
import { Effect } from "effect"
import { podOrdinal, renderAddress } from "./AddressTemplate.ts"
import { ConfigError, type ConfigProblem } from "./ConfigError.ts"
import { type ConfigKeyName, type ConfigValues, configKeys, keyNames, networkKeyNames, show } from "./ConfigKeys.ts"
import { readEnv } from "./EnvSource.ts"
import { defaultSearchDirs, findConfigFile, type RawValue, type RawValues, readConfigFile } from "./FileSource.ts"
import type { KubelanConfig, NetworkConfig } from "./KubelanConfig.ts"
import { stableMac } from "./Mac.ts"
import type { Origin } from "./Origin.ts"

export interface LoadOptions {
  /** `--config PATH`: overrides the search; a missing file is an error. */
  readonly configPath?: string | undefined
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Flag values by key, with the flag's spelling for messages (`-l/--log-level` → logLevel). */
  readonly flags?: Partial<Record<ConfigKeyName, { readonly raw: string; readonly flag: string }>>
  readonly searchDirs?: ReadonlyArray<string>
  /** The host name, which is the pod's name in a pod (default: this machine's). */
  readonly hostname?: string
}

export interface LoadedConfig {
  readonly config: KubelanConfig
  readonly origins: { readonly [K in ConfigKeyName]: Origin }
  /** For each network, where its keys came from (the top-level origins for the original's single network). */
  readonly networkOrigins: ReadonlyArray<NetworkOrigins>
  /** The file that was read, if any; reloads watch it. */
  readonly file: string | undefined
}

/** A file with thousands of unknown keys gets a readable answer, not thousands of lines. */
const maxProblems = 50
const capped = (problems: ReadonlyArray<ConfigProblem>): ReadonlyArray<ConfigProblem> =>
  problems.length <= maxProblems
    ? problems
    : [
        ...problems.slice(0, maxProblems),
        { key: "config", origin: { kind: "default" }, message: `and ${problems.length - maxProblems} more problems not shown` }
      ]

const qualify = (service: string, namespace: string) => (service.includes("/") ? service : `${namespace}/${service}`)

/** Merges defaults < file < env < flags and decodes every key; all problems are reported at once. */
export const loadConfigSync = (options: LoadOptions = {}): LoadedConfig | ConfigError => {
  const problems: Array<ConfigProblem> = []
  let file: string | undefined
  if (options.configPath !== undefined) {
    file = resolve(options.configPath)
    if (!existsSync(file))
      problems.push({ key: "config", origin: { kind: "flag", name: "--config" }, message: `${options.configPath}: no such file` })
  } else file = findConfigFile(options.searchDirs ?? defaultSearchDirs)

  const layers: Array<RawValues> = []
  if (file !== undefined && problems.length === 0) layers.push(readConfigFile(file))
  layers.push(readEnv(options.env ?? {}))
  const flagValues = new Map<ConfigKeyName, { raw: unknown; origin: Origin }>()
  for (const [name, flag] of Object.entries(options.flags ?? {}) as Array<[ConfigKeyName, { raw: string; flag: string }]>)
    flagValues.set(name, { raw: flag.raw, origin: { kind: "flag", name: flag.flag } })
  layers.push({ values: flagValues, problems: [] })

  const values: Partial<Record<ConfigKeyName, unknown>> = {}
  const origins = {} as Record<ConfigKeyName, Origin>
  for (const layer of layers) problems.push(...layer.problems)
  const decodeKey = (name: ConfigKeyName, chosen: RawValue, into: Partial<Record<ConfigKeyName, unknown>>, prefix: string) => {
    const decoded = configKeys[name].decode(chosen.raw)
    if (decoded.ok) into[name] = decoded.value
    else problems.push({ key: `${prefix}${configKeys[name].path}`, origin: chosen.origin, message: decoded.message })
  }
  for (const name of keyNames) {
    const chosen = layers.reduce<RawValue>((current, layer) => layer.values.get(name) ?? current, {
      raw: configKeys[name].defaultValue,
      origin: { kind: "default" }
    })
    origins[name] = chosen.origin
    decodeKey(name, chosen, values, "")
  }

  // `networks` entries, merged index by index and key by key across the sources.
  const listed = new Map<number, { name: RawValue | undefined; values: Map<ConfigKeyName, RawValue> }>()
  for (const layer of layers)
    for (const [index, entry] of layer.networks ?? []) {
      const merged = listed.get(index) ?? { name: undefined, values: new Map() }
      listed.set(index, { name: entry.name ?? merged.name, values: new Map([...merged.values, ...entry.values]) })
    }
  const entries: Array<{
    name: RawValue | undefined
    values: Partial<Record<ConfigKeyName, unknown>>
    origins: NetworkOrigins
    prefix: string
  }> = []
  if (listed.size > 0) {
    const mixed = networkKeyNames.filter((name) => origins[name].kind !== "default")
    if (mixed.length > 0)
      problems.push({
        key: "networks",
        origin: origins[mixed[0] as ConfigKeyName],
        message: `cannot be used with ${mixed.map((name) => configKeys[name].path).join(", ")} at the top level: move them into a networks entry`
      })
    const indices = [...listed.keys()].sort((a, b) => a - b)
    const gap = indices.find((index, position) => index !== position)
    if (gap !== undefined)
      problems.push({
        key: `networks[${gap}]`,
        origin: [...(listed.get(gap)?.values.values() ?? [])][0]?.origin ?? { kind: "default" },
        message: `networks are numbered from 0 without gaps; there is no networks[${indices.findIndex((index, position) => index !== position)}]`
      })
    for (const index of indices) {
      const entry = listed.get(index) as { name: RawValue | undefined; values: Map<ConfigKeyName, RawValue> }
      const prefix = `networks[${index}].`
      const decoded: Partial<Record<ConfigKeyName, unknown>> = {}
      const entryOrigins: Partial<Record<ConfigKeyName, Origin>> = {}
      for (const name of networkKeyNames) {
        const chosen = entry.values.get(name) ?? { raw: configKeys[name].defaultValue, origin: { kind: "default" } as const }
        entryOrigins[name] = chosen.origin
        decodeKey(name, chosen, decoded, prefix)
      }
      entries.push({ name: entry.name, values: decoded, origins: entryOrigins as NetworkOrigins, prefix })
    }
  }
  if (problems.length > 0) return new ConfigError({ problems: capped(problems) })
  const v = values as ConfigValues
  const podName = v.podName === "" ? (options.hostname ?? hostname()) : v.podName
  const identity = { namespace: v.namespace, podName }
  if (entries.length === 0) entries.push({ name: undefined, values: v, origins, prefix: "" })

  const networks: Array<NetworkConfig> = []
  for (const entry of entries) {
    const built = buildNetwork(entry.values as ConfigValues, entry.origins, entry.prefix, entry.name, identity)
    problems.push(...built.problems)
    networks.push(built.network)
  }
  problems.push(...networkConflicts(networks, entries))
  const services = [...new Set(networks.flatMap((network) => network.services))]
  const staticMembers = new Map([...v.discoveryStatic].map(([service, addresses]) => [qualify(service, v.namespace), addresses]))
  if (v.discoveryBackend === "static")
    for (const service of staticMembers.keys())
      if (!services.includes(service))
        problems.push({
          key: "discovery.static",
          origin: origins.discoveryStatic,
          message: `${service} is not one of the configured services`
        })
  if (problems.length > 0) return new ConfigError({ problems: capped(problems) })
  const first = networks[0] as NetworkConfig

  return {
    file,
    origins,
    networkOrigins: entries.map((entry) => entry.origins),
    config: {
      logLevel: v.logLevel,
      httpAddress: v.httpAddress,
      ip: v.ip,
      namespace: v.namespace,
      podName,
      podUid: v.podUid,
      services,
      vxlan: first.vxlan,
      hooks: first.hooks,
      peers: first.peers,
      networks,
      networksListed: listed.size > 0,
      resyncIntervalMillis: v.resyncInterval,
      discovery: {
        backend: v.discoveryBackend,
        static: staticMembers,
        kubernetes: { watchTimeoutMillis: v.discoveryKubernetesWatchTimeout },
        dns: { intervalMillis: v.discoveryDnsInterval, clusterDomain: v.discoveryDnsClusterDomain }
      }
    }
  }
}

/** Where each per-network key of one network came from. */
export type NetworkOrigins = { readonly [K in ConfigKeyName]?: Origin }

/** One network from its decoded keys: services qualified, templates rendered, a stable MAC derived. */
const buildNetwork = (
  v: ConfigValues,
  origins: NetworkOrigins,
  prefix: string,
  rawName: RawValue | undefined,
  identity: { readonly namespace: string; readonly podName: string }
): { readonly network: NetworkConfig; readonly problems: ReadonlyArray<ConfigProblem> } => {
  const problems: Array<ConfigProblem> = []
  const at = (name: ConfigKeyName) => origins[name] ?? { kind: "default" as const }
  const unqualified = v.services.filter((service) => !service.includes("/"))
  if (unqualified.length > 0 && identity.namespace === "")
    problems.push({
      key: `${prefix}services`,
      origin: at("services"),
      message: `${unqualified.join(", ")} has no namespace and namespace is unset: write namespace/name or set namespace (KL_NAMESPACE)`
    })
  if (v.vxlanMac === "stable" && identity.namespace === "")
    problems.push({
      key: `${prefix}vxlan.mac`,
      origin: at("vxlanMac"),
      message: "stable is derived from the pod's namespace and name, and namespace is unset: set namespace (KL_NAMESPACE)"
    })
  const addresses: Array<string> = []
  for (const template of v.vxlanAddress) {
    const rendered = renderAddress(template, podOrdinal(identity.podName), show)
    if (!rendered.ok)
      problems.push({ key: `${prefix}vxlan.address`, origin: at("vxlanAddress"), message: `pod ${identity.podName}: ${rendered.message}` })
    else if (!addresses.includes(rendered.cidr)) addresses.push(rendered.cidr)
  }
  let name = v.vxlanInterface
  if (rawName !== undefined) {
    const checked = typeof rawName.raw === "string" && /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(rawName.raw) ? rawName.raw : undefined
    if (checked === undefined)
      problems.push({
        key: `${prefix}name`,
        origin: rawName.origin,
        message: `${show(rawName.raw)} is not a network name (a lower-case DNS label)`
      })
    else name = checked
  }
  const mac = v.vxlanMac === "stable" ? stableMac(identity.namespace, identity.podName) : v.vxlanMac.toLowerCase()
  return {
    problems,
    network: {
      name,
      services: [...new Set(v.services.map((service) => qualify(service, identity.namespace)))],
      vxlan: {
        interface: v.vxlanInterface,
        vni: v.vxlanVni,
        port: v.vxlanPort,
        mtu: v.vxlanMtu,
        mac,
        addresses,
        announce: v.vxlanAnnounce,
        filter: v.vxlanFilter
      },
      hooks: { up: v.hooksUp, change: v.hooksChange, timeoutMillis: v.hooksTimeout },
      peers: { include: v.peersInclude }
    }
  }
}

/** Two networks may share services, never a name, an interface or a VXLAN (vni, port). */
const networkConflicts = (
  networks: ReadonlyArray<NetworkConfig>,
  entries: ReadonlyArray<{ readonly origins: NetworkOrigins; readonly prefix: string }>
): ReadonlyArray<ConfigProblem> => {
  const problems: Array<ConfigProblem> = []
  const seen = { name: new Map<string, number>(), interface: new Map<string, number>(), vxlan: new Map<string, number>() }
  for (const [index, network] of networks.entries()) {
    const entry = entries[index] as { origins: NetworkOrigins; prefix: string }
    const clash = (kind: keyof typeof seen, value: string, key: string, origin: Origin | undefined, what: string) => {
      const other = seen[kind].get(value)
      if (other === undefined) seen[kind].set(value, index)
      else
        problems.push({
          key: `${entry.prefix}${key}`,
          origin: origin ?? { kind: "default" },
          message: `${what} is networks[${other}]'s too`
        })
    }
    clash("name", network.name, "name", entry.origins.vxlanInterface, `the name ${show(network.name)}`)
    clash(
      "interface",
      network.vxlan.interface,
      "vxlan.interface",
      entry.origins.vxlanInterface,
      `the interface ${show(network.vxlan.interface)}`
    )
    clash(
      "vxlan",
      `${network.vxlan.vni}/${network.vxlan.port}`,
      "vxlan.vni",
      entry.origins.vxlanVni,
      `vni ${network.vxlan.vni} on port ${network.vxlan.port}`
    )
  }
  return problems
}

export const loadConfig = (options: LoadOptions = {}): Effect.Effect<LoadedConfig, ConfigError> =>
  Effect.suspend(() => {
    const loaded = loadConfigSync(options)
    return loaded instanceof ConfigError ? Effect.fail(loaded) : Effect.succeed(loaded)
  })
