import { accessSync, constants } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

/** The Kubernetes release scripts/kube-build builds: kubectl v1.32 talks to it within its skew. */
export const kubernetesVersion = "v1.32.0"

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..")

/** Where the binaries are: KUBELAN_KUBE_BIN, else the link scripts/kube-build makes in .tools. */
export const binariesDir = (env: NodeJS.ProcessEnv = process.env) =>
  env.KUBELAN_KUBE_BIN ?? join(repositoryRoot, ".tools", "kube", kubernetesVersion)

export type Component = "etcd" | "kube-apiserver" | "kube-controller-manager"

/** A component's path, or an error that says how to get it. */
export const binary = (component: Component, env: NodeJS.ProcessEnv = process.env) => {
  const path = join(binariesDir(env), component)
  try {
    accessSync(path, constants.X_OK)
  } catch {
    throw new Error(
      `${component} is not built (${path}): run scripts/kube-build (scripts/bootstrap does when Go is installed), or set KUBELAN_KUBE_BIN to a directory holding etcd, kube-apiserver and kube-controller-manager`
    )
  }
  return path
}

/** scripts/follower-build's client-go v0.19 EndpointSlice follower (discovery.k8s.io/v1beta1, as the original kubelan). */
export const v1beta1Follower = (env: NodeJS.ProcessEnv = process.env) => {
  const path = env.KUBELAN_V1BETA1_FOLLOWER ?? join(repositoryRoot, ".tools", "v1beta1-follower", "v1beta1-follower")
  try {
    accessSync(path, constants.X_OK)
  } catch {
    throw new Error(`v1beta1-follower is not built (${path}): run scripts/follower-build (scripts/bootstrap does when Go is installed)`)
  }
  return path
}
