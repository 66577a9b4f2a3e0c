import { describe, expect, it } from "vitest"
import { floodDestinations } from "../src/FdbShow.ts"

describe("bridge fdb show dev NAME", () => {
  it("reads the destinations of the flood entries, IPv4 and IPv6, and nothing else", () => {
    // As iproute2 6.1 printed it on this kernel: flood entries, the device's own MAC, a learned one.
    const text = [
      "00:00:00:00:00:00 dst 10.100.0.0 self permanent",
      "00:00:00:00:00:00 dst fd00::2 self permanent",
      "66:69:8d:82:fd:ff vlan 1 master br0 permanent",
      "2e:52:09:2e:52:b9 dst 10.100.0.7 self ",
      "00:00:00:00:00:00 dst 10.100.0.1 via eth1 self permanent",
      ""
    ].join("\n")
    expect(floodDestinations(text)).toEqual(["10.100.0.0", "fd00::2", "10.100.0.1"])
  })

  it("reads nothing from nothing", () => {
    expect(floodDestinations("")).toEqual([])
  })
})
