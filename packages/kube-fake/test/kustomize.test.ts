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

describe("deploy/ examples", () => {
  const render = async (file: string) => {
    const rendered = await kubectl(["create", "--dry-run=client", "-o", "json", "-f", join(deploy, file)])
    expect(rendered.exitCode, rendered.stderr).toBe(0)
    // One pretty-printed JSON document per object, each opening at the start of a line.
    return rendered.stdout.split(/^(?=\{)/m).map((document) => JSON.parse(document)) as Array<{ kind: string; spec?: any }>
  }

  it("the plain-sidecar example (clusters before 1.29) is the native one with kubelan among the app containers", async () => {
    const native = await render("k8s-example.yaml")
    const plain = await render("k8s-example-plain-sidecar.yaml")
    const podSpec = native.find((item) => item.kind === "StatefulSet")?.spec.template.spec
    const [kubelan, ...otherInit] = podSpec.initContainers
    expect(kubelan).toMatchObject({ name: "kubelan", restartPolicy: "Always", startupProbe: { httpGet: { path: "/readyz" } } })
    expect(otherInit).toEqual([])
    const { restartPolicy: _policy, startupProbe: _probe, ...asAppContainer } = kubelan
    delete podSpec.initContainers
    podSpec.containers.push(asAppContainer)
    expect(plain).toEqual(native)
  })
})
