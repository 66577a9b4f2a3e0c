import { describe, expect, it } from "vitest"
import { decodeEndpointSlice } from "../src/kubernetes.ts"

const slice = (addressType: string, endpoints: Array<unknown>) => ({ metadata: { name: "s" }, addressType, endpoints })

describe("decodeEndpointSlice", () => {
  it("reads the first address of each endpoint and its conditions", () => {
    const decoded = decodeEndpointSlice(
      "ns/a",
      slice("IPv4", [{ addresses: ["10.0.0.2", "10.0.0.9"], conditions: { ready: false, serving: true, terminating: true } }])
    )
    expect(decoded).toEqual({
      name: "s",
      endpoints: [{ address: "10.0.0.2", ready: false, serving: true, terminating: true }],
      skipped: []
    })
  })

  it("reads absent conditions as the API defines them: ready, serving as ready, not terminating", () => {
    const decoded = decodeEndpointSlice(
      "ns/a",
      slice("IPv6", [{ addresses: ["fd00::2"] }, { addresses: ["fd00::3"], conditions: { ready: false } }])
    )
    expect(decoded.endpoints).toEqual([
      { address: "fd00::2", ready: true, serving: true, terminating: false },
      { address: "fd00::3", ready: false, serving: false, terminating: false }
    ])
  })

  it("skips what it cannot use, with a reason, and keeps the rest", () => {
    const decoded = decodeEndpointSlice(
      "ns/a",
      slice("IPv4", [
        { addresses: ["10.0.0.2"] },
        { addresses: ["10.0.0.300"] },
        { addresses: ["fd00::1"] },
        { addresses: [] },
        { conditions: {} },
        { addresses: ["10.0.0.3"], conditions: { ready: "yes" } }
      ])
    )
    expect(decoded.endpoints.map((endpoint) => endpoint.address)).toEqual(["10.0.0.2"])
    expect(decoded.skipped).toEqual([
      { service: "ns/a", address: "10.0.0.300", reason: "not an IPv4 address" },
      { service: "ns/a", address: "fd00::1", reason: "not an IPv4 address" },
      { service: "ns/a", address: "s[3]", reason: "endpoint without addresses" },
      { service: "ns/a", address: "s[4]", reason: "malformed endpoint (needs addresses, and boolean conditions)" },
      { service: "ns/a", address: "s[5]", reason: "malformed endpoint (needs addresses, and boolean conditions)" }
    ])
  })

  it("skips every endpoint of an FQDN slice, and a slice without addressType whole", () => {
    expect(decodeEndpointSlice("ns/a", slice("FQDN", [{ addresses: ["db.example.com"] }])).skipped).toEqual([
      { service: "ns/a", address: "db.example.com", reason: "FQDN address type is not an IP family" }
    ])
    expect(decodeEndpointSlice("ns/a", { metadata: { name: "x" }, endpoints: [] })).toEqual({
      name: "x",
      endpoints: [],
      skipped: [{ service: "ns/a", address: "slice x", reason: "malformed EndpointSlice (needs metadata.name and addressType)" }]
    })
  })
})
