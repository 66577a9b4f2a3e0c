import { isIP } from "node:net"
import { specialAddressReason } from "@kubelan/config"
import type { Endpoint, SkippedEndpoint } from "./Membership.ts"

/**
 * EndpointSlices as kubelan reads them, decoded at the edge. A slice or an endpoint that does
 * not decode is skipped with a reason; everything else in the same slice still counts.
 */
type JsonObject = Readonly<Record<string, unknown>>
const asObject = (value: unknown): JsonObject | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined

interface SliceJson {
  readonly name: string
  readonly addressType: string
  readonly endpoints: ReadonlyArray<unknown>
}

/** metadata.name and addressType are strings; endpoints is absent, null or an array. */
const decodeSlice = (raw: unknown): SliceJson | undefined => {
  const slice = asObject(raw)
  const name = asObject(slice?.metadata)?.name
  const addressType = slice?.addressType
  const endpoints = slice?.endpoints ?? []
  if (typeof name !== "string" || typeof addressType !== "string" || !Array.isArray(endpoints)) return undefined
  return { name, addressType, endpoints }
}

interface Conditions {
  readonly ready?: boolean | undefined
  readonly serving?: boolean | undefined
  readonly terminating?: boolean | undefined
}

/** addresses is an array of strings; conditions, if present, holds booleans (or nulls). */
const decodeEndpoint = (raw: unknown): { readonly addresses: ReadonlyArray<string>; readonly conditions: Conditions } | undefined => {
  const endpoint = asObject(raw)
  const addresses = endpoint?.addresses
  if (!Array.isArray(addresses) || !addresses.every((address) => typeof address === "string")) return undefined
  const rawConditions = endpoint?.conditions ?? {}
  const conditions = asObject(rawConditions)
  if (conditions === undefined) return undefined
  const flag = (key: string): boolean | undefined | "malformed" => {
    const value = conditions[key] ?? undefined
    return value === undefined || typeof value === "boolean" ? value : "malformed"
  }
  const ready = flag("ready")
  const serving = flag("serving")
  const terminating = flag("terminating")
  if (ready === "malformed" || serving === "malformed" || terminating === "malformed") return undefined
  return { addresses, conditions: { ready, serving, terminating } }
}

export interface DecodedSlice {
  readonly name: string
  readonly endpoints: ReadonlyArray<Endpoint>
  readonly skipped: ReadonlyArray<SkippedEndpoint>
}

const nameOf = (raw: unknown) => {
  const name = asObject(asObject(raw)?.metadata)?.name
  return typeof name === "string" ? name : "<unnamed>"
}

/** The conditions as the API defines absent ones: ready unless said otherwise; serving follows ready. */
const endpointOf = (address: string, conditions: Conditions): Endpoint => {
  const ready = conditions.ready ?? true
  return { address, ready, serving: conditions.serving ?? ready, terminating: conditions.terminating ?? false }
}

export const decodeEndpointSlice = (service: string, raw: unknown): DecodedSlice => {
  const slice = decodeSlice(raw)
  if (slice === undefined) {
    const name = nameOf(raw)
    return {
      name,
      endpoints: [],
      skipped: [{ service, address: `slice ${name}`, reason: "malformed EndpointSlice (needs metadata.name and addressType)" }]
    }
  }
  const { name, addressType, endpoints: rawEndpoints } = slice
  const skip = (address: string, reason: string): SkippedEndpoint => ({ service, address, reason })
  const family = addressType === "IPv4" ? 4 : addressType === "IPv6" ? 6 : undefined
  const endpoints: Array<Endpoint> = []
  const skipped: Array<SkippedEndpoint> = []
  for (const [index, rawEndpoint] of rawEndpoints.entries()) {
    const decoded = decodeEndpoint(rawEndpoint)
    const where = `${name}[${index}]`
    if (decoded === undefined) {
      skipped.push(skip(where, "malformed endpoint (needs addresses, and boolean conditions)"))
      continue
    }
    // The API promises one address per endpoint and tells consumers to use the first.
    const address = decoded.addresses[0]
    if (address === undefined) skipped.push(skip(where, "endpoint without addresses"))
    else if (family === undefined) skipped.push(skip(address, `${addressType} address type is not an IP family`))
    else if (isIP(address) !== family) skipped.push(skip(address, `not an ${addressType} address`))
    else {
      // 0.0.0.0, loopback, link-local, multicast, broadcast: never a peer, whoever wrote the slice.
      const special = specialAddressReason(address)
      if (special !== undefined) skipped.push(skip(address, special))
      else endpoints.push(endpointOf(address, decoded.conditions))
    }
  }
  return { name, endpoints, skipped }
}
