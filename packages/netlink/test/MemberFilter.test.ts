import { describe, expect, it } from "vitest"
import { parseFilterState, parseRecent, renderFilter, renderRemoval } from "../src/MemberFilter.ts"

// As iptables-save -c printed it here (iptables 1.8.9, nf_tables).
const saved = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBELAN-kl - [0:0]
:KUBELAN-kl-M - [0:0]
[3:150] -A INPUT -p udp -m udp --dport 4789 -j KUBELAN-kl
[3:150] -A KUBELAN-kl -j KUBELAN-kl-M
[2:100] -A KUBELAN-kl -m recent --set --name KUBELAN-kl --mask 255.255.255.255 --rsource -j DROP
[1:50] -A KUBELAN-kl-M -s 10.0.0.2/32 -j ACCEPT
COMMIT
`

describe("the member filter's iptables rules", () => {
  it("reads what is installed, with the drop counter", () => {
    expect(parseFilterState(saved, "kl", 4789)).toEqual({
      installed: true,
      ports: [4789],
      members: ["10.0.0.2"],
      dropped: 2,
      exists: true,
      droppedFrom: new Map()
    })
    expect(parseFilterState(saved, "kl", 8472).installed).toBe(false)
    expect(parseFilterState(saved, "other", 4789)).toEqual({
      installed: false,
      ports: [],
      members: [],
      dropped: 0,
      exists: false,
      droppedFrom: new Map()
    })
    // Who the drop rule remembered, as /proc/net/xt_recent shows it.
    expect(
      parseRecent(
        "src=10.0.0.9 ttl: 64 last_seen: 4295123 oldest_pkt: 3 4295100, 4295110, 4295123\nsrc=fd00::9 ttl: 64 last_seen: 4295200 oldest_pkt: 1 4295200\n"
      )
    ).toEqual(
      new Map([
        ["10.0.0.9", 4295123],
        ["fd00::9", 4295200]
      ])
    )
  })

  it("replaces only the members chain when the rest is there; makes everything when not; moves the port", () => {
    const installed = parseFilterState(saved, "kl", 4789)
    expect(renderFilter({ name: "kl", port: 4789, family: 4, members: ["10.0.0.2", "10.0.0.3"] }, installed)).toBe(
      "*filter\n:KUBELAN-kl-M - [0:0]\n-A KUBELAN-kl-M -s 10.0.0.2/32 -j ACCEPT\n-A KUBELAN-kl-M -s 10.0.0.3/32 -j ACCEPT\nCOMMIT\n"
    )
    const fresh = renderFilter({ name: "kl", port: 4789, family: 6, members: ["fd00::2"] }, parseFilterState("", "kl", 4789))
    expect(fresh).toContain(
      "-A KUBELAN-kl-M -s fd00::2/128 -j ACCEPT\n-A KUBELAN-kl -j KUBELAN-kl-M\n-A KUBELAN-kl -m recent --set --name KUBELAN-kl --rsource -j DROP\n"
    )
    expect(fresh).toContain("-A INPUT -p udp -m udp --dport 4789 -j KUBELAN-kl\n")
    const moved = renderFilter({ name: "kl", port: 8472, family: 4, members: [] }, parseFilterState(saved, "kl", 8472))
    expect(moved).toContain("-D INPUT -p udp -m udp --dport 4789 -j KUBELAN-kl\n-A INPUT -p udp -m udp --dport 8472 -j KUBELAN-kl\n")
    expect(renderRemoval("kl", installed)).toBe(
      "*filter\n-D INPUT -p udp -m udp --dport 4789 -j KUBELAN-kl\n-F KUBELAN-kl\n-F KUBELAN-kl-M\n-X KUBELAN-kl\n-X KUBELAN-kl-M\nCOMMIT\n"
    )
  })
})
