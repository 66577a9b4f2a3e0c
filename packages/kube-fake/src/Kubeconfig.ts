import { writeFileSync } from "node:fs"

/**
 * A kubeconfig that kubectl and client-node both use unchanged. JSON is YAML, so no YAML
 * library is needed; `insecure-skip-tls-verify` is what client-node needs for an http:// server.
 */
export const kubeconfigFor = (server: string, namespace = "default") => ({
  apiVersion: "v1",
  kind: "Config",
  clusters: [{ name: "kube-fake", cluster: { server, "insecure-skip-tls-verify": true } }],
  users: [{ name: "kube-fake", user: {} }],
  contexts: [{ name: "kube-fake", context: { cluster: "kube-fake", user: "kube-fake", namespace } }],
  "current-context": "kube-fake",
  preferences: {}
})

export const writeKubeconfig = (path: string, server: string, namespace?: string) =>
  writeFileSync(path, `${JSON.stringify(kubeconfigFor(server, namespace), null, 2)}\n`, { mode: 0o600 })
