import { removeNetns, sh } from "../Shell.ts"
import { apiAddress, apiPort, nodeName, phantomRange, podSubnet, uplinkAddresses } from "./Addressing.ts"

/**
 * The simulator's network: a node is a namespace with a bridge for its pods, and nodes reach
 * each other only through a routed fabric namespace, one uplink each, so VXLAN between pods on
 * different nodes crosses a routed hop as in a real cluster. The API is an address on the
 * fabric's loopback. Link faults are made where a real network would have them: MTU on the
 * links, bandwidth with tbf, random loss and partitions with iptables in the fabric. This
 * kernel has no netem, so there is no latency to inject.
 */
export interface LinkSettings {
  readonly mtu?: number | undefined
  /** A tbf rate (`10mbit`, `512kbit`); undefined or "" = unlimited. */
  readonly bandwidth?: string | undefined
  /** Probability that a packet crossing the uplink is dropped, 0..1. */
  readonly loss?: number | undefined
  readonly partitioned?: boolean | undefined
}

export interface NodeNetwork {
  readonly index: number
  readonly name: string
  readonly netns: string
  /** The node's address on its uplink (Node InternalIP, pods' hostIP). */
  readonly internalIP: string
  /** The uplink's name in the fabric. */
  readonly uplink: string
  readonly subnet: ReturnType<typeof podSubnet>
  mtu: number
}

export interface Fabric {
  readonly netns: string
  readonly nodes: ReadonlyArray<NodeNetwork>
  /** Applies what is given; what is omitted stays as it is. MTU covers the uplink and the bridge, not pods (the kubelet's job). */
  setLink(node: NodeNetwork, settings: LinkSettings): Promise<void>
  /** Pods reach the API, or their packets to it are dropped, as a network outage would. */
  setApiReachable(reachable: boolean): Promise<void>
  /** VXLAN packets the fabric has forwarded between nodes. */
  vxlanPackets(): Promise<number>
  destroy(): Promise<void>
}

const accountChain = "KLSIM-ACCOUNT"
const apiChain = "KLSIM-API"
const nodeChain = (node: NodeNetwork) => `KLSIM-${node.uplink}`

export const defaultMtu = 1500

export const createFabric = async (prefix: string, links: ReadonlyArray<LinkSettings>): Promise<Fabric> => {
  const netns = `${prefix}fabric`
  const made: Array<string> = []
  const inFabric = (args: ReadonlyArray<string>) => sh("ip", ["netns", "exec", netns, ...args])
  const iptables = (args: ReadonlyArray<string>) => inFabric(["iptables", "-w", ...args])
  const destroy = async () => {
    for (const name of made.reverse()) await removeNetns(name)
  }
  const nodes: Array<NodeNetwork> = links.map((settings, index) => ({
    index,
    name: nodeName(index),
    netns: `${prefix}${nodeName(index)}`,
    internalIP: uplinkAddresses(index).node,
    uplink: `n${index}`,
    subnet: podSubnet(index),
    mtu: settings.mtu ?? defaultMtu
  }))
  try {
    await removeNetns(netns)
    await sh("ip", ["netns", "add", netns])
    made.push(netns)
    await sh("ip", ["-n", netns, "link", "set", "lo", "up"])
    await sh("ip", ["-n", netns, "address", "add", `${apiAddress}/32`, "dev", "lo"])
    await inFabric(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    for (const chain of [accountChain, apiChain]) await iptables(["-N", chain])
    await iptables(["-A", accountChain, "-p", "udp", "--dport", "4789"])
    await iptables(["-A", "FORWARD", "-j", accountChain])
    await iptables(["-A", "INPUT", "-j", apiChain])
    for (const node of nodes) {
      const uplink = uplinkAddresses(node.index)
      await removeNetns(node.netns)
      await sh("ip", ["netns", "add", node.netns])
      made.push(node.netns)
      await sh("ip", ["-n", node.netns, "link", "set", "lo", "up"])
      await sh("ip", ["link", "add", "name", node.uplink, "netns", netns, "type", "veth", "peer", "name", "uplink", "netns", node.netns])
      for (const [where, dev, address] of [
        [netns, node.uplink, uplink.fabric],
        [node.netns, "uplink", uplink.node]
      ] as const) {
        await sh("ip", ["-n", where, "link", "set", dev, "mtu", String(node.mtu), "up"])
        await sh("ip", ["-n", where, "address", "add", `${address}/${uplink.prefixLength}`, "dev", dev])
      }
      await sh("ip", ["-n", node.netns, "link", "add", "br0", "type", "bridge"])
      await sh("ip", ["-n", node.netns, "link", "set", "br0", "mtu", String(node.mtu), "up"])
      await sh("ip", ["-n", node.netns, "address", "add", `${node.subnet.gateway}/${node.subnet.prefixLength}`, "dev", "br0"])
      await sh("ip", ["-n", node.netns, "route", "add", "default", "via", uplink.fabric])
      // Phantom members have addresses nothing holds: what pods send them ends here, on the node.
      await sh("ip", ["-n", node.netns, "route", "add", "blackhole", phantomRange])
      await sh("ip", ["netns", "exec", node.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
      await sh("ip", ["-n", netns, "route", "add", node.subnet.cidr, "via", uplink.node])
      await iptables(["-N", nodeChain(node)])
      await iptables(["-A", "FORWARD", "-i", node.uplink, "-j", nodeChain(node)])
      await iptables(["-A", "FORWARD", "-o", node.uplink, "-j", nodeChain(node)])
      await iptables(["-A", "INPUT", "-i", node.uplink, "-j", nodeChain(node)])
    }
  } catch (error) {
    await destroy()
    throw error
  }

  const state = new Map(nodes.map((node) => [node.name, { bandwidth: "", loss: 0, partitioned: false }]))
  const setLink = async (node: NodeNetwork, settings: LinkSettings) => {
    const current = state.get(node.name) ?? { bandwidth: "", loss: 0, partitioned: false }
    const ends = [
      [netns, node.uplink],
      [node.netns, "uplink"]
    ] as const
    if (settings.mtu !== undefined && settings.mtu !== node.mtu) {
      for (const [where, dev] of ends) await sh("ip", ["-n", where, "link", "set", dev, "mtu", String(settings.mtu)])
      await sh("ip", ["-n", node.netns, "link", "set", "br0", "mtu", String(settings.mtu)])
      node.mtu = settings.mtu
    }
    if (settings.bandwidth !== undefined && settings.bandwidth !== current.bandwidth) {
      for (const [where, dev] of ends)
        if (settings.bandwidth === "")
          await sh("ip", ["netns", "exec", where, "tc", "qdisc", "del", "dev", dev, "root"], { allowFailure: true })
        else
          await sh("ip", [
            "netns",
            "exec",
            where,
            "tc",
            "qdisc",
            "replace",
            "dev",
            dev,
            "root",
            "tbf",
            "rate",
            settings.bandwidth,
            "burst",
            "32kbit",
            "latency",
            "400ms"
          ])
      current.bandwidth = settings.bandwidth
    }
    const loss = settings.loss ?? current.loss
    const partitioned = settings.partitioned ?? current.partitioned
    if (loss !== current.loss || partitioned !== current.partitioned) {
      await iptables(["-F", nodeChain(node)])
      if (partitioned) await iptables(["-A", nodeChain(node), "-j", "DROP"])
      else if (loss > 0)
        await iptables(["-A", nodeChain(node), "-m", "statistic", "--mode", "random", "--probability", String(loss), "-j", "DROP"])
      current.loss = loss
      current.partitioned = partitioned
    }
    state.set(node.name, current)
  }
  for (const node of nodes) {
    const settings = links[node.index] ?? {}
    await setLink(node, { ...settings, mtu: undefined })
  }

  return {
    netns,
    nodes,
    setLink,
    setApiReachable: async (reachable) => {
      await iptables(["-F", apiChain])
      if (!reachable) await iptables(["-A", apiChain, "-d", apiAddress, "-p", "tcp", "--dport", String(apiPort), "-j", "DROP"])
    },
    vxlanPackets: async () => {
      const listed = await iptables(["-L", accountChain, "-v", "-x", "-n"])
      const rule = listed.stdout.split("\n").find((line) => /udp dpt:4789/.test(line))
      return Number(rule?.trim().split(/\s+/)[0] ?? 0)
    },
    destroy
  }
}
