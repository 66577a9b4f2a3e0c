import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { execa } from "execa"
import { afterAll, beforeAll } from "vitest"
import { type KubeFakeOptions, type KubeFakeServer, startKubeFake, writeKubeconfig } from "../src/index.ts"

/** A kube-fake for the test file and the real kubectl pointed at it, with its own kubeconfig and cache. */
export const kubectlAgainstKubeFake = (options: KubeFakeOptions = {}) => {
  const fixture = {
    server: undefined as unknown as KubeFakeServer,
    dir: "",
    kubectl: (args: ReadonlyArray<string>, input?: string) =>
      execa("kubectl", ["--kubeconfig", join(fixture.dir, "kubeconfig"), "--cache-dir", join(fixture.dir, "cache"), ...args], {
        reject: false,
        timeout: 30_000,
        ...(input === undefined ? {} : { input })
      })
  }
  beforeAll(async () => {
    fixture.server = await startKubeFake(options)
    fixture.dir = mkdtempSync(join(tmpdir(), "kube-fake-kubectl-"))
    writeKubeconfig(join(fixture.dir, "kubeconfig"), fixture.server.url)
  })
  afterAll(async () => {
    await fixture.server?.close()
  })
  return fixture
}
