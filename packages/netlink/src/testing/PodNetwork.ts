import { run } from "./run.ts"
import { removeNamespace, uniquePrefix } from "./TestNamespaces.ts"

export interface Pod {
  readonly netns: string
  /** Underlay address on eth0, in the family the network was made with. */
  readonly ip: string
  readonly index: number
}

export interface PodNetwork {
  readonly prefix: string
  readonly hub: string
  readonly pods: ReadonlyArray<Pod>
  readonly family: 4 | 6
  addPod(): Promise<Pod>
  destroy(): Promise<void>
}

const subnet = {
  4: { gateway: "10.99.0.1", prefix: 24, address: (i: number) => `10.99.0.${10 + i}` },
  6: { gateway: "fd99::1", prefix: 64, address: (i: number) => `fd99::${(10 + i).toString(16)}` }
}

/**
 * Pods as network namespaces, each wired by a veth to one bridge in a hub namespace (as pods
 * hang off a node's bridge), with a default route through the hub. All addresses live inside
 * namespaces this fixture made.
 */
export const makePodNetwork = async (options: { purpose: string; pods: number; family?: 4 | 6 }): Promise<PodNetwork> => {
  const family = options.family ?? 4
  const net = subnet[family]
  const prefix = uniquePrefix(options.purpose)
  const hub = `${prefix}-hub`
  const pods: Array<Pod> = []
  const made: Array<string> = []
  const destroy = async () => {
    for (const name of made.reverse()) await removeNamespace(name)
  }
  const addPod = async (): Promise<Pod> => {
    const index = pods.length
    const netns = `${prefix}-p${index}`
    await run("ip", ["netns", "add", netns])
    made.push(netns)
    const ip = net.address(index)
    await run("ip", ["link", "add", "name", "eth0", "netns", netns, "type", "veth", "peer", "name", `vp${index}`, "netns", hub])
    await run("ip", ["-n", hub, "link", "set", `vp${index}`, "master", "br0", "up"])
    await run("ip", ["-n", netns, "link", "set", "lo", "up"])
    await run("ip", ["-n", netns, "link", "set", "eth0", "up"])
    await run("ip", ["-n", netns, `-${family}`, "address", "add", `${ip}/${net.prefix}`, "dev", "eth0", ...(family === 6 ? ["nodad"] : [])])
    await run("ip", ["-n", netns, `-${family}`, "route", "add", "default", "via", net.gateway])
    const pod = { netns, ip, index }
    pods.push(pod)
    return pod
  }
  try {
    await run("ip", ["netns", "add", hub])
    made.push(hub)
    await run("ip", ["-n", hub, "link", "add", "br0", "type", "bridge"])
    await run("ip", ["-n", hub, "link", "set", "br0", "up"])
    await run("ip", [
      "-n",
      hub,
      `-${family}`,
      "address",
      "add",
      `${net.gateway}/${net.prefix}`,
      "dev",
      "br0",
      ...(family === 6 ? ["nodad"] : [])
    ])
    for (let i = 0; i < options.pods; i++) await addPod()
  } catch (error) {
    await destroy()
    throw error
  }
  return { prefix, hub, pods, family, addPod, destroy }
}
