import { readFileSync } from "node:fs"

/** CAP_NET_ADMIN's bit (linux/capability.h): creating links and writing their FDB need it. */
const netAdmin = 12n

/** Whether a `CapEff:` mask from /proc/PID/status (hexadecimal) holds the capability `bit`. */
export const holdsCapability = (effectiveHex: string, bit: bigint): boolean => ((BigInt(`0x${effectiveHex}`) >> bit) & 1n) === 1n

/**
 * The line to stop with when the agent cannot do its job in this container, or undefined. Without
 * NET_ADMIN every kernel change fails; saying so once beats retrying forever with EPERM.
 */
export const missingCapability = (status = () => readFileSync("/proc/self/status", "utf8")): string | undefined => {
  let effective: string | undefined
  try {
    effective = /^CapEff:\s*([0-9a-f]+)$/m.exec(status())?.[1]
  } catch {
    return undefined
  }
  if (effective === undefined || holdsCapability(effective, netAdmin)) return undefined
  return "the container lacks the NET_ADMIN capability, which kubelan needs to create its VXLAN interface and program its FDB: add it to the kubelan container's securityContext (capabilities: { add: [NET_ADMIN] })"
}
