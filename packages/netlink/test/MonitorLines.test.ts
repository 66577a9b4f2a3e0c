import { describe, expect, it } from "vitest"
import { monitorChanges } from "../src/MonitorLines.ts"

// Lines as `bridge monitor link fdb` printed them on this kernel.
const created = "4: kl0: <BROADCAST,MULTICAST> mtu 1450 "
const up = "4: kl0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 "
const added = "00:00:00:00:00:00 dev kl0 dst 10.9.0.7 self permanent"
const deleted = "Deleted 00:00:00:00:00:00 dev kl0 dst 10.9.0.7 self permanent"
const underlay = "3: eth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 "

describe("bridge monitor lines", () => {
  it("shows the interface as the last line about it says it is now, and names every flood entry added or deleted", () => {
    expect(monitorChanges([created, up, added, deleted], "kl0")).toEqual([
      {
        kind: "link",
        detail: up.trim(),
        link: { ifindex: 4, name: "kl0", up: true, mtu: 1450, deleted: false }
      },
      {
        kind: "fdb",
        detail: added,
        entries: [
          { dst: "10.9.0.7", added: true },
          { dst: "10.9.0.7", added: false }
        ]
      }
    ])
  })

  it("reports any other link apart (the underlay's MTU is the interface's), and FDB changes of no other interface", () => {
    expect(monitorChanges([up, underlay], "kl0").map((change) => change.link)).toEqual([
      { ifindex: 4, name: "kl0", up: true, mtu: 1450, deleted: false },
      { ifindex: 3, name: "eth0", up: true, mtu: 1400, deleted: false }
    ])
    expect(monitorChanges(["00:00:00:00:00:00 dev kl01 dst 10.9.0.8 self permanent", "5: kl01: <BROADCAST> mtu 1500 "], "kl0")).toEqual([
      { kind: "link", detail: "5: kl01: <BROADCAST> mtu 1500", link: { ifindex: 5, name: "kl01", up: false, mtu: 1500, deleted: false } }
    ])
  })

  it("ignores entries the kernel learned for other MACs: they are not kubelan's", () => {
    expect(
      monitorChanges(["2e:52:09:2e:52:b9 dev kl0 dst 10.9.0.8 self ", "Deleted 2e:52:09:2e:52:b9 dev kl0 dst 10.9.0.8 self "], "kl0")
    ).toEqual([])
  })

  it("reads a deleted link and a deleted entry as changes", () => {
    expect(monitorChanges(["Deleted 4: kl0: <BROADCAST,MULTICAST> mtu 1400 "], "kl0")).toEqual([
      {
        kind: "link",
        detail: "Deleted 4: kl0: <BROADCAST,MULTICAST> mtu 1400",
        link: { ifindex: 4, name: "kl0", up: false, mtu: 1400, deleted: true }
      }
    ])
    expect(monitorChanges([deleted], "kl0")).toEqual([{ kind: "fdb", detail: deleted, entries: [{ dst: "10.9.0.7", added: false }] }])
  })

  it("takes a name with regular-expression characters literally", () => {
    expect(monitorChanges(["00:00:00:00:00:00 dev k.l+0 dst 10.9.0.8 self permanent"], "k.l+0")).toHaveLength(1)
    expect(monitorChanges(["00:00:00:00:00:00 dev kxll0 dst 10.9.0.8 self permanent"], "k.l+0")).toEqual([])
  })
})
