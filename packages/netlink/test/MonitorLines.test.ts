import { describe, expect, it } from "vitest"
import { monitorChanges } from "../src/MonitorLines.ts"

// Lines as `bridge monitor link fdb` printed them on this kernel.
const lines = [
  "4: kl0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 ",
  "00:00:00:00:00:00 dev kl0 dst 10.9.0.7 self permanent",
  "Deleted 00:00:00:00:00:00 dev kl0 dst 10.9.0.7 self permanent",
  "Deleted 4: kl0: <BROADCAST,MULTICAST> mtu 1400 ",
  "3: eth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 ",
  "00:00:00:00:00:00 dev kl01 dst 10.9.0.8 self permanent",
  "5: kl01: <BROADCAST,MULTICAST> mtu 1500 "
]

describe("bridge monitor lines", () => {
  it("tells a link change from an FDB change, and names every flood entry added or deleted", () => {
    expect(monitorChanges(lines, "kl0")).toEqual([
      { kind: "link", detail: "4: kl0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450" },
      {
        kind: "fdb",
        detail: "00:00:00:00:00:00 dev kl0 dst 10.9.0.7 self permanent",
        entries: [
          { dst: "10.9.0.7", added: true },
          { dst: "10.9.0.7", added: false }
        ]
      }
    ])
  })

  it("ignores entries the kernel learned for other MACs: they are not kubelan's", () => {
    expect(
      monitorChanges(["2e:52:09:2e:52:b9 dev kl0 dst 10.9.0.8 self ", "Deleted 2e:52:09:2e:52:b9 dev kl0 dst 10.9.0.8 self "], "kl0")
    ).toEqual([])
  })

  it("counts a change of any link (the underlay's MTU is the interface's), and FDB changes of no other interface", () => {
    expect(monitorChanges(lines.slice(4), "kl0")).toEqual([
      { kind: "link", detail: "3: eth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500" }
    ])
    expect(monitorChanges(["00:00:00:00:00:00 dev kl01 dst 10.9.0.8 self permanent"], "kl0")).toEqual([])
  })

  it("reads a deleted link and a deleted entry as changes", () => {
    expect(monitorChanges(["Deleted 4: kl0: <BROADCAST,MULTICAST> mtu 1400 "], "kl0")).toEqual([
      { kind: "link", detail: "Deleted 4: kl0: <BROADCAST,MULTICAST> mtu 1400" }
    ])
    expect(monitorChanges(["Deleted 00:00:00:00:00:00 dev kl0 dst 10.9.0.7 self permanent"], "kl0")).toEqual([
      { kind: "fdb", detail: "Deleted 00:00:00:00:00:00 dev kl0 dst 10.9.0.7 self permanent", entries: [{ dst: "10.9.0.7", added: false }] }
    ])
  })

  it("takes a name with regular-expression characters literally", () => {
    expect(monitorChanges(["00:00:00:00:00:00 dev k.l+0 dst 10.9.0.8 self permanent"], "k.l+0")).toHaveLength(1)
    expect(monitorChanges(["00:00:00:00:00:00 dev kxll0 dst 10.9.0.8 self permanent"], "k.l+0")).toEqual([])
  })
})
