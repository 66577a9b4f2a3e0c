import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { execa } from "execa"
import { describe, expect, it } from "vitest"
import { binary, startControlPlane } from "../src/index.ts"

const alive = (pid: number | undefined) => {
  try {
    process.kill(pid as number, 0)
    return true
  } catch {
    return false
  }
}

describe("the real control plane on loopback", () => {
  it("a missing build says what to run", () => {
    expect(() => binary("kube-apiserver", { KUBELAN_KUBE_BIN: mkdtempSync(join(tmpdir(), "no-kube-")) })).toThrow(/run scripts\/kube-build/)
  })

  it("serves kubectl as the admin, issues ServiceAccount tokens RBAC judges, and leaves nothing behind", async () => {
    const plane = await startControlPlane()
    let pids: Array<number> = []
    try {
      const kubectl = (args: ReadonlyArray<string>) => execa("kubectl", ["--kubeconfig", plane.kubeconfig, ...args], { reject: false })
      expect((await kubectl(["version", "-o", "json"])).stdout).toContain('"gitVersion": "v1.32.0"')
      // kube-controller-manager runs: a new namespace gets its default ServiceAccount from it.
      expect((await kubectl(["create", "namespace", "probe"])).exitCode).toBe(0)
      expect((await kubectl(["create", "serviceaccount", "reader", "-n", "probe"])).exitCode).toBe(0)
      const token = await plane.token("probe", "reader")
      const asReader = (args: ReadonlyArray<string>) =>
        execa("kubectl", ["--server", plane.url, "--certificate-authority", plane.caFile, "--token", token, ...args], { reject: false })
      const refused = await asReader(["get", "configmaps", "-n", "probe"])
      expect(refused.stderr).toContain('User "system:serviceaccount:probe:reader" cannot list resource "configmaps"')
      expect((await kubectl(["create", "role", "read", "-n", "probe", "--verb=list", "--resource=configmaps"])).exitCode).toBe(0)
      expect(
        (await kubectl(["create", "rolebinding", "read", "-n", "probe", "--role=read", "--serviceaccount=probe:reader"])).exitCode
      ).toBe(0)
      const allowed = await asReader(["get", "configmaps", "-n", "probe", "-o", "name"])
      expect(allowed.stdout).toContain("configmap/kube-root-ca.crt")
      const listed = await execa("pgrep", ["-f", plane.dir], { reject: false })
      pids = listed.stdout.split("\n").filter(Boolean).map(Number)
      expect(pids.length).toBeGreaterThanOrEqual(3)
    } finally {
      await plane.stop()
    }
    expect(pids.filter(alive)).toEqual([])
    expect(existsSync(plane.dir)).toBe(false)
  })
})
