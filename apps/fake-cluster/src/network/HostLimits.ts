import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/**
 * The machine-wide kernel limits a cluster on one machine outgrows, raised while any simulator
 * runs and put back when the last one stops (as Mininet's fixLimits raises them, but undone).
 *
 * The neighbour table is one table for every network namespace: each pod that talks to its N−1
 * peers holds N−1 ARP entries, so 100 pods need about 10,000 where the default hard limit
 * (gc_thresh3) is 1024 — beyond it new neighbours fail ("neighbor table overflow") and overlay
 * pings are lost for tens of seconds. A real node meets the same limit with pods-per-node × (N−1).
 *
 * The per-CPU backlog a veth feeds (netdev_max_backlog, 1000) drops what a burst brings beyond it:
 * one broadcast from a member of a 5,000-member network leaves its pod as 5,000 VXLAN copies at
 * once, and the copies to the peers last in its FDB's order were dropped every time (one pair of
 * pods never resolved the other's address). A real node feeding veths has the same limit.
 */
const wanted: Readonly<Record<string, number>> = {
  "net/ipv4/neigh/default/gc_thresh2": 16_384,
  "net/ipv4/neigh/default/gc_thresh3": 32_768,
  "net/ipv6/neigh/default/gc_thresh2": 16_384,
  "net/ipv6/neigh/default/gc_thresh3": 32_768,
  "net/core/netdev_max_backlog": 16_384
}

/** Shared by every simulator on the machine (`up` and each `run`), whatever their state directories. */
const dir = process.env.KUBELAN_SIM_LIMITS ?? "/run/kubelan-sim-limits"
const originalFile = join(dir, "original.json")
const holderFile = (pid: number) => join(dir, `holder-${pid}`)

const read = (key: string) => Number(readFileSync(`/proc/sys/${key}`, "utf8").trim())
const write = (key: string, value: number) => writeFileSync(`/proc/sys/${key}`, String(value))

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Raises the limits for this process; the values found first are kept to be put back. */
export const raiseHostLimits = () => {
  mkdirSync(dir, { recursive: true })
  if (!existsSync(originalFile))
    writeFileSync(originalFile, JSON.stringify(Object.fromEntries(Object.keys(wanted).map((key) => [key, read(key)]))))
  writeFileSync(holderFile(process.pid), "")
  for (const [key, value] of Object.entries(wanted)) if (read(key) < value) write(key, value)
}

/**
 * Lets go of this process's hold (and of any holder that died without letting go); when no
 * simulator holds them any more, the original values go back. Returns whether they did.
 */
export const releaseHostLimits = (): boolean => {
  if (!existsSync(dir)) return false
  rmSync(holderFile(process.pid), { force: true })
  const holders = readdirSync(dir)
    .map((entry) => /^holder-(\d+)$/.exec(entry)?.[1])
    .filter((pid): pid is string => pid !== undefined)
  for (const pid of holders) if (!alive(Number(pid))) rmSync(holderFile(Number(pid)), { force: true })
  if (readdirSync(dir).some((entry) => entry.startsWith("holder-"))) return false
  if (existsSync(originalFile)) {
    const original = JSON.parse(readFileSync(originalFile, "utf8")) as Record<string, number>
    for (const [key, value] of Object.entries(original)) write(key, value)
  }
  rmSync(dir, { recursive: true, force: true })
  return true
}
