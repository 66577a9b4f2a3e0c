import { execa } from "execa"

/**
 * `bridge monitor fdb` as a clock: each waiter resolves with the moment the first line it wants
 * arrived. The kernel's own events, so a figure is what the kernel did, not what the agent said.
 */
export const fdbEvents = (netns: string) => {
  const child = execa("bridge", ["-n", netns, "monitor", "fdb"], { reject: false, buffer: false })
  const waiters: Array<{ test: (line: string) => boolean; resolve: (at: number) => void }> = []
  let pending = ""
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    const at = performance.now()
    pending += chunk
    const lines = pending.split("\n")
    pending = lines.pop() ?? ""
    for (const line of lines)
      for (const waiter of [...waiters])
        if (waiter.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.resolve(at)
        }
  })
  const next = (test: (line: string) => boolean) => new Promise<number>((resolve) => waiters.push({ test, resolve }))
  return {
    next,
    /** The flood entry for `dst` was added (on any interface). */
    appeared: (dst: string) => next((line) => new RegExp(`^00:00:00:00:00:00 dev \\S+ dst ${dst.replaceAll(".", "\\.")} `).test(line)),
    stop: () => child.kill("SIGKILL")
  }
}
