import { join } from "node:path"
import { execa } from "execa"
import { describe, expect, it } from "vitest"
import { kubectlAgainstKubeFake } from "./KubectlFixture.ts"

/** deploy/ as a kustomize base: rendered offline, applied and deleted with -k. */
const fixture = kubectlAgainstKubeFake()
const { kubectl } = fixture
const deploy = join(import.meta.dirname, "../../../deploy")

describe("deploy/ kustomize base", () => {
  it("renders offline: the example plus a NetworkPolicy admitting VXLAN only from member pods", async () => {
    const rendered = await execa("kubectl", ["kustomize", deploy], { reject: false })
    expect(rendered.exitCode, rendered.stderr).toBe(0)
    const kinds = [...rendered.stdout.matchAll(/^kind: (\w+)$/gm)].map((match) => match[1])
    expect(kinds).toEqual(["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Service", "StatefulSet", "NetworkPolicy"])
    expect(rendered.stdout).toMatch(
      /- from:\n\s+- podSelector:\n\s+matchLabels:\n\s+app: kubelan\n\s+ports:\n\s+- port: 4789\n\s+protocol: UDP/
    )
  })

  it("applies and deletes with -k", async () => {
    const applied = await kubectl(["apply", "-k", deploy])
    expect(applied.exitCode, applied.stderr).toBe(0)
    expect(applied.stdout).toContain("networkpolicy.networking.k8s.io/kubelan-vxlan created")
    const policy = JSON.parse((await kubectl(["get", "networkpolicy", "kubelan-vxlan", "-o", "json"])).stdout)
    expect(policy.metadata.labels["app.kubernetes.io/part-of"]).toBe("kubelan")
    const deleted = await kubectl(["delete", "-k", deploy])
    expect(deleted.exitCode, deleted.stderr).toBe(0)
    expect(deleted.stdout).toContain('networkpolicy.networking.k8s.io "kubelan-vxlan" deleted')
  })
})
