import { nodeNetns, podNetwork } from "./Paths.ts"
import { removeNetns, sh } from "./Shell.ts"

/**
 * The node: a namespace with a bridge that every pod's veth hangs off, as on a real node.
 * Pod addresses come from a /24 that exists only inside these namespaces.
 */
export const createNode = async () => {
  await removeNetns(nodeNetns)
  await sh("ip", ["netns", "add", nodeNetns])
  await sh("ip", ["-n", nodeNetns, "link", "set", "lo", "up"])
  await sh("ip", ["-n", nodeNetns, "link", "add", "br0", "type", "bridge"])
  await sh("ip", ["-n", nodeNetns, "address", "add", `${podNetwork.gateway}/${podNetwork.prefixLength}`, "dev", "br0"])
  await sh("ip", ["-n", nodeNetns, "link", "set", "br0", "up"])
}

export class AddressPool {
  private readonly used = new Set<string>()

  allocate(): string {
    for (let host = podNetwork.first; host <= podNetwork.last; host++) {
      const address = `${podNetwork.base}${host}`
      if (!this.used.has(address)) {
        this.used.add(address)
        return address
      }
    }
    throw new Error("the pod network is full")
  }

  release(address: string) {
    this.used.delete(address)
  }
}

/** A pod's sandbox: its namespace, wired to the node bridge, with an address and a default route. */
export const createSandbox = async (netns: string, vethIndex: number, address: string) => {
  await removeNetns(netns)
  await sh("ip", ["netns", "add", netns])
  const hostSide = `klv${vethIndex}`
  await sh("ip", ["link", "add", "name", "eth0", "netns", netns, "type", "veth", "peer", "name", hostSide, "netns", nodeNetns])
  await sh("ip", ["-n", nodeNetns, "link", "set", hostSide, "master", "br0", "up"])
  await sh("ip", ["-n", netns, "link", "set", "lo", "up"])
  await sh("ip", ["-n", netns, "link", "set", "eth0", "up"])
  await sh("ip", ["-n", netns, "address", "add", `${address}/${podNetwork.prefixLength}`, "dev", "eth0"])
  await sh("ip", ["-n", netns, "route", "add", "default", "via", podNetwork.gateway])
}
