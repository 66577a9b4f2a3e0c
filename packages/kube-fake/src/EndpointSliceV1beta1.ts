import { isRecord, type KubeObject } from "./KubeObject.ts"

/**
 * discovery.k8s.io/v1beta1 EndpointSlices, as kube-apiserver served them (1.21–1.24) for clients
 * of that age (client-go ≤ 0.20): the stored v1 objects in the older shape. An endpoint's
 * `topology` map holds what v1 keeps in `zone`, `nodeName` and `deprecatedTopology`; these are
 * k8s.io/kubernetes' conversions (pkg/apis/discovery/v1beta1/conversion.go), field for field.
 */
const zoneLabel = "topology.kubernetes.io/zone"
const hostnameLabel = "kubernetes.io/hostname"

const endpointToV1beta1 = (endpoint: unknown): unknown => {
  if (!isRecord(endpoint)) return endpoint
  const { zone, deprecatedTopology, ...rest } = endpoint
  if (deprecatedTopology === undefined && zone === undefined && rest.nodeName === undefined) return rest
  const topology: Record<string, unknown> = { ...(isRecord(deprecatedTopology) ? deprecatedTopology : {}) }
  if (typeof zone === "string") topology[zoneLabel] = zone
  // The hostname only where the topology has none: v1beta1 could hold both, differing.
  if (typeof rest.nodeName === "string" && (topology[hostnameLabel] ?? "") === "") topology[hostnameLabel] = rest.nodeName
  return { ...rest, topology }
}

const endpointFromV1beta1 = (endpoint: unknown): unknown => {
  if (!isRecord(endpoint)) return endpoint
  const { topology, ...rest } = endpoint
  if (!isRecord(topology)) return rest
  const deprecated: Record<string, unknown> = { ...topology }
  const converted: Record<string, unknown> = { ...rest }
  if (typeof topology[zoneLabel] === "string") {
    converted.zone = topology[zoneLabel]
    delete deprecated[zoneLabel]
  }
  if (typeof rest.nodeName === "string" && topology[hostnameLabel] === rest.nodeName) delete deprecated[hostnameLabel]
  if (Object.keys(deprecated).length > 0) converted.deprecatedTopology = deprecated
  return converted
}

const withEndpoints = (slice: KubeObject, apiVersion: string, convert: (endpoint: unknown) => unknown): KubeObject => ({
  ...slice,
  apiVersion,
  ...(Array.isArray(slice.endpoints) ? { endpoints: slice.endpoints.map(convert) } : {})
})

export const toEndpointSliceV1beta1 = (slice: KubeObject): KubeObject => withEndpoints(slice, "discovery.k8s.io/v1beta1", endpointToV1beta1)

export const fromEndpointSliceV1beta1 = (slice: KubeObject): KubeObject => withEndpoints(slice, "discovery.k8s.io/v1", endpointFromV1beta1)
