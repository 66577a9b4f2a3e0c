import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Stream } from "effect"
import { describe, expect } from "vitest"
import { ConfigSource, type LoadedConfig } from "../src/index.ts"

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

  const servicesOf = (loaded: LoadedConfig) => loaded.config.services
  const plainFile = (yaml: string) => {
    const dir = mkdtempSync(join(tmpdir(), "kubelan-file-"))
    writeFileSync(join(dir, "kubelan.yaml"), yaml)
    return dir
  }
  const services = (count: number) => `services: [${Array.from({ length: count }, (_, i) => `lan/s${i}`).join(", ")}]\n`

  it.live("a file rewritten in place, slowly, is applied only once it has stopped changing", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = plainFile(services(60))
        const source = Context.get(yield* Layer.build(ConfigSource.layer({ searchDirs: [dir] })), ConfigSource.ConfigSource)
        const seen: Array<number> = []
        yield* source.changes.pipe(
          Stream.runForEach((loaded) => Effect.sync(() => seen.push(servicesOf(loaded).length))),
          Effect.forkChild
        )
        // As an editor or `cat > file` writes: truncate, then the text in pieces with pauses, each
        // prefix a valid YAML list with fewer services.
        const text = services(61)
        const fd = openSync(join(dir, "kubelan.yaml"), "w")
        for (let at = 0; at < text.length; at += 100) {
          writeSync(fd, text.slice(at, at + 100))
          fsyncSync(fd)
          yield* Effect.sleep("200 millis")
        }
        closeSync(fd)
        yield* Effect.sleep("1500 millis")
        expect(seen).toEqual([60, 61])
      })
    )
  )

  it.live("a config directory removed and made again is still followed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = plainFile("services: [lan/a]\n")
        const source = Context.get(
          yield* Layer.build(ConfigSource.layer({ searchDirs: [dir] }, undefined, { pollMillis: 500 })),
          ConfigSource.ConfigSource
        )
        const next = yield* source.changes.pipe(Stream.map(servicesOf), Stream.take(3), Stream.runCollect, Effect.forkChild)
        yield* Effect.sleep("100 millis")
        rmSync(dir, { recursive: true })
        mkdirSync(dir)
        writeFileSync(join(dir, "kubelan.yaml"), "services: [lan/b]\n")
        yield* Effect.sleep("1500 millis")
        writeFileSync(join(dir, "kubelan.yaml"), "services: [lan/c]\n")
        expect(yield* Fiber.join(next).pipe(Effect.timeout("10 seconds"))).toEqual([["lan/a"], ["lan/b"], ["lan/c"]])
      })
    )
  )

  it.live("reload reads the file now, and a reload the pod's own checks refuse is not applied", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = plainFile("services: [lan/a]\n")
        const check = (loaded: LoadedConfig) =>
          Effect.succeed(
            loaded.config.services.includes("lan/bad")
              ? [{ key: "services", origin: { kind: "default" as const }, message: "refused" }]
              : []
          )
        const source = Context.get(
          yield* Layer.build(ConfigSource.layer({ searchDirs: [dir] }, undefined, { check, pollMillis: 60_000 })),
          ConfigSource.ConfigSource
        )
        writeFileSync(join(dir, "kubelan.yaml"), "services: [lan/bad]\n")
        yield* source.reload
        yield* Effect.sleep("800 millis")
        expect(servicesOf(yield* source.current)).toEqual(["lan/a"])
        writeFileSync(join(dir, "kubelan.yaml"), "services: [lan/good]\n")
        yield* source.reload
        yield* Effect.sleep("800 millis")
        expect(servicesOf(yield* source.current)).toEqual(["lan/good"])
      })
    )
  )
})
