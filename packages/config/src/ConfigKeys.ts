import { addressFamily, canonicalAddress, specialAddressReason } from "./Address.ts"
import { addressTemplateProblem } from "./AddressTemplate.ts"
import { formatDuration, parseDuration } from "./Duration.ts"
import type { DiscoveryBackend, LogLevel, PeerPolicy } from "./KubelanConfig.ts"
import { macProblem } from "./Mac.ts"

/**
 * Every configuration key, described once: the file path, the env name, the default and the
 * decoder. Files, env, flags, `config print` and the README's reference all read this table.
 */
export type Decoded<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly message: string }

export interface KeySpec<A> {
  /** Dotted YAML path, as the original wrote it (snake_case). */
  readonly path: string
  readonly env: string
  /** Default as a user would write it in the file. */
  readonly defaultValue: unknown
  readonly doc: string
  /** Decodes a YAML value or the text of an env variable or flag. */
  readonly decode: (raw: unknown) => Decoded<A>
}

const ok = <A>(value: A): Decoded<A> => ({ ok: true, value })
const fail = <A>(message: string): Decoded<A> => ({ ok: false, message })

/** How a value appears in a message: JSON, with a long one cut short (a 10 MB value is not echoed). */
const shownLimit = 80
export const show = (raw: unknown): string => {
  const text = typeof raw === "number" && !Number.isFinite(raw) ? String(raw) : (JSON.stringify(raw) ?? String(raw))
  return text.length <= shownLimit ? text : `${text.slice(0, shownLimit - 20)}… (${text.length} characters)`
}

const envName = (path: string) => `KL_${path.toUpperCase().replaceAll(".", "_")}`

const key = <A>(path: string, defaultValue: unknown, decode: (raw: unknown) => Decoded<A>, doc: string): KeySpec<A> => ({
  path,
  env: envName(path),
  defaultValue,
  doc,
  decode
})

const text =
  (check?: (value: string) => string | undefined) =>
  (raw: unknown): Decoded<string> => {
    if (raw === null || raw === undefined) return ok("")
    if (typeof raw !== "string" && (typeof raw !== "number" || !Number.isFinite(raw))) return fail(`${show(raw)} is not a string`)
    const value = String(raw)
    const problem = check?.(value)
    return problem === undefined ? ok(value) : fail(problem)
  }

const integer =
  (min: number, max: number, options?: { readonly auto?: number }) =>
  (raw: unknown): Decoded<number> => {
    if (options?.auto !== undefined && (raw === null || raw === undefined || raw === "")) return ok(options.auto)
    const value = typeof raw === "number" ? raw : typeof raw === "string" && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : Number.NaN
    if (!Number.isSafeInteger(value)) return fail(`${show(raw)} is not a whole number`)
    if (options?.auto !== undefined && value === options.auto) return ok(value)
    if (value < min || value > max) return fail(`${value} is outside ${min}..${max}`)
    return ok(value)
  }

const oneOf =
  <const L extends string>(values: ReadonlyArray<L>) =>
  (raw: unknown): Decoded<L> => {
    const value = typeof raw === "string" ? raw.trim().toLowerCase() : undefined
    const found = values.find((candidate) => candidate === value)
    return found === undefined ? fail(`${show(raw)} is not one of ${values.join(", ")}`) : ok(found)
  }

/** true or false; in env and flags also yes/no, on/off, 1/0. */
const boolean = (raw: unknown): Decoded<boolean> => {
  if (typeof raw === "boolean") return ok(raw)
  const value = typeof raw === "string" || typeof raw === "number" ? String(raw).trim().toLowerCase() : undefined
  if (value === "true" || value === "yes" || value === "on" || value === "1") return ok(true)
  if (value === "false" || value === "no" || value === "off" || value === "0") return ok(false)
  return fail(`${show(raw)} is not true or false`)
}

/** Lists: a YAML sequence, or whitespace/comma-separated text (as the original read env). */
const list =
  (check?: (item: string) => string | undefined) =>
  (raw: unknown): Decoded<ReadonlyArray<string>> => {
    if (raw === null || raw === undefined) return ok([])
    let items: Array<string>
    if (typeof raw === "string") items = raw.split(/[\s,]+/).filter((item) => item !== "")
    else if (Array.isArray(raw) && raw.every((item) => typeof item === "string" || (typeof item === "number" && Number.isFinite(item))))
      items = raw.map(String)
    else return fail(`${show(raw)} is not a list of strings`)
    for (const item of items) {
      const problem = check?.(item)
      if (problem !== undefined) return fail(problem)
    }
    return ok(items)
  }

/**
 * A duration within bounds. Timers hold at most 2^31-1 ms (a longer one fires at once), and a
 * period too short for the work it starts burns the pod's CPU: each key says what makes sense.
 */
const duration =
  (min: number, max: number) =>
  (raw: unknown): Decoded<number> => {
    const millis = typeof raw === "number" ? raw * 1000 : typeof raw === "string" ? parseDuration(raw) : undefined
    if (millis === undefined || !Number.isFinite(millis)) return fail(`${show(raw)} is not a duration (like 500ms, 10s, 1m)`)
    if (millis < min) return fail(`${show(raw)} is shorter than the minimum ${formatDuration(min)}`)
    if (millis > max) return fail(`${show(raw)} is longer than the maximum ${formatDuration(max)}`)
    return ok(Math.round(millis))
  }
const hour = 3_600_000
const day = 24 * hour

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const checkService = (item: string): string | undefined => {
  const parts = item.split("/")
  if (parts.length > 2 || parts.some((part) => !dnsLabel.test(part)))
    return `${show(item)} is not a service reference (name or namespace/name, lower-case DNS labels)`
  return undefined
}

const checkAddress = (value: string): string | undefined =>
  addressFamily(value) === undefined ? `${show(value)} is not an IPv4 or IPv6 address` : undefined

/** An address another pod can reach this one at: a real unicast address, nothing the kernel treats specially. */
const checkUnicastAddress = (value: string): string | undefined => {
  const invalid = checkAddress(value)
  if (invalid !== undefined) return invalid
  const special = specialAddressReason(value)
  return special === undefined ? undefined : `${show(value)} is ${special}, which can never be a peer`
}

/** What the kernel accepts as a link name (dev_valid_name), minus '%', which `ip link add` expands. */
export const interfaceNameProblem = (value: string): string | undefined => {
  if (value === "" || value === "." || value === "..") return `${show(value)} is not an interface name`
  if (Buffer.byteLength(value) > 15) return `${show(value)} is longer than 15 bytes, the kernel's limit for interface names`
  if (/[\s/:%\0]/.test(value)) return `${show(value)} is not an interface name (no spaces, '/', ':' or '%')`
  return undefined
}

/** `:8181`, `0.0.0.0:8181`, `[::1]:8181`, `localhost:8181`: the host (undefined = every address) and port. */
export const parseListenAddress = (value: string): { readonly host: string | undefined; readonly port: number } | undefined => {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value)
  const host = match?.[1] ?? match?.[2]
  const port = Number(match?.[3])
  if (match === null || host === undefined || port > 65_535) return undefined
  if (match[1] !== undefined ? addressFamily(host) !== 6 : host !== "" && host !== "localhost" && addressFamily(host) !== 4)
    return undefined
  return { host: host === "" ? undefined : host, port }
}

const checkListenAddress = (value: string): string | undefined =>
  parseListenAddress(value) === undefined
    ? `${show(value)} is not a listen address (:port, IPv4:port, [IPv6]:port or localhost:port)`
    : undefined

/** `ns/name` → addresses. In env: `ns/a=10.0.0.2,10.0.0.3;ns/b=10.0.0.4`. */
const staticMembers = (raw: unknown): Decoded<ReadonlyMap<string, ReadonlyArray<string>>> => {
  if (raw === null || raw === undefined) return ok(new Map())
  let entries: Array<[string, unknown]>
  if (typeof raw === "string") {
    entries = raw
      .split(";")
      .filter((entry) => entry.trim() !== "")
      .map((entry) => {
        const [service = "", addresses = ""] = entry.split("=", 2)
        return [service.trim(), addresses]
      })
  } else if (typeof raw === "object" && !Array.isArray(raw)) entries = Object.entries(raw)
  else return fail(`${show(raw)} is not a map of service to addresses`)
  const members = new Map<string, ReadonlyArray<string>>()
  for (const [service, addresses] of entries) {
    const serviceProblem = checkService(service)
    if (serviceProblem !== undefined) return fail(serviceProblem)
    const decoded = list(checkUnicastAddress)(addresses)
    if (!decoded.ok) return fail(`${show(service)}: ${decoded.message}`)
    members.set(service, decoded.value.map(canonicalAddress))
  }
  return ok(members)
}

export const logLevels: ReadonlyArray<LogLevel> = ["trace", "debug", "info", "warn", "error"]

export const configKeys = {
  logLevel: key("log_level", "info", oneOf(logLevels), "trace, debug, info, warn or error (any case)"),
  httpAddress: key(
    "http_address",
    ":8181",
    text(checkListenAddress),
    "listen address of the HTTP endpoints (:port, IPv4:port, [IPv6]:port); a change needs a restart"
  ),
  ip: key(
    "ip",
    "",
    text((value) => (value === "" ? undefined : checkUnicastAddress(value))),
    "underlay address of this pod; empty = the source address of the default route (set from status.podIP)"
  ),
  namespace: key(
    "namespace",
    "",
    text((value) => (value === "" || dnsLabel.test(value) ? undefined : `${show(value)} is not a namespace name`)),
    "namespace of this pod, for services written without one (set from metadata.namespace)"
  ),
  podName: key(
    "pod_name",
    "",
    text((value) => (value === "" || /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(value) ? undefined : `${show(value)} is not a pod name`)),
    "name of this pod, for a stable MAC (set from metadata.name); empty = the host name, which is the pod's name in a pod"
  ),
  podUid: key(
    "pod_uid",
    "",
    text((value) => (value === "" || /^[0-9a-f-]{1,64}$/i.test(value) ? undefined : `${show(value)} is not a UID`)),
    "UID of this pod (set from metadata.uid), so its Events show in kubectl describe pod"
  ),
  services: key("services", [], list(checkService), "Services whose pods form the LAN: namespace/name, or name in this pod's namespace"),
  vxlanInterface: key("vxlan.interface", "kubelan", text(interfaceNameProblem), "name of the VXLAN interface"),
  vxlanVni: key("vxlan.vni", 6969, integer(1, 16_777_215), "VXLAN network identifier, 1..16777215"),
  vxlanPort: key("vxlan.port", 4789, integer(1, 65_535), "UDP port of the VXLAN underlay"),
  vxlanMtu: key(
    "vxlan.mtu",
    -1,
    integer(68, 65_535, { auto: -1 }),
    "MTU of the interface; unset or -1 = underlay MTU minus 50 (IPv4) or 70 (IPv6)"
  ),
  vxlanMac: key(
    "vxlan.mac",
    "",
    text((value) => macProblem(value, show)),
    "MAC of the interface: empty = the kernel's choice; stable = derived from namespace/pod_name, so a replaced pod keeps it; or a unicast MAC"
  ),
  vxlanAddress: key(
    "vxlan.address",
    [],
    list((item) => addressTemplateProblem(item, show)),
    "addresses the interface gets and keeps, as CIDRs; {ordinal}, {ordinal+N}, {ordinal-N} from a StatefulSet pod's name (hexadecimal inside IPv6)"
  ),
  vxlanAnnounce: key(
    "vxlan.announce",
    true,
    boolean,
    "tell peers where the interface is when it is made, adopted or given addresses (a broadcast datagram; gratuitous ARP where arping and CAP_NET_RAW are there)"
  ),
  vxlanFilter: key(
    "vxlan.filter",
    false,
    boolean,
    "accept the VXLAN port only from current members (iptables in the pod, updated with the FDB; needs iptables-restore); frames from anyone else are dropped and counted"
  ),
  hooksUp: key("hooks.up", [], list(), "argv run once the interface is created (env IFACE)"),
  hooksChange: key("hooks.change", [], list(), "argv run when a service's members change (env IFACE, SERVICE, IPS, DELETED)"),
  hooksTimeout: key(
    "hooks.timeout",
    "30s",
    duration(100, day),
    "a hook still running after this is killed with its process group (100ms..24h)"
  ),
  peersInclude: key(
    "peers.include",
    "all",
    oneOf<PeerPolicy>(["all", "serving", "ready"]),
    "which endpoints become peers: all, serving or ready"
  ),
  resyncInterval: key(
    "resync_interval",
    "60s",
    duration(1000, day),
    "period of the full resync that repairs what the kernel's change events did not report (1s..24h)"
  ),
  discoveryBackend: key(
    "discovery.backend",
    "kubernetes",
    oneOf<DiscoveryBackend>(["kubernetes", "dns", "static"]),
    "membership source: kubernetes, dns or static; a change needs a restart"
  ),
  discoveryStatic: key("discovery.static", {}, staticMembers, "static backend: map of namespace/name to member addresses"),
  discoveryKubernetesWatchTimeout: key(
    "discovery.kubernetes.watch_timeout",
    "60s",
    duration(1000, hour),
    "kubernetes backend: each watch asks the server to end it after this; one still open well past it is taken as hung and restarted (1s..1h)"
  ),
  discoveryDnsInterval: key(
    "discovery.dns.interval",
    "10s",
    duration(500, day),
    "dns backend: how often the Service names are resolved (500ms..24h)"
  ),
  discoveryDnsClusterDomain: key(
    "discovery.dns.cluster_domain",
    "cluster.local",
    text((value) => (/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(value) ? undefined : `${show(value)} is not a DNS domain`)),
    "dns backend: the cluster's DNS domain (names resolved: <service>.<namespace>.svc.<domain>)"
  )
} as const

export type ConfigKeyName = keyof typeof configKeys
export type ConfigValues = { readonly [K in ConfigKeyName]: (typeof configKeys)[K] extends KeySpec<infer A> ? A : never }

export const keyNames = Object.keys(configKeys) as ReadonlyArray<ConfigKeyName>

/**
 * The keys one network needs: at the top level they make the original's single network; in a
 * `networks` entry, one of several. The rest are the agent's own.
 */
export const networkKeyNames: ReadonlyArray<ConfigKeyName> = [
  "services",
  "vxlanInterface",
  "vxlanVni",
  "vxlanPort",
  "vxlanMtu",
  "vxlanMac",
  "vxlanAddress",
  "vxlanAnnounce",
  "vxlanFilter",
  "hooksUp",
  "hooksChange",
  "hooksTimeout",
  "peersInclude"
]
export const isNetworkKey = (name: ConfigKeyName) => networkKeyNames.includes(name)
export const keyByPath: ReadonlyMap<string, ConfigKeyName> = new Map(keyNames.map((name) => [configKeys[name].path, name]))
export const keyByEnv: ReadonlyMap<string, ConfigKeyName> = new Map(keyNames.map((name) => [configKeys[name].env, name]))
