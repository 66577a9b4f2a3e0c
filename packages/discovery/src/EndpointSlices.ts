import { isIP } from "node:net"
import { specialAddressReason } from "@kubelan/config"
import { Schema } from "effect"
import type { Endpoint, SkippedEndpoint } from "./Membership.ts"

/**
 * EndpointSlices as kubelan reads them, decoded at the edge. A slice or an endpoint that does
 * not decode is skipped with a reason; everything else in the same slice still counts.
 */
const SliceJson = Schema.Struct({
  metadata: Schema.Struct({ name: Schema.String }),
  addressType: Schema.String,
  endpoints: Schema.optional(Schema.NullOr(Schema.Array(Schema.Unknown)))
})

const Condition = Schema.optional(Schema.NullOr(Schema.Boolean))
const EndpointJson = Schema.Struct({
  addresses: Schema.Array(Schema.String),
  conditions: Schema.optional(Schema.NullOr(Schema.Struct({ ready: Condition, serving: Condition, terminating: Condition })))
})

const decodeSlice = Schema.decodeUnknownExit(SliceJson)
const decodeEndpoint = Schema.decodeUnknownExit(EndpointJson)

export interface DecodedSlice {
  readonly name: string
  readonly endpoints: ReadonlyArray<Endpoint>
  readonly skipped: ReadonlyArray<SkippedEndpoint>
}

const nameOf = (raw: unknown) => {
  const metadata = typeof raw === "object" && raw !== null ? (raw as { metadata?: { name?: unknown } }).metadata : undefined
  return typeof metadata?.name === "string" ? metadata.name : "<unnamed>"
}

/** The conditions as the API defines absent ones: ready unless said otherwise; serving follows ready. */
const endpointOf = (address: string, conditions: (typeof EndpointJson.Type)["conditions"]): Endpoint => {
  const ready = conditions?.ready ?? true
  return { address, ready, serving: conditions?.serving ?? ready, terminating: conditions?.terminating ?? false }
}

export const decodeEndpointSlice = (service: string, raw: unknown): DecodedSlice => {
  const slice = decodeSlice(raw)
  if (slice._tag === "Failure") {
    const name = nameOf(raw)
    return {
      name,
      endpoints: [],
      skipped: [{ service, address: `slice ${name}`, reason: "malformed EndpointSlice (needs metadata.name and addressType)" }]
    }
  }
  const { metadata, addressType, endpoints: rawEndpoints } = slice.value
  const skip = (address: string, reason: string): SkippedEndpoint => ({ service, address, reason })
  const family = addressType === "IPv4" ? 4 : addressType === "IPv6" ? 6 : undefined
  const endpoints: Array<Endpoint> = []
  const skipped: Array<SkippedEndpoint> = []
  for (const [index, rawEndpoint] of (rawEndpoints ?? []).entries()) {
    const decoded = decodeEndpoint(rawEndpoint)
    const where = `${metadata.name}[${index}]`
    if (decoded._tag === "Failure") {
      skipped.push(skip(where, "malformed endpoint (needs addresses, and boolean conditions)"))
      continue
    }
    // The API promises one address per endpoint and tells consumers to use the first.
    const address = decoded.value.addresses[0]
    if (address === undefined) skipped.push(skip(where, "endpoint without addresses"))
    else if (family === undefined) skipped.push(skip(address, `${addressType} address type is not an IP family`))
    else if (isIP(address) !== family) skipped.push(skip(address, `not an ${addressType} address`))
    else {
      // 0.0.0.0, loopback, link-local, multicast, broadcast: never a peer, whoever wrote the slice.
      const special = specialAddressReason(address)
      if (special !== undefined) skipped.push(skip(address, special))
      else endpoints.push(endpointOf(address, decoded.value.conditions))
    }
  }
  return { name: metadata.name, endpoints, skipped }
}
