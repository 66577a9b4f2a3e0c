import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fc, fuzz } from "@kubelan/testkit"
import { describe, expect, it } from "vitest"
import { ConfigError, configKeys, keyNames, loadConfigSync, specialAddressReason } from "../src/index.ts"

/** Values of every shape a hand-written or hostile config might hold. */
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(
      "0.0.0.0",
      "127.0.0.1",
      "::",
      "1e400",
      "-1",
      "65536",
      "1ms",
      "600h",
      ".",
      "..",
      "eth0",
      "a/b",
      ":8181",
      "ns/a=10.0.0.2"
    ),
    fc.string({ minLength: 5000, maxLength: 20_000 })
  ),
  node: fc.oneof(
    { depthSize: "small" },
    tie("leaf"),
    fc.array(tie("leaf"), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie("leaf"), { maxKeys: 3 })
  )
})).node

const knownPaths = keyNames.map((name) => configKeys[name].path)
const path = fc.oneof(
  fc.constantFrom(...knownPaths),
  fc.constantFrom("vxlan.vnid", "hooks", "discovery.static.x/a", "__proto__", "constructor.x"),
  fc.string({ minLength: 1, maxLength: 12 })
)

/** A document from dotted paths: `{vxlan: {vni: ...}}`. */
const document = fc.array(fc.tuple(path, value), { maxLength: 8 }).map((entries) => {
  const root: Record<string, unknown> = {}
  for (const [dotted, leaf] of entries) {
    const parts = dotted.split(".")
    let node = root
    for (const part of parts.slice(0, -1)) {
      const next = Object.hasOwn(node, part) ? node[part] : undefined
      const child = typeof next === "object" && next !== null && !Array.isArray(next) ? (next as Record<string, unknown>) : {}
      Object.defineProperty(node, part, { value: child, enumerable: true, configurable: true, writable: true })
      node = child
    }
    Object.defineProperty(node, parts.at(-1) as string, { value: leaf, enumerable: true, configurable: true, writable: true })
  }
  return root
})

const env = fc.dictionary(
  fc.constantFrom(...keyNames.map((name) => configKeys[name].env)),
  fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.constantFrom("0.0.0.0", "-1", "1e400", "x/a=0.0.0.0", "x/a=10.0.0.2,224.0.0.1", "ns/a=10.0.0.2,300.1.1.1", "10.0.0.9")
  ),
  { maxKeys: 4 }
)

const dir = mkdtempSync(join(tmpdir(), "kubelan-fuzz-"))
let file = 0

describe("config fuzzing", () => {
  it("any document and env either loads or names each bad key with its source; nothing throws", async () => {
    await fuzz(
      fc.property(document, env, fc.boolean(), (doc, variables, asText) => {
        const target = join(dir, `${file++}.yaml`)
        writeFileSync(target, asText ? JSON.stringify(doc) : JSON.stringify(doc).replaceAll(",", ",\n"))
        const loaded = loadConfigSync({ configPath: target, env: variables })
        if (!(loaded instanceof ConfigError)) {
          for (const addresses of loaded.config.discovery.static.values())
            for (const address of addresses) expect(specialAddressReason(address)).toBeUndefined()
          if (loaded.config.ip !== "") expect(specialAddressReason(loaded.config.ip)).toBeUndefined()
          return
        }
        expect(loaded.problems.length).toBeGreaterThan(0)
        expect(loaded.problems.length).toBeLessThanOrEqual(51)
        for (const problem of loaded.problems) {
          expect(typeof problem.key).toBe("string")
          expect(problem.message.length).toBeLessThan(400)
          if (problem.origin.kind === "env") expect(Object.keys(variables)).toContain(problem.origin.name)
          if (problem.origin.kind === "file") expect(problem.origin.path).toBe(target)
          if (problem.key !== "config" && problem.message !== "unknown key") expect(knownPaths).toContain(problem.key)
        }
      }),
      300
    )
  })
})
