import { createHash } from "node:crypto"

/**
 * The VXLAN interface's MAC. A stable one is derived from the pod's identity, so a pod that is
 * replaced (same namespace and name, as a StatefulSet's are) comes back with the MAC its peers'
 * neighbour caches already hold.
 */

const macPattern = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

/** Why a `vxlan.mac` value is not one, or undefined: "", "stable", or a unicast MAC. */
export const macProblem = (value: string, show: (raw: unknown) => string = JSON.stringify): string | undefined => {
  if (value === "" || value === "stable") return undefined
  const mac = value.toLowerCase()
  if (!macPattern.test(mac)) return `${show(value)} is not a MAC address (like 02:42:ac:11:00:02), "stable" or empty`
  if ((Number.parseInt(mac.slice(0, 2), 16) & 1) === 1) return `${value} is a multicast address: an interface needs a unicast one`
  if (mac === "00:00:00:00:00:00") return "00:00:00:00:00:00 is not an interface's address"
  return undefined
}

/** Locally administered and unicast, from SHA-256 of `namespace/name`. */
export const stableMac = (namespace: string, name: string): string => {
  const bytes = [...createHash("sha256").update(`${namespace}/${name}`).digest().subarray(0, 6)]
  bytes[0] = ((bytes[0] as number) & 0xfc) | 0x02
  return bytes.map((byte) => byte.toString(16).padStart(2, "0")).join(":")
}
