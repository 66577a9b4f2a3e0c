// A separate entry point: client-node is large, so the agent loads this only when the
// kubernetes backend is configured.
export * from "./EndpointSlices.ts"
export * from "./KubernetesApi.ts"
export * as KubernetesDiscovery from "./KubernetesDiscovery.ts"
export * as SliceCache from "./SliceCache.ts"
