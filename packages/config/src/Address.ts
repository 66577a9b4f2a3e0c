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
