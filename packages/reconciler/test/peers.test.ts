import type { Endpoint, MembershipSnapshot } from "@kubelan/discovery"
import { describe, expect, it } from "vitest"
import { desiredPeers, diffPeers, serviceChanges } from "../src/index.ts"

const endpoint = (address: string, conditions: Partial<Endpoint> = {}): Endpoint => ({
  address,
  ready: true,
  serving: true,
  terminating: false,
  ...conditions
})
const snapshot = (services: Record<string, Array<Endpoint>>): MembershipSnapshot => ({
  services: new Map(Object.entries(services).map(([name, endpoints]) => [name, { endpoints, synced: true }]))
})
const peers = (result: ReturnType<typeof desiredPeers>) =>
  Object.fromEntries([...result.peers].map(([address, services]) => [address, [...services].sort()]))

describe("desiredPeers", () => {
  it("takes the union over services, never lists the pod itself, and records who lists each peer", () => {
    const result = desiredPeers(
      snapshot({ "a/x": [endpoint("10.0.0.1"), endpoint("10.0.0.2")], "a/y": [endpoint("10.0.0.2"), endpoint("10.0.0.3")] }),
      { self: "10.0.0.1", family: 4, include: "all" }
    )
    expect(peers(result)).toEqual({ "10.0.0.2": ["a/x", "a/y"], "10.0.0.3": ["a/y"] })
  })

  it("applies the endpoint policy: all, serving, ready", () => {
    const members = snapshot({
      "a/x": [
        endpoint("10.0.0.2"),
        endpoint("10.0.0.3", { ready: false }),
        endpoint("10.0.0.4", { ready: false, serving: false, terminating: true })
      ]
    })
    const with_ = (include: "all" | "serving" | "ready") =>
      Object.keys(peers(desiredPeers(members, { self: "10.0.0.1", family: 4, include })))
    expect(with_("all")).toEqual(["10.0.0.2", "10.0.0.3", "10.0.0.4"])
    expect(with_("serving")).toEqual(["10.0.0.2", "10.0.0.3"])
    expect(with_("ready")).toEqual(["10.0.0.2"])
  })

  it("keeps only the underlay's family and skips what is not an address", () => {
    const result = desiredPeers(snapshot({ "a/x": [endpoint("fd00::0002"), endpoint("10.0.0.2"), endpoint("db-0.example.com")] }), {
      self: "fd00::1",
      family: 6,
      include: "all"
    })
    expect(peers(result)).toEqual({ "fd00::2": ["a/x"] })
    expect(result.skipped).toEqual([{ service: "a/x", address: "db-0.example.com", reason: "not an IP address" }])
  })
})

describe("diffPeers", () => {
  it("adds what is missing and removes what is extra, touching nothing else", () => {
    expect(diffPeers(["10.0.0.2", "10.0.0.3"], ["10.0.0.3", "10.0.0.4"])).toEqual({ add: ["10.0.0.2"], remove: ["10.0.0.4"] })
    expect(diffPeers(["10.0.0.2"], ["10.0.0.2"])).toEqual({ add: [], remove: [] })
  })
})

describe("serviceChanges", () => {
  it("gives one added and one removed run per changed service", () => {
    const before = new Map([
      ["a/x", new Set(["10.0.0.2", "10.0.0.3"])],
      ["a/y", new Set(["10.0.0.9"])]
    ])
    const after = new Map([
      ["a/x", new Set(["10.0.0.3", "10.0.0.4", "10.0.0.5"])],
      ["a/y", new Set(["10.0.0.9"])]
    ])
    expect(serviceChanges(before, after)).toEqual([
      { service: "a/x", ips: ["10.0.0.4", "10.0.0.5"], deleted: false },
      { service: "a/x", ips: ["10.0.0.2"], deleted: true }
    ])
  })
})
