import { isIP } from "node:net"
import { specialAddressReason } from "@kubelan/config"
import { fc, fuzz } from "@kubelan/testkit"
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

describe("special addresses in slices", () => {
  it("are skipped and counted with their reason; the rest of the slice applies", () => {
    const decoded = decodeEndpointSlice(
      "ns/a",
      slice(
        "IPv4",
        ["0.0.0.0", "127.0.0.1", "169.254.9.9", "224.0.0.18", "239.1.1.1", "255.255.255.255", "10.0.0.7"].map((address) => ({
          addresses: [address]
        }))
      )
    )
    expect(decoded.endpoints.map((endpoint) => endpoint.address)).toEqual(["10.0.0.7"])
    expect(decoded.skipped.map((skip) => `${skip.address}: ${skip.reason}`)).toEqual([
      "0.0.0.0: an unspecified address (0.0.0.0/8)",
      "127.0.0.1: a loopback address (127.0.0.0/8)",
      "169.254.9.9: a link-local address (169.254.0.0/16)",
      "224.0.0.18: a multicast address (224.0.0.0/4)",
      "239.1.1.1: a multicast address (224.0.0.0/4)",
      "255.255.255.255: the broadcast address"
    ])
    const v6 = decodeEndpointSlice(
      "ns/a",
      slice(
        "IPv6",
        ["::", "::1", "fe80::1", "ff02::1", "fd00::7"].map((address) => ({ addresses: [address] }))
      )
    )
    expect(v6.endpoints.map((endpoint) => endpoint.address)).toEqual(["fd00::7"])
    expect(v6.skipped).toHaveLength(4)
  })
})

describe("EndpointSlice decoding, fuzzed", () => {
  const address = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.constantFrom(
      "0.0.0.0",
      "127.0.0.1",
      "::",
      "::1",
      "224.0.0.1",
      "ff02::1",
      "255.255.255.255",
      "169.254.0.1",
      "fe80::1",
      "db.example.com",
      ""
    ),
    fc.string({ maxLength: 20 })
  )
  const condition = fc.oneof(fc.boolean(), fc.constant(null), fc.constant(undefined), fc.string({ maxLength: 3 }), fc.integer())
  const endpoint = fc.oneof(
    fc.record(
      {
        addresses: fc.oneof(fc.array(address, { maxLength: 3 }), fc.constant(null), fc.string({ maxLength: 5 })),
        conditions: fc.oneof(
          fc.record({ ready: condition, serving: condition, terminating: condition }, { requiredKeys: [] }),
          fc.constant(null),
          fc.string()
        )
      },
      { requiredKeys: [] }
    ),
    fc.anything()
  )
  const rawSlice = fc.oneof(
    fc.record(
      {
        metadata: fc.oneof(fc.record({ name: fc.oneof(fc.string({ maxLength: 10 }), fc.integer()) }, { requiredKeys: [] }), fc.anything()),
        addressType: fc.oneof(fc.constantFrom("IPv4", "IPv6", "FQDN"), fc.anything()),
        endpoints: fc.oneof(fc.array(endpoint, { maxLength: 8 }), fc.constant(null), fc.anything())
      },
      { requiredKeys: [] }
    ),
    fc.anything()
  )

  it("never throws, never lets through an address that cannot be a peer, and accounts for every endpoint", async () => {
    await fuzz(
      fc.property(rawSlice, (raw) => {
        const decoded = decodeEndpointSlice("ns/a", raw)
        for (const found of decoded.endpoints) {
          expect(isIP(found.address)).not.toBe(0)
          expect(specialAddressReason(found.address)).toBeUndefined()
          expect(typeof found.ready).toBe("boolean")
        }
        const rawEndpoints = (raw as { endpoints?: unknown } | null)?.endpoints
        const listed = Array.isArray(rawEndpoints) ? rawEndpoints.length : 0
        expect(decoded.endpoints.length + decoded.skipped.length).toBeLessThanOrEqual(Math.max(listed, 1))
      }),
      1000
    )
  })
})
