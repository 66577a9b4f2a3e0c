import { callJson, type Endpoint } from "./Http.ts"

/**
 * A ServiceAccount token from the TokenRequest API, asked for with the endpoint's identity (the
 * administrator, or a node for its pod); bound to a pod when named, as the kubelet asks for a
 * pod's volume, so the token dies with the pod. The status and the token when one was issued.
 */
export const requestToken = async (
  endpoint: Endpoint,
  namespace: string,
  serviceAccount: string,
  options: { readonly seconds?: number; readonly pod?: { readonly name: string; readonly uid: string } } = {}
) => {
  const answer = await callJson(
    endpoint,
    "POST",
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        expirationSeconds: options.seconds ?? 3600,
        ...(options.pod === undefined
          ? {}
          : { boundObjectRef: { apiVersion: "v1", kind: "Pod", name: options.pod.name, uid: options.pod.uid } })
      }
    }
  )
  const token = answer.status === 201 ? (answer.body as { status?: { token?: string } }).status?.token : undefined
  return { ...answer, token }
}
