/**
 * The simulator's address plan. Every address lives only inside namespaces the simulator made:
 * the API on the fabric's loopback, a /30 per node uplink, a /24 of pods per node, and a range
 * for phantom members that no namespace holds and every node blackholes.
 */
export const maxNodes = 200

export const apiAddress = "10.242.0.1"
/** The `kubernetes` Service's port: what KUBERNETES_SERVICE_PORT says. */
export const apiPort = 443

export const nodeName = (index: number) => `node-${index}`

export const uplinkAddresses = (index: number) => ({ fabric: `10.243.${index}.1`, node: `10.243.${index}.2`, prefixLength: 30 })

export const podSubnet = (index: number) => ({
  cidr: `10.244.${index}.0/24`,
  gateway: `10.244.${index}.1`,
  prefixLength: 24,
  base: `10.244.${index}.`,
  first: 10,
  last: 250
})

/** Phantom members: 10.250.0.1 .. 10.250.255.254, 65,534 of them. */
export const phantomRange = "10.250.0.0/16"
export const phantomAddress = (ordinal: number) => `10.250.${(ordinal + 1) >> 8}.${(ordinal + 1) & 255}`
export const phantomCapacity = 65_534
