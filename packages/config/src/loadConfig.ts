import { existsSync } from "node:fs"
import { hostname } from "node:os"
import { resolve } from "node:path"
import { Effect } from "effect"
import { podOrdinal, renderAddress } from "./AddressTemplate.ts"
import { ConfigError, type ConfigProblem } from "./ConfigError.ts"
import { type ConfigKeyName, type ConfigValues, configKeys, keyNames, show } from "./ConfigKeys.ts"
import { readEnv } from "./EnvSource.ts"
import { defaultSearchDirs, findConfigFile, type RawValues, readConfigFile } from "./FileSource.ts"
import type { KubelanConfig } from "./KubelanConfig.ts"
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
  for (const name of keyNames) {
    const spec = configKeys[name]
    const chosen = layers.reduce<{ raw: unknown; origin: Origin }>((current, layer) => layer.values.get(name) ?? current, {
      raw: spec.defaultValue,
      origin: { kind: "default" }
    })
    origins[name] = chosen.origin
    const decoded = spec.decode(chosen.raw)
    if (decoded.ok) values[name] = decoded.value
    else problems.push({ key: spec.path, origin: chosen.origin, message: decoded.message })
  }
  if (problems.length > 0) return new ConfigError({ problems: capped(problems) })
  const v = values as ConfigValues

  const unqualified = v.services.filter((service) => !service.includes("/"))
  if (unqualified.length > 0 && v.namespace === "")
    problems.push({
      key: "services",
      origin: origins.services,
      message: `${unqualified.join(", ")} has no namespace and namespace is unset: write namespace/name or set namespace (KL_NAMESPACE)`
    })
  const services = [...new Set(v.services.map((service) => qualify(service, v.namespace)))]
  const staticMembers = new Map([...v.discoveryStatic].map(([service, addresses]) => [qualify(service, v.namespace), addresses]))
  if (v.discoveryBackend === "static")
    for (const service of staticMembers.keys())
      if (!services.includes(service))
        problems.push({
          key: "discovery.static",
          origin: origins.discoveryStatic,
          message: `${service} is not one of the configured services`
        })
  const podName = v.podName === "" ? (options.hostname ?? hostname()) : v.podName
  if (v.vxlanMac === "stable" && v.namespace === "")
    problems.push({
      key: "vxlan.mac",
      origin: origins.vxlanMac,
      message: "stable is derived from the pod's namespace and name, and namespace is unset: set namespace (KL_NAMESPACE)"
    })
  const addresses: Array<string> = []
  for (const template of v.vxlanAddress) {
    const rendered = renderAddress(template, podOrdinal(podName), show)
    if (!rendered.ok) problems.push({ key: "vxlan.address", origin: origins.vxlanAddress, message: `pod ${podName}: ${rendered.message}` })
    else if (!addresses.includes(rendered.cidr)) addresses.push(rendered.cidr)
  }
  if (problems.length > 0) return new ConfigError({ problems })
  const mac = v.vxlanMac === "stable" ? stableMac(v.namespace, podName) : v.vxlanMac.toLowerCase()

  return {
    file,
    origins,
    config: {
      logLevel: v.logLevel,
      httpAddress: v.httpAddress,
      ip: v.ip,
      namespace: v.namespace,
      podName,
      podUid: v.podUid,
      services,
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
      peers: { include: v.peersInclude },
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

export const loadConfig = (options: LoadOptions = {}): Effect.Effect<LoadedConfig, ConfigError> =>
  Effect.suspend(() => {
    const loaded = loadConfigSync(options)
    return loaded instanceof ConfigError ? Effect.fail(loaded) : Effect.succeed(loaded)
  })
