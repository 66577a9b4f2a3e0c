import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { kubectlAgainstKubeFake } from "./KubectlFixture.ts"

/** `kubectl apply --server-side` against kube-fake: field ownership, conflicts, and what an apply no longer names. */
const fixture = kubectlAgainstKubeFake()
const { kubectl } = fixture
const example = join(import.meta.dirname, "../../../deploy/k8s-example.yaml")
const json = async (...args: ReadonlyArray<string>) =>
  JSON.parse((await kubectl(["get", ...args, "-o", "json", "--show-managed-fields"])).stdout)

describe("server-side apply", () => {
  it("creates what it applies, owned by its field manager, and applying again changes nothing", async () => {
    const applied = await kubectl(["apply", "--server-side", "-f", example])
    expect(applied.exitCode, applied.stderr).toBe(0)
    expect(applied.stdout).toContain("statefulset.apps/kubelan serverside-applied")
    const sts = await json("sts", "kubelan")
    const entry = sts.metadata.managedFields.find((candidate: { manager: string }) => candidate.manager === "kubectl")
    expect(entry).toMatchObject({ operation: "Apply", apiVersion: "apps/v1", fieldsType: "FieldsV1" })
    expect(entry.fieldsV1["f:spec"]["f:template"]["f:spec"]["f:initContainers"]['k:{"name":"kubelan"}']["f:image"]).toEqual({})
    const again = await kubectl(["apply", "--server-side", "-f", example])
    expect(again.exitCode, again.stderr).toBe(0)
    expect((await json("sts", "kubelan")).metadata.resourceVersion).toBe(sts.metadata.resourceVersion)
  })

  it("a field another manager set conflicts, named as the real server names it; --force-conflicts takes it", async () => {
    expect((await kubectl(["scale", "sts", "kubelan", "--replicas=5"])).exitCode).toBe(0)
    const refused = await kubectl(["apply", "--server-side", "-f", example])
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toMatch(
      /Apply failed with 1 conflict: conflict with "[\w-]+" using apps\/v1 at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: \.spec\.replicas/
    )
    expect((await json("sts", "kubelan")).spec.replicas).toBe(5)
    const forced = await kubectl(["apply", "--server-side", "--force-conflicts", "-f", example])
    expect(forced.exitCode, forced.stderr).toBe(0)
    expect((await json("sts", "kubelan")).spec.replicas).toBe(3)
  })

  it("a field the manager no longer applies is removed; one another manager set stays", async () => {
    expect((await kubectl(["label", "sts", "kubelan", "team=net"])).exitCode).toBe(0)
    const file = join(fixture.dir, "unlabelled.yaml")
    writeFileSync(file, readFileSync(example, "utf8").replace("  labels:\n    app: kubelan\nspec:\n  serviceName", "spec:\n  serviceName"))
    expect(readFileSync(file, "utf8")).not.toEqual(readFileSync(example, "utf8"))
    const applied = await kubectl(["apply", "--server-side", "-f", file])
    expect(applied.exitCode, applied.stderr).toBe(0)
    expect((await json("sts", "kubelan")).metadata.labels).toEqual({ team: "net" })
  })

  it("a dry run applies nothing; an apply without a field manager or of another kind is refused", async () => {
    const before = (await json("cm", "kubelan")).metadata.resourceVersion
    const changed = join(fixture.dir, "debug.yaml")
    writeFileSync(changed, readFileSync(example, "utf8").replace("log_level: info", "log_level: debug"))
    expect((await kubectl(["apply", "--server-side", "--dry-run=server", "-f", changed])).exitCode).toBe(0)
    expect((await json("cm", "kubelan")).metadata.resourceVersion).toBe(before)
    const response = await fetch(`${fixture.server.url}/api/v1/namespaces/default/configmaps/kubelan`, {
      method: "PATCH",
      headers: { "content-type": "application/apply-patch+yaml" },
      body: "apiVersion: v1\nkind: ConfigMap\n"
    })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { message: string }).message).toContain("fieldManager")
    const wrongKind = await fetch(`${fixture.server.url}/api/v1/namespaces/default/configmaps/kubelan?fieldManager=me`, {
      method: "PATCH",
      headers: { "content-type": "application/apply-patch+yaml" },
      body: "apiVersion: v1\nkind: Secret\n"
    })
    expect(((await wrongKind.json()) as { message: string }).message).toContain("not the v1 ConfigMap of the URL")
  })
})
