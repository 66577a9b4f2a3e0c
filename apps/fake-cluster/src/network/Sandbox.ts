import { removeNetns, sh } from "../Shell.ts"
import type { NodeNetwork } from "./Fabric.ts"

/**
 * A pod's sandbox: its network namespace, wired by a veth to its node's bridge, with an address
 * from the node's subnet, the node's MTU (as a CNI plugin sets it) and a default route through
 * the node.
 */
export const createSandbox = async (netns: string, node: NodeNetwork, hostSide: string, address: string) => {
  await removeNetns(netns)
  await sh("ip", ["netns", "add", netns])
  await sh("ip", [
    "link",
    "add",
    "name",
    "eth0",
    "netns",
    netns,
    "mtu",
    String(node.mtu),
    "type",
    "veth",
    "peer",
    "name",
    hostSide,
    "netns",
    node.netns
  ])
  await sh("ip", ["-n", node.netns, "link", "set", hostSide, "mtu", String(node.mtu), "master", "br0", "up"])
  await sh("ip", ["-n", netns, "link", "set", "lo", "up"])
  await sh("ip", ["-n", netns, "link", "set", "eth0", "up"])
  await sh("ip", ["-n", netns, "address", "add", `${address}/${node.subnet.prefixLength}`, "dev", "eth0"])
  await sh("ip", ["-n", netns, "route", "add", "default", "via", node.subnet.gateway])
}

/** The MTU of a running pod's link, both ends, as a CNI plugin would change it. */
export const setSandboxMtu = async (netns: string, node: NodeNetwork, hostSide: string, mtu: number) => {
  await sh("ip", ["-n", node.netns, "link", "set", hostSide, "mtu", String(mtu)])
  await sh("ip", ["-n", netns, "link", "set", "eth0", "mtu", String(mtu)])
}

/** Cuts a pod off its network (everything on eth0, both ways) or reconnects it; loopback stays. */
export const setSandboxPartitioned = async (netns: string, partitioned: boolean) => {
  const iptables = (args: ReadonlyArray<string>, allowFailure = false) =>
    sh("ip", ["netns", "exec", netns, "iptables", "-w", ...args], { allowFailure })
  // A chain of its own, first in INPUT and OUTPUT: the NetworkPolicy chains after it stay as they are.
  const chain = "KLSIM-PARTITION"
  if ((await iptables(["-N", chain], true)).exitCode === 0) {
    await iptables(["-I", "INPUT", "1", "-j", chain])
    await iptables(["-I", "OUTPUT", "1", "-j", chain])
  }
  await iptables(["-F", chain])
  if (partitioned) {
    await iptables(["-A", chain, "-i", "eth0", "-j", "DROP"])
    await iptables(["-A", chain, "-o", "eth0", "-j", "DROP"])
  }
}

/**
 * Makes a pod's NetworkPolicy chains what `input` (iptables-restore, --noflush) says, and jumps
 * to them from INPUT and OUTPUT once.
 */
export const setSandboxPolicy = async (netns: string, input: string, chains: { ingress: string; egress: string }) => {
  await sh("ip", ["netns", "exec", netns, "iptables-restore", "-w", "--noflush"], { input })
  for (const [hook, chain] of [
    ["INPUT", chains.ingress],
    ["OUTPUT", chains.egress]
  ] as const) {
    const present = await sh("ip", ["netns", "exec", netns, "iptables", "-w", "-C", hook, "-j", chain], { allowFailure: true })
    if (present.exitCode !== 0) await sh("ip", ["netns", "exec", netns, "iptables", "-w", "-A", hook, "-j", chain])
  }
}
