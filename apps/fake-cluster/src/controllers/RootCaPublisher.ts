import type { Store } from "@kubelan/kube-fake"
import { kind, tryGet, watchKind } from "../Api.ts"

const description =
  "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."

/**
 * Every namespace gets the `kube-root-ca.crt` ConfigMap holding the cluster's CA, as
 * kube-controller-manager's root-ca-cert-publisher makes it; pods' `kube-api-access-*` volumes
 * read `ca.crt` from it.
 */
export const startRootCaPublisher = (store: Store, caCert: string) =>
  watchKind(store, "namespaces", (event) => {
    const namespace = event.object.metadata.name as string
    if (event.type === "DELETED" || event.object.metadata.deletionTimestamp) return
    if (tryGet(store, "configmaps", namespace, "kube-root-ca.crt") !== undefined) return
    try {
      store.create(kind("configmaps"), namespace, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "kube-root-ca.crt", annotations: { "kubernetes.io/description": description } },
        data: { "ca.crt": caCert }
      })
    } catch {
      // Made meanwhile, or the namespace is going.
    }
  })
