import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { once } from "node:events"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

// The machine-wide limits a simulator raises are the machine's: they must come back exactly,
// and only when the last simulator lets go (also one that died without letting go).

const keys = [
  "net/ipv4/neigh/default/gc_thresh2",
  "net/ipv4/neigh/default/gc_thresh3",
  "net/ipv6/neigh/default/gc_thresh3",
  "net/core/netdev_max_backlog"
]
const read = (key: string) => Number(readFileSync(`/proc/sys/${key}`, "utf8").trim())
const write = (key: string, value: number) => writeFileSync(`/proc/sys/${key}`, String(value))

describe.runIf(process.getuid?.() === 0)("host limits", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "kltest-limits-")), "limits")
  const before = new Map(keys.map((key) => [key, read(key)]))
  let limits: typeof import("../src/network/HostLimits.ts")
  let other: ChildProcess | undefined

  beforeAll(async () => {
    process.env.KUBELAN_SIM_LIMITS = dir
    limits = await import("../src/network/HostLimits.ts")
    // Start from the kernel's defaults, so raising them is visible whatever this machine had.
    write("net/ipv4/neigh/default/gc_thresh2", 512)
    write("net/ipv4/neigh/default/gc_thresh3", 1024)
    write("net/ipv6/neigh/default/gc_thresh3", 1024)
    write("net/core/netdev_max_backlog", 1000)
  })

  afterAll(() => {
    other?.kill("SIGKILL")
    for (const [key, value] of before) write(key, value)
    rmSync(join(dir, ".."), { recursive: true, force: true })
    delete process.env.KUBELAN_SIM_LIMITS
  })

  it("raises the neighbour table while held, and puts the found values back when the last holder goes", async () => {
    limits.raiseHostLimits()
    expect(read("net/ipv4/neigh/default/gc_thresh3")).toBe(32_768)
    expect(read("net/ipv6/neigh/default/gc_thresh3")).toBe(32_768)
    expect(read("net/core/netdev_max_backlog")).toBe(16_384)

    // A second simulator holds them too; a third died without letting go.
    other = spawn("sleep", ["60"], { stdio: "ignore" })
    writeFileSync(join(dir, `holder-${other.pid}`), "")
    const dead = spawnSync("true").pid
    writeFileSync(join(dir, `holder-${dead}`), "")
    // A second raise by the same process keeps the first values as the ones to restore.
    limits.raiseHostLimits()

    expect(limits.releaseHostLimits()).toBe(false)
    expect(read("net/ipv4/neigh/default/gc_thresh3")).toBe(32_768)
    expect(existsSync(join(dir, `holder-${dead}`))).toBe(false)

    const exited = once(other, "exit")
    other.kill("SIGKILL")
    await exited
    other = undefined
    expect(limits.releaseHostLimits()).toBe(true)
    expect(read("net/ipv4/neigh/default/gc_thresh2")).toBe(512)
    expect(read("net/ipv4/neigh/default/gc_thresh3")).toBe(1024)
    expect(read("net/ipv6/neigh/default/gc_thresh3")).toBe(1024)
    expect(existsSync(dir)).toBe(false)
  })
})
