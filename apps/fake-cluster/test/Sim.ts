import { randomBytes } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { testPrefix } from "@kubelan/testkit"
import { execa } from "execa"

const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url))
export const demoScript = fileURLToPath(new URL("../../../scripts/demo.ts", import.meta.url))
export const exampleManifest = fileURLToPath(new URL("../../../deploy/k8s-example.yaml", import.meta.url))

/** A simulator of its own: state directory, namespace prefix (the test prefix) and a free port. */
export const isolatedSim = () => {
  const id = randomBytes(3).toString("hex")
  const env = { KUBELAN_SIM_STATE: mkdtempSync(join(tmpdir(), "klsim-")), KUBELAN_SIM_PREFIX: `${testPrefix}sim${id}-` }
  const cache = mkdtempSync(join(tmpdir(), "kubectl-cache-"))
  const sim = (args: ReadonlyArray<string>) => execa(process.execPath, [cli, ...args], { env, reject: false, all: true })
  const kubectl = (args: ReadonlyArray<string>, input?: string) =>
    execa("kubectl", ["--kubeconfig", join(env.KUBELAN_SIM_STATE, "kubeconfig"), "--cache-dir", cache, ...args], {
      reject: false,
      all: true,
      ...(input === undefined ? {} : { input })
    })
  /** The namespace the simulator made for a pod: named by the pod's UID. */
  const netns = async (pod: string) =>
    `${env.KUBELAN_SIM_PREFIX}p-${(await kubectl(["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"])).stdout}`
  return { env, sim, kubectl, netns }
}

export type Sim = ReturnType<typeof isolatedSim>
