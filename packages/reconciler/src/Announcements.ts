import { subnetBroadcast } from "@kubelan/config"
import { type AnnouncementPlan, claimPayload, type DatagramTarget } from "@kubelan/netlink"

/**
 * What an announcement sends for an interface with these addresses (CIDR): a datagram to each
 * IPv4 subnet's broadcast and to ff02::1 on the interface, and a gratuitous ARP for each IPv4
 * address. See netlink's Announce.ts for why.
 */
export const planAnnouncement = (
  name: string,
  mac: string | undefined,
  cidrs: ReadonlyArray<string>,
  instance: string
): AnnouncementPlan => {
  const datagrams: Array<DatagramTarget> = []
  const arp: Array<string> = []
  for (const cidr of cidrs) {
    const [address = "", prefix = ""] = cidr.split("/")
    if (address.includes(":")) continue
    arp.push(address)
    const destination = subnetBroadcast(address, Number(prefix))
    if (destination !== undefined) datagrams.push({ family: 4, source: address, destination })
  }
  // Every interface has an IPv6 link-local address unless IPv6 is off; a failure then is harmless.
  datagrams.push({ family: 6, source: undefined, destination: `ff02::1%${name}` })
  return { datagrams, arp, payload: claimPayload({ instance, interface: name, mac: mac ?? "", addresses: cidrs }) }
}

/** When an announcement is sent again after the first: peers whose FDB lacked this pod then may have it now. */
export const announcementRepeats = ["1 second", "3 seconds"] as const
