import { rmSync } from "node:fs"
import { Effect } from "effect"
import { spawnTool } from "./Processes.ts"

/**
 * Named network namespaces (`ip netns`), for whatever makes pods out of them: the simulator and
 * the test fixtures. Removal never fails: what is already gone is the outcome wanted.
 */
export const list: Effect.Effect<ReadonlyArray<string>> = spawnTool("ip", ["netns", "list"]).pipe(
  Effect.map((result) =>
    result.stdout
      .split("\n")
      .map((line) => line.split(" ")[0] ?? "")
      .filter((name) => name !== "")
  ),
  Effect.orElseSucceed(() => [])
)

/** Kills every process inside the namespace, deletes it, and removes its /etc/netns files (resolv.conf). */
export const remove = (name: string): Effect.Effect<void> =>
  Effect.gen(function* () {
    const pids = yield* spawnTool("ip", ["netns", "pids", name]).pipe(Effect.orElseSucceed(() => ({ stdout: "", exitCode: 1 })))
    for (const pid of pids.stdout.split(/\s+/).filter((p) => p !== "")) {
      try {
        process.kill(Number(pid), "SIGKILL")
      } catch {
        // already gone
      }
    }
    yield* spawnTool("ip", ["netns", "delete", name]).pipe(Effect.ignore)
    rmSync(`/etc/netns/${name}`, { recursive: true, force: true })
  })

export const removeWithPrefix = (prefix: string): Effect.Effect<number> =>
  Effect.gen(function* () {
    const names = (yield* list).filter((name) => name.startsWith(prefix))
    for (const name of names) yield* remove(name)
    return names.length
  })
