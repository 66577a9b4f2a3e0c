import { Schema } from "effect"
import type { InterfaceAddresses } from "./Underlay.ts"
import type { LinkState } from "./Vxlan.ts"

/** The parts of iproute2's `-json` output that kubelan reads, decoded at the edge. */
const LinkJson = Schema.Struct({
  ifindex: Schema.Number,
  ifname: Schema.String,
  mtu: Schema.Number,
  flags: Schema.optional(Schema.Array(Schema.String)),
  linkinfo: Schema.optional(
    Schema.Struct({
      info_kind: Schema.optional(Schema.String),
      info_data: Schema.optional(
        Schema.Struct({
          id: Schema.optional(Schema.Number),
          port: Schema.optional(Schema.Number),
          local: Schema.optional(Schema.String),
          local6: Schema.optional(Schema.String),
          learning: Schema.optional(Schema.Boolean)
        })
      )
    })
  )
})

const AddrJson = Schema.Struct({
  ifname: Schema.String,
  mtu: Schema.Number,
  addr_info: Schema.optional(
    Schema.Array(
      Schema.Struct({
        family: Schema.String,
        local: Schema.optional(Schema.String),
        prefixlen: Schema.optional(Schema.Number),
        scope: Schema.optional(Schema.String)
      })
    )
  )
})

const FdbJson = Schema.Struct({ mac: Schema.String, dst: Schema.optional(Schema.String) })
const RouteJson = Schema.Struct({ dev: Schema.optional(Schema.String), prefsrc: Schema.optional(Schema.String) })

const decodeLinks = Schema.decodeUnknownSync(Schema.Array(LinkJson))
const decodeAddrs = Schema.decodeUnknownSync(Schema.Array(AddrJson))
const decodeFdb = Schema.decodeUnknownSync(Schema.Array(FdbJson))
const decodeRoutes = Schema.decodeUnknownSync(Schema.Array(RouteJson))

/** iproute2 prints nothing at all, not `[]`, for some empty answers. */
const parse = (text: string): unknown => (text.trim() === "" ? [] : JSON.parse(text))

export const parseLinks = (text: string): ReadonlyArray<LinkState> =>
  decodeLinks(parse(text)).map((link) => {
    const data = link.linkinfo?.info_data
    return {
      ifindex: link.ifindex,
      name: link.ifname,
      kind: link.linkinfo?.info_kind,
      vni: data?.id,
      port: data?.port,
      local: data?.local ?? data?.local6,
      learning: data?.learning,
      mtu: link.mtu,
      up: link.flags?.includes("UP") ?? false
    }
  })

export const parseAddresses = (text: string): ReadonlyArray<InterfaceAddresses> =>
  decodeAddrs(parse(text)).map((entry) => ({
    name: entry.ifname,
    mtu: entry.mtu,
    addresses: (entry.addr_info ?? []).flatMap((info) =>
      info.local === undefined || (info.family !== "inet" && info.family !== "inet6")
        ? []
        : [
            {
              address: info.local,
              family: info.family === "inet" ? (4 as const) : (6 as const),
              prefixLength: info.prefixlen ?? (info.family === "inet" ? 32 : 128),
              global: info.scope === "global"
            }
          ]
    )
  }))

export const zeroMac = "00:00:00:00:00:00"

/** Destinations of the zero-MAC entries: the peers kubelan programs. */
export const parseFloodDestinations = (text: string): ReadonlyArray<string> =>
  decodeFdb(parse(text)).flatMap((entry) => (entry.mac === zeroMac && entry.dst !== undefined ? [entry.dst] : []))

export const parseDefaultRoute = (text: string) => {
  const route = decodeRoutes(parse(text)).find((candidate) => candidate.dev !== undefined)
  return route?.dev === undefined ? undefined : { device: route.dev, preferredSource: route.prefsrc }
}
