import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { kubectlAgainstKubeFake } from "./KubectlFixture.ts"

/** `kubectl diff` and server dry runs against kube-fake: they answer as the write would, and change nothing. */
const fixture = kubectlAgainstKubeFake()
const { kubectl } = fixture
const example = join(import.meta.dirname, "../../../deploy/k8s-example.yaml")

/** Every watch event of the namespace's StatefulSets and ConfigMaps, read from the API as a client would. */
const watchLines: Array<string> = []
const aborts: Array<AbortController> = []
const openWatch = async (path: string) => {
  const abort = new AbortController()
  aborts.push(abort)
  const response = await fetch(`${fixture.server.url}${path}?watch=true&resourceVersion=${fixture.server.store.resourceVersion}`, {
    signal: abort.signal
  })
  void (async () => {
    const decoder = new TextDecoder()
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) watchLines.push(decoder.decode(chunk))
    } catch {
      // aborted at the end of the file
    }
  })()
}

const snapshot = async () => {
  const sts = JSON.parse((await kubectl(["get", "sts", "kubelan", "-o", "json"])).stdout)
  const cm = JSON.parse((await kubectl(["get", "cm", "kubelan", "-o", "json"])).stdout)
  return { sts, cm, revision: fixture.server.store.resourceVersion }
}

describe("dry runs change nothing", () => {
  let changedFile = ""
  beforeAll(async () => {
    const applied = await kubectl(["apply", "-f", example])
    expect(applied.exitCode, applied.stderr).toBe(0)
    changedFile = join(fixture.dir, "changed.yaml")
    writeFileSync(
      changedFile,
      readFileSync(example, "utf8").replace("replicas: 3", "replicas: 5").replace("log_level: info", "log_level: debug")
    )
    await openWatch("/apis/apps/v1/namespaces/default/statefulsets")
    await openWatch("/api/v1/namespaces/default/configmaps")
  })
  afterAll(() => {
    for (const abort of aborts) abort.abort()
  })

  it("kubectl diff shows the change and stores nothing", async () => {
    const before = await snapshot()
    const diff = await kubectl(["diff", "-f", changedFile])
    // kubectl diff exits 1 when there are differences.
    expect(diff.exitCode, diff.stderr).toBe(1)
    expect(diff.stdout).toMatch(/^-\s+replicas: 3$/m)
    expect(diff.stdout).toMatch(/^\+\s+replicas: 5$/m)
    expect(diff.stdout).toMatch(/^\+\s+log_level: debug$/m)
    const after = await snapshot()
    expect(after).toEqual(before)
    expect(watchLines.join("")).toBe("")
  })

  it("kubectl diff of an unchanged manifest exits 0", async () => {
    const diff = await kubectl(["diff", "-f", example])
    expect(diff.exitCode, diff.stderr).toBe(0)
    expect(diff.stdout).toBe("")
  })

  it("apply, create, scale and delete with --dry-run=server answer as the write would and change nothing", async () => {
    const before = await snapshot()
    const applied = await kubectl(["apply", "--dry-run=server", "-f", changedFile])
    expect(applied.exitCode, applied.stderr).toBe(0)
    expect(applied.stdout).toContain("statefulset.apps/kubelan configured (server dry run)")
    expect(applied.stdout).toContain("configmap/kubelan configured (server dry run)")
    const shown = await kubectl(["apply", "--dry-run=server", "-f", changedFile, "-o", "json"])
    const items = JSON.parse(shown.stdout).items as Array<{ kind: string; spec?: { replicas?: number } }>
    expect(items.find((item) => item.kind === "StatefulSet")?.spec?.replicas).toBe(5)
    const created = await kubectl(["create", "configmap", "dry", "--from-literal=a=b", "--dry-run=server", "-o", "json"])
    expect(created.exitCode, created.stderr).toBe(0)
    const dry = JSON.parse(created.stdout)
    expect(dry.metadata.uid).toMatch(/^[0-9a-f-]{36}$/)
    expect(dry.metadata.resourceVersion).toBeUndefined()
    const scaled = await kubectl(["scale", "sts", "kubelan", "--replicas=7", "--dry-run=server"])
    expect(scaled.exitCode, scaled.stderr).toBe(0)
    expect(scaled.stdout).toContain("statefulset.apps/kubelan scaled (server dry run)")
    const deleted = await kubectl(["delete", "-f", example, "--dry-run=server"])
    expect(deleted.exitCode, deleted.stderr).toBe(0)
    expect(deleted.stdout).toContain('statefulset.apps "kubelan" deleted (server dry run)')
    expect(await snapshot()).toEqual(before)
    expect((await kubectl(["get", "cm", "dry"])).stderr).toContain('configmaps "dry" not found')
    expect(watchLines.join("")).toBe("")
  })

  it("a dry run still validates: an invalid object is refused with the real message", async () => {
    const invalid = await kubectl(
      ["apply", "--dry-run=server", "-f", "-"],
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\ndata: {}\n"
    )
    expect(invalid.exitCode).toBe(1)
    expect(invalid.stderr).toContain('ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid"')
  })

  it("an unknown dryRun value is refused, naming the supported one", async () => {
    const response = await fetch(`${fixture.server.url}/api/v1/namespaces/default/configmaps?dryRun=Some`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ metadata: { name: "x" } })
    })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { message: string }).message).toBe('dryRun: Unsupported value: "Some": supported values: "All"')
  })
})
