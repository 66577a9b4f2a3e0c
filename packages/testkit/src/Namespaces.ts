import { randomBytes } from "node:crypto"
import { rmSync } from "node:fs"
import { run } from "./run.ts"

/** Every namespace any test run makes starts with this. */
export const testFamilyPrefix = "kltest-"

/**
 * This run's namespaces start with this: the global setup picks the run id and the test
 * workers inherit it, so a run checks (and removes) only its own leftovers, never those of a
 * run beside it.
 */
export const testPrefix = `${testFamilyPrefix}${process.env.KUBELAN_TEST_RUN ?? "solo"}-`

export const listNamespaces = async (): Promise<Array<string>> =>
  (await run("ip", ["netns", "list"])).stdout
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name !== "")

/** A unique prefix per fixture, so parallel or crashed runs never collide. */
export const uniquePrefix = (purpose: string) => `${testPrefix}${purpose}-${randomBytes(3).toString("hex")}`

/** Kills every process inside the namespace, then deletes it; missing namespaces are fine. */
export const removeNamespace = async (name: string) => {
  const pids = await run("ip", ["netns", "pids", name], { allowFailure: true })
  for (const pid of pids.stdout.split(/\s+/).filter((p) => p !== "")) {
    try {
      process.kill(Number(pid), "SIGKILL")
    } catch {
      // already gone
    }
  }
  await run("ip", ["netns", "delete", name], { allowFailure: true })
  // Per-namespace /etc files (resolv.conf for DNS tests) go with the namespace.
  rmSync(`/etc/netns/${name}`, { recursive: true, force: true })
}

export const removeNamespacesWithPrefix = async (prefix: string) => {
  for (const name of await listNamespaces()) if (name.startsWith(prefix)) await removeNamespace(name)
}
