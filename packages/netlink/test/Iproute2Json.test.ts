import { describe, expect, it } from "vitest"
import { parseAddresses, parseDefaultRoute, parseLinks } from "../src/Iproute2Json.ts"

// Output as iproute2 6.1 printed it on this kernel (the link as `ip -json -details address show` prints it).
const link = `[{"ifindex":4,"ifname":"kl","flags":["BROADCAST","MULTICAST","UP"],"mtu":1450,"qdisc":"noop","linkinfo":{"info_kind":"vxlan","info_data":{"id":5,"local":"10.9.0.1","port_range":{"low":0,"high":0},"port":4789,"learning":true,"ttl":0}},"addr_info":[{"family":"inet","local":"192.168.69.1","prefixlen":24,"scope":"global","label":"kl"},{"family":"inet6","local":"fd69::1","prefixlen":64,"scope":"global"},{"family":"inet6","local":"fe80::8a2:58ff:fe98:aaf5","prefixlen":64,"scope":"link"}]}]`
const addresses = `[{"ifindex":3,"link":"v1","ifname":"v0","flags":["UP"],"mtu":1500,"addr_info":[{"family":"inet","local":"10.9.0.1","prefixlen":24,"scope":"global","label":"v0"},{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]}]`
const route = `[{"dst":"default","gateway":"10.9.0.254","dev":"v0","flags":["linkdown"]}]`

describe("iproute2 -json output", () => {
  it("reads a VXLAN link, an interface's addresses and the default route", () => {
    expect(parseLinks(link)).toEqual([
      {
        ifindex: 4,
        name: "kl",
        kind: "vxlan",
        vni: 5,
        port: 4789,
        local: "10.9.0.1",
        learning: true,
        mtu: 1450,
        up: true,
        addresses: ["192.168.69.1/24", "fd69::1/64"]
      }
    ])
    expect(parseAddresses(addresses)).toEqual([
      {
        name: "v0",
        mtu: 1500,
        addresses: [
          { address: "10.9.0.1", family: 4, prefixLength: 24, global: true },
          { address: "fe80::1", family: 6, prefixLength: 64, global: false }
        ]
      }
    ])
    expect(parseDefaultRoute(route)).toEqual({ device: "v0", preferredSource: undefined })
  })

  it("reads nothing at all as no entries", () => {
    expect(parseLinks("")).toEqual([])
    expect(parseAddresses("\n")).toEqual([])
    expect(parseDefaultRoute("")).toBeUndefined()
  })

  it("names the field it could not read", () => {
    expect(() => parseLinks(`[{"ifindex":"4","ifname":"kl","mtu":1450}]`)).toThrow("ifindex: expected a number, got string")
    expect(() => parseLinks(`[{"ifindex":4,"mtu":1450}]`)).toThrow("ifname: missing")
    expect(() => parseLinks(`[{"ifindex":4,"ifname":"kl","mtu":1450,"linkinfo":[]}]`)).toThrow("linkinfo: expected an object, got an array")
    expect(() => parseAddresses(`[{"ifname":"v0","mtu":1500,"addr_info":{}}]`)).toThrow("addr_info: expected an array, got object")
    expect(() => parseLinks(`{"ifname":"kl"}`)).toThrow("output: expected an array, got object")
    expect(() => parseAddresses(`[null]`)).toThrow("entry 0: expected an object, got null")
  })
})
