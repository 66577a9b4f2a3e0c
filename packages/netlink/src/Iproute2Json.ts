import type { InterfaceAddresses } from "./Underlay.ts"
import type { LinkState } from "./Vxlan.ts"

/**
 * The parts of iproute2's `-json` output that kubelan reads, decoded at the edge by hand: each
 * reader names the field it could not read. (Effect's Schema would do the same at several MB of
 * the agent's memory; see bench/README.md.)
 */
type JsonObject = Readonly<Record<string, unknown>>

const describe = (value: unknown) => (value === null ? "null" : Array.isArray(value) ? "an array" : typeof value)

const objectAt = (value: unknown, where: string): JsonObject => {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new TypeError(`${where}: expected an object, got ${describe(value)}`)
  return value as JsonObject
}

const arrayAt = (value: unknown, where: string): ReadonlyArray<unknown> => {
  if (!Array.isArray(value)) throw new TypeError(`${where}: expected an array, got ${describe(value)}`)
  return value
}

const optional = <A>(object: JsonObject, key: string, kind: string, is: (value: unknown) => value is A): A | undefined => {
  const value = object[key]
  if (value === undefined || is(value)) return value
  throw new TypeError(`${key}: expected a ${kind}, got ${describe(value)}`)
}
const optionalString = (object: JsonObject, key: string) => optional(object, key, "string", (v): v is string => typeof v === "string")
const optionalNumber = (object: JsonObject, key: string) => optional(object, key, "number", (v): v is number => typeof v === "number")
const optionalBoolean = (object: JsonObject, key: string) => optional(object, key, "boolean", (v): v is boolean => typeof v === "boolean")

const required = <A>(value: A | undefined, key: string): A => {
  if (value === undefined) throw new TypeError(`${key}: missing`)
  return value
}

/** Every element of a top-level array, read by `read`. */
const each = <A>(json: unknown, read: (entry: JsonObject) => A): ReadonlyArray<A> =>
  arrayAt(json, "output").map((entry, index) => read(objectAt(entry, `entry ${index}`)))

/** iproute2 prints nothing at all, not `[]`, for some empty answers. */
const parse = (text: string): unknown => (text.trim() === "" ? [] : JSON.parse(text))

export const parseLinks = (text: string): ReadonlyArray<LinkState> =>
  each(parse(text), (link) => {
    const info = link.linkinfo === undefined ? undefined : objectAt(link.linkinfo, "linkinfo")
    const data = info?.info_data === undefined ? undefined : objectAt(info.info_data, "linkinfo.info_data")
    const flags = link.flags === undefined ? [] : arrayAt(link.flags, "flags")
    return {
      ifindex: required(optionalNumber(link, "ifindex"), "ifindex"),
      name: required(optionalString(link, "ifname"), "ifname"),
      kind: info && optionalString(info, "info_kind"),
      vni: data && optionalNumber(data, "id"),
      port: data && optionalNumber(data, "port"),
      local: data && (optionalString(data, "local") ?? optionalString(data, "local6")),
      learning: data && optionalBoolean(data, "learning"),
      mtu: required(optionalNumber(link, "mtu"), "mtu"),
      up: flags.includes("UP"),
      mac: optionalString(link, "address"),
      addresses: (link.addr_info === undefined ? [] : arrayAt(link.addr_info, "addr_info")).flatMap((raw, index) => {
        const info = objectAt(raw, `addr_info[${index}]`)
        const local = optionalString(info, "local")
        const prefixLength = optionalNumber(info, "prefixlen")
        if (local === undefined || prefixLength === undefined || optionalString(info, "scope") === "link") return []
        return [`${local}/${prefixLength}`]
      })
    }
  })

export const parseAddresses = (text: string): ReadonlyArray<InterfaceAddresses> =>
  each(parse(text), (entry) => ({
    name: required(optionalString(entry, "ifname"), "ifname"),
    mtu: required(optionalNumber(entry, "mtu"), "mtu"),
    addresses: (entry.addr_info === undefined ? [] : arrayAt(entry.addr_info, "addr_info")).flatMap((raw, index) => {
      const info = objectAt(raw, `addr_info[${index}]`)
      const family = required(optionalString(info, "family"), "family")
      const local = optionalString(info, "local")
      const prefixLength = optionalNumber(info, "prefixlen")
      const scope = optionalString(info, "scope")
      if (local === undefined || (family !== "inet" && family !== "inet6")) return []
      return [
        {
          address: local,
          family: family === "inet" ? (4 as const) : (6 as const),
          prefixLength: prefixLength ?? (family === "inet" ? 32 : 128),
          global: scope === "global"
        }
      ]
    })
  }))

export const zeroMac = "00:00:00:00:00:00"

export const parseDefaultRoute = (text: string) => {
  const route = each(parse(text), (entry) => ({ dev: optionalString(entry, "dev"), prefsrc: optionalString(entry, "prefsrc") })).find(
    (candidate) => candidate.dev !== undefined
  )
  return route?.dev === undefined ? undefined : { device: route.dev, preferredSource: route.prefsrc }
}
