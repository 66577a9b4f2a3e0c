import type { Store } from "@kubelan/kube-fake"
import { kind, tryGet, watchKind } from "../Api.ts"

/** Every namespace gets its `default` ServiceAccount, as kube-controller-manager's serviceaccount controller makes it. */
export const startServiceAccountController = (store: Store) =>
  watchKind(store, "namespaces", (event) => {
    const namespace = event.object.metadata.name as string
    if (event.type === "DELETED" || event.object.metadata.deletionTimestamp) return
    if (tryGet(store, "serviceaccounts", namespace, "default") !== undefined) return
    try {
      store.create(kind("serviceaccounts"), namespace, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default" } })
    } catch {
      // Made meanwhile, or the namespace is going.
    }
  })
