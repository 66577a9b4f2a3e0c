import { isRecord, type KubeObject } from "@kubelan/kube-fake"

/**
 * NetworkPolicy as a CNI plugin enforces it, planned without side effects: for one pod, the
 * iptables rules of its ingress and egress chains. A pod no policy selects for a direction is
 * open in it; a selected pod admits only what some rule of some policy allows, plus replies,
 * loopback and (ingress) its node, whose kubelet probes it.
 */

interface LabelSelector {
  readonly matchLabels?: Record<string, string>
  readonly matchExpressions?: ReadonlyArray<{ key: string; operator: string; values?: ReadonlyArray<string> }>
}

interface PolicyPeer {
  readonly podSelector?: LabelSelector
  readonly namespaceSelector?: LabelSelector
  readonly ipBlock?: { readonly cidr: string; readonly except?: ReadonlyArray<string> }
}

interface PolicyPort {
  readonly protocol?: string
  readonly port?: number | string
  readonly endPort?: number
}

interface PolicyRule {
  readonly from?: ReadonlyArray<PolicyPeer>
  readonly to?: ReadonlyArray<PolicyPeer>
  readonly ports?: ReadonlyArray<PolicyPort>
}

interface PolicySpec {
  readonly podSelector?: LabelSelector
  readonly policyTypes?: ReadonlyArray<string>
  readonly ingress?: ReadonlyArray<PolicyRule>
  readonly egress?: ReadonlyArray<PolicyRule>
}

/** A label selector as the API defines it; an empty one selects everything. */
export const selects = (selector: LabelSelector | undefined, labels: Record<string, string> | undefined) => {
  if (selector === undefined) return true
  const own = labels ?? {}
  const matched = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => own[key] === value)
  return (
    matched &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      switch (operator) {
        case "In":
          return own[key] !== undefined && values.includes(own[key])
        case "NotIn":
          return own[key] === undefined || !values.includes(own[key])
        case "Exists":
          return own[key] !== undefined
        case "DoesNotExist":
          return own[key] === undefined
        default:
          return false
      }
    })
  )
}

const specOf = (policy: KubeObject): PolicySpec => (isRecord(policy.spec) ? (policy.spec as PolicySpec) : {})

/** The directions a policy governs: as given, or Ingress, plus Egress when it has egress rules. */
const typesOf = (spec: PolicySpec) => spec.policyTypes ?? ["Ingress", ...(spec.egress === undefined ? [] : ["Egress"])]

export interface PolicyWorld {
  readonly policies: ReadonlyArray<KubeObject>
  /** Every pod with an address (phantoms too: they are sources a rule may name). */
  readonly pods: ReadonlyArray<KubeObject>
  readonly namespaces: ReadonlyArray<KubeObject>
}

const podIp = (pod: KubeObject) => (isRecord(pod.status) && typeof pod.status.podIP === "string" ? pod.status.podIP : undefined)

/** The addresses a peer names, seen from a policy in `namespace`. */
const peerSources = (peer: PolicyPeer, namespace: string, world: PolicyWorld): ReadonlyArray<string> => {
  if (peer.ipBlock !== undefined) return [peer.ipBlock.cidr]
  const namespaces = new Set(
    peer.namespaceSelector === undefined
      ? [namespace]
      : world.namespaces
          .filter((candidate) => selects(peer.namespaceSelector, candidate.metadata.labels))
          .map((candidate) => candidate.metadata.name)
  )
  return world.pods
    .filter(
      (pod) => namespaces.has(pod.metadata.namespace) && selects(peer.podSelector, pod.metadata.labels) && !pod.metadata.deletionTimestamp
    )
    .flatMap((pod) => podIp(pod) ?? [])
    .sort()
}

/** A named port resolves against the containers of the pod it is on, as the API specifies. */
const portMatch = (port: PolicyPort, target: KubeObject): ReadonlyArray<string> => {
  const protocol = (port.protocol ?? "TCP").toLowerCase()
  if (port.port === undefined) return [`-p ${protocol}`]
  if (typeof port.port === "number") return [`-p ${protocol} --dport ${port.port}${port.endPort === undefined ? "" : `:${port.endPort}`}`]
  const spec = isRecord(target.spec) ? target.spec : {}
  const containers = [...((spec.initContainers ?? []) as Array<unknown>), ...((spec.containers ?? []) as Array<unknown>)]
  const numbers = containers.flatMap((container) =>
    (
      ((isRecord(container) ? container.ports : []) as Array<{ name?: string; containerPort?: number; protocol?: string }> | undefined) ??
      []
    )
      .filter((candidate) => candidate.name === port.port && (candidate.protocol ?? "TCP").toLowerCase() === protocol)
      .map((candidate) => candidate.containerPort)
  )
  return [...new Set(numbers)].map((number) => `-p ${protocol} --dport ${number}`)
}

/** What one rule admits: match lines (source or destination, and port), and ipBlock exceptions as sub-chains. */
interface Admits {
  readonly lines: ReadonlyArray<string>
  /** Per ipBlock with exceptions: the block, its exceptions and the port matches it admits them on. */
  readonly blocks: ReadonlyArray<{ readonly cidr: string; readonly except: ReadonlyArray<string>; readonly ports: ReadonlyArray<string> }>
}

const admitsOf = (
  rule: PolicyRule,
  peers: ReadonlyArray<PolicyPeer> | undefined,
  namespace: string,
  target: KubeObject,
  world: PolicyWorld,
  flag: "-s" | "-d"
): Admits => {
  const ports = rule.ports === undefined || rule.ports.length === 0 ? [""] : rule.ports.flatMap((port) => portMatch(port, target))
  if (peers === undefined || peers.length === 0) return { lines: ports.map((port) => port), blocks: [] }
  const plain = peers.filter((peer) => (peer.ipBlock?.except ?? []).length === 0)
  const addresses = plain.flatMap((peer) => peerSources(peer, namespace, world))
  return {
    lines: addresses.flatMap((address) => ports.map((port) => `${flag} ${address} ${port}`.trim())),
    blocks: peers.flatMap((peer) =>
      peer.ipBlock !== undefined && (peer.ipBlock.except ?? []).length > 0
        ? [{ cidr: peer.ipBlock.cidr, except: peer.ipBlock.except ?? [], ports }]
        : []
    )
  }
}

export interface ChainRules {
  readonly lines: ReadonlyArray<string>
  /** Sub-chains (ipBlocks with exceptions), by name. */
  readonly blocks: ReadonlyArray<{ readonly name: string; readonly lines: ReadonlyArray<string> }>
}

export interface PodRules {
  /** The ingress chain (undefined: no policy isolates the pod for ingress). */
  readonly ingress: ChainRules | undefined
  readonly egress: ChainRules | undefined
}

export const ingressChain = "KLSIM-POLICY-IN"
export const egressChain = "KLSIM-POLICY-OUT"

/**
 * The rules of one pod: replies, loopback and its node first, then each allowed match is
 * accepted, and anything else dropped. `node` is the address the pod's node reaches it from.
 */
export const podRules = (target: KubeObject, world: PolicyWorld, node: string): PodRules => {
  const namespace = target.metadata.namespace as string
  const applying = world.policies.filter(
    (policy) => policy.metadata.namespace === namespace && selects(specOf(policy).podSelector, target.metadata.labels)
  )
  const chain = (direction: "Ingress" | "Egress"): ChainRules | undefined => {
    const governing = applying.filter((policy) => typesOf(specOf(policy)).includes(direction))
    if (governing.length === 0) return undefined
    const flag = direction === "Ingress" ? "-s" : "-d"
    const admits = governing.flatMap((policy) =>
      (direction === "Ingress" ? (specOf(policy).ingress ?? []) : (specOf(policy).egress ?? [])).map((rule) =>
        admitsOf(rule, direction === "Ingress" ? rule.from : rule.to, namespace, target, world, flag)
      )
    )
    const prefix = direction === "Ingress" ? ingressChain : egressChain
    const blocks = admits
      .flatMap((admit) => admit.blocks)
      .map((block, index) => ({
        name: `${prefix}-${index}`,
        // An exception returns to the policy chain (where later rules may still admit it); the rest of the block is accepted.
        lines: [
          ...block.except.map((cidr) => `${flag} ${cidr} -j RETURN`),
          ...block.ports.map((port) => `${flag} ${block.cidr} ${port} -j ACCEPT`.replace("  ", " "))
        ]
      }))
    return {
      lines: [
        "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        `-${direction === "Ingress" ? "i" : "o"} lo -j ACCEPT`,
        `${flag} ${node} -j ACCEPT`,
        ...[...new Set(admits.flatMap((admit) => admit.lines))].map((line) => `${line} -j ACCEPT`.trim()),
        ...blocks.map((block) => `-j ${block.name}`),
        "-j DROP"
      ],
      blocks
    }
  }
  return { ingress: chain("Ingress"), egress: chain("Egress") }
}

/**
 * The `iptables-restore --noflush` input that makes a pod's chains what the rules say, in one
 * transaction: each chain declared (which empties it) and refilled; an open direction's chain stays empty.
 */
export const restoreInput = (rules: PodRules) => {
  const chains = [
    [ingressChain, rules.ingress],
    [egressChain, rules.egress]
  ] as const
  return [
    "*filter",
    ...chains.map(([name]) => `:${name} - [0:0]`),
    ...chains.flatMap(([, chain]) => (chain?.blocks ?? []).map((block) => `:${block.name} - [0:0]`)),
    ...chains.flatMap(([name, chain]) => [
      ...(chain?.lines ?? []).map((line) => `-A ${name} ${line}`),
      ...(chain?.blocks ?? []).flatMap((block) => block.lines.map((line) => `-A ${block.name} ${line}`))
    ]),
    "COMMIT",
    ""
  ].join("\n")
}
