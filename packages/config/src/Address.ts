import { isIP } from "node:net"

export type AddressFamily = 4 | 6

/** The family of a textual IP address, or undefined when it is not one. */
export const addressFamily = (text: string): AddressFamily | undefined => {
  const family = isIP(text)
  return family === 4 || family === 6 ? family : undefined
}

/** Canonical text of an address, so that "fd00::01" and "fd00::1" compare equal. */
export const canonicalAddress = (text: string): string => {
  if (isIP(text) !== 6) return text
  return new URL(`http://[${text}]/`).hostname.slice(1, -1)
}

const ipv4Octets = (address: string): ReadonlyArray<number> => address.split(".").map(Number)

/** The eight 16-bit groups of an IPv6 address (an embedded IPv4 tail counts as two). */
const ipv6Groups = (address: string): ReadonlyArray<number> => {
  const canonical = canonicalAddress(address)
  const [head = "", tail] = canonical.split("::") as [string, string | undefined]
  const parse = (part: string) =>
    part === ""
      ? []
      : part.split(":").flatMap((group) => {
          if (!group.includes(".")) return [Number.parseInt(group, 16)]
          const [a = 0, b = 0, c = 0, d = 0] = ipv4Octets(group)
          return [(a << 8) | b, (c << 8) | d]
        })
  const front = parse(head)
  const back = tail === undefined ? [] : parse(tail)
  return [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back]
}

/**
 * Why an address can never be a VXLAN peer, or undefined when it can. These are the ones the
 * kernel gives a special meaning: `fdb del ... dst 0.0.0.0` deletes every flood entry at once, a
 * multicast dst makes the FDB join a group, and loopback or link-local ones never leave the pod.
 */
export const specialAddressReason = (address: string): string | undefined => {
  const family = addressFamily(address)
  if (family === 4) {
    const [a = 0, b = 0, c = 0, d = 0] = ipv4Octets(address)
    if (a === 0) return "an unspecified address (0.0.0.0/8)"
    if (a === 127) return "a loopback address (127.0.0.0/8)"
    if (a === 169 && b === 254) return "a link-local address (169.254.0.0/16)"
    if (a >= 224 && a <= 239) return "a multicast address (224.0.0.0/4)"
    if (a === 255 && b === 255 && c === 255 && d === 255) return "the broadcast address"
    if (a >= 240) return "a reserved address (240.0.0.0/4)"
    return undefined
  }
  if (family === 6) {
    const groups = ipv6Groups(address)
    const first = groups[0] ?? 0
    if (groups.every((group) => group === 0)) return "the unspecified address (::)"
    if (groups.slice(0, 7).every((group) => group === 0) && groups[7] === 1) return "the loopback address (::1)"
    if ((first & 0xffc0) === 0xfe80) return "a link-local address (fe80::/10)"
    if ((first & 0xff00) === 0xff00) return "a multicast address (ff00::/8)"
    if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) return "an IPv4-mapped address (::ffff:0:0/96)"
    return undefined
  }
  return "not an IP address"
}

/** The directed broadcast of an IPv4 subnet (`10.244.0.255` for `10.244.0.7/24`); IPv6 has none. */
export const subnetBroadcast = (address: string, prefixLength: number): string | undefined => {
  if (addressFamily(address) !== 4 || prefixLength >= 31) return undefined
  const value = ipv4Octets(address).reduce((sum, octet) => sum * 256 + octet, 0)
  const hostBits = 2 ** (32 - prefixLength)
  const broadcast = Math.floor(value / hostBits) * hostBits + hostBits - 1
  return [24, 16, 8, 0].map((shift) => Math.floor(broadcast / 2 ** shift) % 256).join(".")
}
