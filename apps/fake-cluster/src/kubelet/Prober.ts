import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"

const proberScript = fileURLToPath(new URL("./probeHelper.ts", import.meta.url))

/**
 * HTTP probes from a node's namespace, through one long-running helper there: a probe costs a
 * line on a pipe, not a process, so a hundred pods probing every two seconds stay cheap.
 */
export class Prober {
  private child: ChildProcess | undefined
  private readonly pending = new Map<number, (status: number) => void>()
  private next = 0
  private readonly netns: string

  constructor(netns: string) {
    this.netns = netns
  }

  private ensure(): ChildProcess {
    if (this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null) return this.child
    const child = spawn("ip", ["netns", "exec", this.netns, process.execPath, proberScript], { stdio: ["pipe", "pipe", "ignore"] })
    child.on("error", () => this.failAll())
    child.on("exit", () => this.failAll())
    child.stdin?.on("error", () => {})
    if (child.stdout)
      createInterface({ input: child.stdout }).on("line", (line) => {
        const { id, status } = JSON.parse(line) as { id: number; status: number }
        this.pending.get(id)?.(status)
        this.pending.delete(id)
      })
    this.child = child
    return child
  }

  private failAll() {
    for (const resolve of this.pending.values()) resolve(0)
    this.pending.clear()
  }

  /** The HTTP status of GET url, or 0 when nothing answered within the timeout. */
  get(url: string, timeoutMillis: number): Promise<number> {
    const id = this.next++
    return new Promise((resolve) => {
      this.pending.set(id, resolve)
      this.ensure().stdin?.write(`${JSON.stringify({ id, url, timeoutMillis })}\n`)
    })
  }

  stop() {
    this.child?.kill("SIGKILL")
    this.child = undefined
    this.failAll()
  }
}
