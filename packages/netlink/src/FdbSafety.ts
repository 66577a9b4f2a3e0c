import { isIP } from "node:net"

/**
 * The destinations no peer can have, whatever decoded the membership: the kernel matches an
 * unspecified `dst` against every entry (`fdb del ... dst 0.0.0.0` empties the FDB) and makes a
 * multicast one a group subscription. The last guard before `bridge` runs.
 */
export const unsafeFdbDestination = (dst: string): boolean => {
  const family = isIP(dst)
  if (family === 4) {
    const first = Number(dst.split(".")[0])
    return first === 0 || (first >= 224 && first <= 239) || dst === "255.255.255.255"
  }
  if (family === 6) {
    const lower = dst.toLowerCase()
    return /^[0:]+$/.test(lower) || lower.startsWith("ff")
  }
  return true
}
