import type { KubeObject } from "@kubelan/kube-fake"
import { describe, expect, it } from "vitest"
import { podRules, restoreInput } from "../src/network/PolicyRules.ts"

/** The NetworkPolicy planner: which sources and ports a selected pod admits, as the API defines them. */
const pod = (name: string, namespace: string, ip: string, labels: Record<string, string>, ports: Array<object> = []): KubeObject => ({
  metadata: { name, namespace, uid: name, labels },
  spec: { containers: [{ name: "c", ports }] },
  status: { podIP: ip }
})
const namespace = (name: string, labels: Record<string, string>): KubeObject => ({ metadata: { name, labels } })
const policy = (spec: object, name = "p", ns = "lan"): KubeObject => ({ metadata: { name, namespace: ns }, spec })

const target = pod("a", "lan", "10.0.0.1", { app: "lan" }, [{ name: "vxlan", containerPort: 4789, protocol: "UDP" }])
const world = (policies: Array<KubeObject>) => ({
  policies,
  pods: [
    target,
    pod("b", "lan", "10.0.0.2", { app: "lan" }),
    pod("c", "lan", "10.0.0.3", { app: "web" }),
    pod("d", "ops", "10.0.1.4", { app: "lan" })
  ],
  namespaces: [namespace("lan", { team: "net" }), namespace("ops", { team: "ops" })]
})

describe("NetworkPolicy rules", () => {
  it("a pod no policy selects is open both ways", () => {
    expect(podRules(target, world([policy({ podSelector: { matchLabels: { app: "web" } } })]), "10.0.0.254")).toEqual({
      ingress: undefined,
      egress: undefined
    })
  })

  it("selected pods admit replies, loopback, their node, then each rule's sources and ports; a named port resolves on the pod", () => {
    const rules = podRules(
      target,
      world([
        policy({
          podSelector: { matchLabels: { app: "lan" } },
          ingress: [{ from: [{ podSelector: { matchLabels: { app: "lan" } } }], ports: [{ protocol: "UDP", port: "vxlan" }] }]
        })
      ]),
      "10.0.0.254"
    )
    expect(rules.egress).toBeUndefined()
    expect(rules.ingress?.lines).toEqual([
      "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
      "-i lo -j ACCEPT",
      "-s 10.0.0.254 -j ACCEPT",
      // Same namespace only: d (ops) is not a source although it has the label.
      "-s 10.0.0.1 -p udp --dport 4789 -j ACCEPT",
      "-s 10.0.0.2 -p udp --dport 4789 -j ACCEPT",
      "-j DROP"
    ])
  })

  it("a namespaceSelector reaches across namespaces; an empty rule admits everything; policies add up", () => {
    const rules = podRules(
      target,
      world([
        policy({ podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "ops" } } }] }] }, "ops"),
        policy(
          {
            podSelector: { matchExpressions: [{ key: "app", operator: "In", values: ["lan", "x"] }] },
            ingress: [{ ports: [{ port: 8181 }] }]
          },
          "tcp"
        )
      ]),
      "10.0.0.254"
    )
    expect(rules.ingress?.lines).toContain("-s 10.0.1.4 -j ACCEPT")
    expect(rules.ingress?.lines).toContain("-p tcp --dport 8181 -j ACCEPT")
    expect(rules.ingress?.lines.at(-1)).toBe("-j DROP")
  })

  it("an ipBlock's exceptions return to the chain before the block is admitted; egress isolates the other way", () => {
    const rules = podRules(
      target,
      world([
        policy({
          podSelector: {},
          policyTypes: ["Egress"],
          egress: [{ to: [{ ipBlock: { cidr: "10.0.0.0/16", except: ["10.0.1.0/24"] } }], ports: [{ protocol: "UDP", port: 4789 }] }]
        })
      ]),
      "10.0.0.254"
    )
    expect(rules.ingress).toBeUndefined()
    expect(rules.egress?.lines).toContain("-j KLSIM-POLICY-OUT-0")
    expect(rules.egress?.blocks).toEqual([
      { name: "KLSIM-POLICY-OUT-0", lines: ["-d 10.0.1.0/24 -j RETURN", "-d 10.0.0.0/16 -p udp --dport 4789 -j ACCEPT"] }
    ])
    const input = restoreInput(rules)
    expect(input).toContain(":KLSIM-POLICY-OUT-0 - [0:0]")
    expect(input).toContain("-A KLSIM-POLICY-OUT-0 -d 10.0.1.0/24 -j RETURN")
    expect(input.endsWith("COMMIT\n")).toBe(true)
  })
})
