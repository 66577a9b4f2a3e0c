import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { execa } from "execa"

const serverScript = fileURLToPath(new URL("./dnsServer.ts", import.meta.url))

export interface DnsFixture {
  /** Replaces every record: name → addresses; `delays` holds a name's answers that many milliseconds. */
  setRecords(records: Record<string, ReadonlyArray<string>>, delays?: Record<string, number>): void
  /** Every query so far, as `NAME TYPE` (1 = A, 28 = AAAA). */
  queries(): ReadonlyArray<string>
  stop(): Promise<void>
}

/**
 * A DNS server on the namespace's own loopback, made the namespace's resolver: `ip netns exec`
 * bind-mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf for what runs inside.
 */
export const startDnsInNetns = async (netns: string, records: Record<string, ReadonlyArray<string>>): Promise<DnsFixture> => {
  const dir = mkdtempSync(join(tmpdir(), "kubelan-dns-"))
  const file = join(dir, "records.json")
  const setRecords = (next: Record<string, ReadonlyArray<string>>, delays: Record<string, number> = {}) => {
    writeFileSync(`${file}.tmp`, JSON.stringify({ ...next, delays }))
    renameSync(`${file}.tmp`, file)
  }
  setRecords(records)
  const etc = `/etc/netns/${netns}`
  mkdirSync(etc, { recursive: true })
  writeFileSync(join(etc, "resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
  const child = execa("ip", ["netns", "exec", netns, process.execPath, serverScript, file, "53"], { reject: false, buffer: false })
  const queries: Array<string> = []
  let pending = ""
  await new Promise<void>((resolve, reject) => {
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk
      const lines = pending.split("\n")
      pending = lines.pop() ?? ""
      for (const line of lines) if (line.startsWith("query ")) queries.push(line.slice("query ".length))
      resolve()
    })
    void child.then((result) => reject(new Error(`dns server exited: ${String(result.stderr)}`)))
  })
  return {
    setRecords,
    queries: () => [...queries],
    stop: async () => {
      child.kill("SIGKILL")
      await child
      rmSync(etc, { recursive: true, force: true })
    }
  }
}
