import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Stream } from "effect"
import { describe, expect } from "vitest"
import { ConfigSource } from "../src/index.ts"

/** Lays out a directory the way the kubelet mounts a ConfigMap: files behind a `..data` symlink. */
const configMapVolume = (yaml: string) => {
  const dir = mkdtempSync(join(tmpdir(), "kubelan-cm-"))
  const writeVersion = (text: string) => {
    const version = `..${Date.now()}_${Math.random().toString(16).slice(2)}`
    mkdirSync(join(dir, version))
    writeFileSync(join(dir, version, "kubelan.yaml"), text)
    symlinkSync(version, join(dir, "..data_tmp"))
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"))
  }
  writeVersion(yaml)
  symlinkSync("..data/kubelan.yaml", join(dir, "kubelan.yaml"))
  return { dir, update: writeVersion }
}

describe("ConfigSource", () => {
  it.live("reloads when a ConfigMap volume swaps its ..data symlink, and ignores an invalid update", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const volume = configMapVolume("services: [lan/a]\n")
        const source = Context.get(yield* Layer.build(ConfigSource.layer({ searchDirs: [volume.dir] })), ConfigSource.ConfigSource)
        const seen = yield* source.changes.pipe(
          Stream.map((loaded) => loaded.config.services),
          Stream.take(2),
          Stream.runCollect,
          Effect.forkChild
        )
        yield* Effect.sleep("100 millis")
        volume.update("services: [lan/a]\nvxlan: {vni: 0}\n")
        yield* Effect.sleep("400 millis")
        volume.update("services: [lan/a, lan/b]\n")
        expect(yield* Fiber.join(seen).pipe(Effect.timeout("5 seconds"))).toEqual([["lan/a"], ["lan/a", "lan/b"]])
      })
    )
  )
})
