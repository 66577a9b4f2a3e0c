import { isIP } from "node:net"

/** The pod's own network: the address VXLAN sends from and the interface that holds it. */
export interface Underlay {
  readonly address: string
  readonly family: 4 | 6
  /** The prefix of the address on its interface: its IPv4 subnet's broadcast is never a peer. */
  readonly prefixLength: number
  readonly device: string
  readonly mtu: number
}

/** VXLAN header overhead per family: outer IP + UDP + VXLAN + inner Ethernet. */
export const vxlanOverhead = (family: 4 | 6): number => (family === 4 ? 50 : 70)

export const vxlanMtu = (underlay: Underlay): number => underlay.mtu - vxlanOverhead(underlay.family)

export interface InterfaceAddresses {
  readonly name: string
  readonly mtu: number
  readonly addresses: ReadonlyArray<{
    readonly address: string
    readonly family: 4 | 6
    readonly prefixLength: number
    readonly global: boolean
  }>
}

export interface DefaultRoute {
  readonly device: string
  readonly preferredSource: string | undefined
}

/** The interface that holds `address`, with its MTU. */
export const underlayForAddress = (address: string, interfaces: ReadonlyArray<InterfaceAddresses>): Underlay | undefined => {
  const family = isIP(address)
  if (family !== 4 && family !== 6) return undefined
  for (const holder of interfaces) {
    const entry = holder.addresses.find((candidate) => candidate.address === address)
    if (entry !== undefined) return { address, family, prefixLength: entry.prefixLength, device: holder.name, mtu: holder.mtu }
  }
  return undefined
}

/** The source address of the default route: its preferred source, else the device's first global address. */
export const underlayFromDefaultRoute = (
  route: DefaultRoute,
  family: 4 | 6,
  interfaces: ReadonlyArray<InterfaceAddresses>
): Underlay | undefined => {
  const device = interfaces.find((candidate) => candidate.name === route.device)
  if (device === undefined) return undefined
  const entry = device.addresses.find((candidate) =>
    route.preferredSource === undefined ? candidate.family === family && candidate.global : candidate.address === route.preferredSource
  )
  const address = route.preferredSource ?? entry?.address
  return address === undefined
    ? undefined
    : { address, family, prefixLength: entry?.prefixLength ?? (family === 4 ? 32 : 128), device: device.name, mtu: device.mtu }
}
