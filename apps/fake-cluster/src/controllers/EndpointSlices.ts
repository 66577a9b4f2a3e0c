import type { KubeObject, Store } from "@kubelan/kube-fake"
import { coalesce, controllerRef, isPodReady, kind, list, selectorMatches, specOf, statusOf, watchKind } from "../Api.ts"

/**
 * The EndpointSlice controller, by its real conventions: for each Service with a selector, the
 * matching pods that have an address, at most 100 endpoints per slice, one address each,
 * conditions from pod readiness and deletion, named from `<service>-`, labelled and owned.
 */
const managedBy = "endpointslice-controller.k8s.io"
const maxPerSlice = 100

export const desiredEndpoints = (service: KubeObject, pods: ReadonlyArray<KubeObject>) => {
  const spec = specOf(service)
  const publishNotReady = spec.publishNotReadyAddresses === true
  return pods
    .filter((pod) => selectorMatches(spec.selector, pod.metadata.labels) && typeof statusOf(pod).podIP === "string")
    .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""))
    .map((pod) => {
      const terminating = pod.metadata.deletionTimestamp !== undefined
      const serving = isPodReady(pod)
      return {
        addresses: [statusOf(pod).podIP as string],
        conditions: { ready: (publishNotReady || serving) && !terminating, serving: publishNotReady ? true : serving, terminating },
        targetRef: { kind: "Pod", namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
        nodeName: specOf(pod).nodeName ?? "kubelan-sim"
      }
    })
}

const reconcileService = (store: Store, service: KubeObject) => {
  const namespace = service.metadata.namespace as string
  const name = service.metadata.name as string
  const endpoints = desiredEndpoints(service, list(store, "pods", namespace))
  const existing = list(store, "endpointslices", namespace).filter(
    (slice) =>
      slice.metadata.labels?.["kubernetes.io/service-name"] === name &&
      slice.metadata.labels?.["endpointslice.kubernetes.io/managed-by"] === managedBy
  )
  const chunks: Array<typeof endpoints> = []
  for (let i = 0; i < endpoints.length; i += maxPerSlice) chunks.push(endpoints.slice(i, i + maxPerSlice))
  if (chunks.length === 0) chunks.push([])
  const ports = ((specOf(service).ports ?? []) as Array<{ name?: string; port: number; protocol?: string }>).map((port) => ({
    ...(port.name ? { name: port.name } : {}),
    port: port.port,
    protocol: port.protocol ?? "TCP"
  }))
  chunks.forEach((chunk, index) => {
    const body = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        ...(existing[index] === undefined ? { generateName: `${name}-` } : { name: existing[index].metadata.name as string }),
        labels: { "kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": managedBy },
        ownerReferences: [controllerRef(service)]
      },
      addressType: "IPv4",
      endpoints: chunk,
      ports
    } as KubeObject
    const current = existing[index]
    if (current === undefined) store.create(kind("endpointslices"), namespace, body)
    else
      store.update(kind("endpointslices"), namespace, current.metadata.name as string, {
        ...body,
        metadata: { ...current.metadata, ...body.metadata }
      })
  })
  for (const extra of existing.slice(chunks.length)) store.delete(kind("endpointslices"), namespace, extra.metadata.name as string)
}

export const startEndpointSliceController = (store: Store) => {
  const dirty = new Set<string>()
  const run = coalesce(10, () => {
    const namespaces = [...dirty]
    dirty.clear()
    for (const namespace of namespaces)
      for (const service of list(store, "services", namespace)) {
        if (service.metadata.deletionTimestamp || specOf(service).selector === undefined) continue
        try {
          reconcileService(store, service)
        } catch (error) {
          process.stderr.write(`endpointslice controller: ${namespace}/${service.metadata.name}: ${String(error)}\n`)
          dirty.add(namespace)
        }
      }
  })
  const touch = (event: { object: KubeObject }) => {
    dirty.add(event.object.metadata.namespace as string)
    run()
  }
  const stops = [watchKind(store, "services", touch), watchKind(store, "pods", touch)]
  return () => {
    for (const stop of stops) stop()
  }
}
