import type { KubeObject, Store } from "@kubelan/kube-fake"
import { coalesce, controllerRef, isPodReady, kind, list, selectorMatches, specOf, statusOf, watchKind } from "../Api.ts"

/**
 * The EndpointSlice controller, by its real conventions: for each Service with a selector, the
 * matching pods that have an address, at most 100 endpoints per slice, one address each,
 * conditions from pod readiness and deletion, named from `<service>-`, labelled and owned,
 * each endpoint kept in the slice that first listed it.
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

type Endpoint = ReturnType<typeof desiredEndpoints>[number]

export interface SlicePlan {
  readonly create: ReadonlyArray<ReadonlyArray<Endpoint>>
  readonly update: ReadonlyArray<{ readonly name: string; readonly endpoints: ReadonlyArray<Endpoint> }>
  readonly delete: ReadonlyArray<string>
}

const keyOf = (endpoint: { addresses: ReadonlyArray<string> }) => endpoint.addresses.join(",")

/**
 * Where each endpoint goes, as the real controller's reconciler places them: an endpoint stays
 * in the slice that lists it (updated in place when its conditions change), a gone one leaves
 * its slice, new ones fill slices that change anyway, then slices with room, then new slices of
 * up to 100. An endpoint never moves between slices, so no watcher ever sees it missing while it
 * is a member. A slice left empty is deleted (one empty slice stays for a Service with none).
 */
export const planSlices = (
  existing: ReadonlyArray<{ readonly name: string; readonly endpoints: ReadonlyArray<Endpoint> }>,
  desired: ReadonlyArray<Endpoint>
): SlicePlan => {
  const wanted = new Map(desired.map((endpoint) => [keyOf(endpoint), endpoint]))
  const placed = new Set<string>()
  const slices = existing.map((slice) => {
    const kept: Array<Endpoint> = []
    let changed = false
    for (const endpoint of slice.endpoints) {
      const key = keyOf(endpoint)
      const now = wanted.get(key)
      if (now === undefined || placed.has(key)) {
        changed = true
        continue
      }
      placed.add(key)
      if (JSON.stringify(now) !== JSON.stringify(endpoint)) changed = true
      kept.push(now)
    }
    return { name: slice.name, endpoints: kept, changed }
  })
  const fresh = desired.filter((endpoint) => !placed.has(keyOf(endpoint)))
  const fill = (slice: { endpoints: Array<Endpoint>; changed: boolean }) => {
    while (fresh.length > 0 && slice.endpoints.length < maxPerSlice) {
      slice.endpoints.push(fresh.shift() as Endpoint)
      slice.changed = true
    }
  }
  for (const slice of slices) if (slice.changed) fill(slice)
  for (const slice of slices) fill(slice)
  const create: Array<Array<Endpoint>> = []
  while (fresh.length > 0) create.push(fresh.splice(0, maxPerSlice))
  const empty = slices.filter((slice) => slice.endpoints.length === 0)
  // A Service with no endpoints keeps one empty slice, as the real controller's placeholder.
  const keepPlaceholder = desired.length === 0 && slices.length > 0
  const deleted = empty.slice(keepPlaceholder ? 1 : 0).map((slice) => slice.name)
  if (desired.length === 0 && slices.length === 0) create.push([])
  return {
    create,
    update: slices
      .filter((slice) => slice.changed && !deleted.includes(slice.name))
      .map((slice) => ({ name: slice.name, endpoints: slice.endpoints })),
    delete: deleted
  }
}

const reconcileService = (store: Store, service: KubeObject) => {
  const namespace = service.metadata.namespace as string
  const name = service.metadata.name as string
  const existing = list(store, "endpointslices", namespace).filter(
    (slice) =>
      slice.metadata.labels?.["kubernetes.io/service-name"] === name &&
      slice.metadata.labels?.["endpointslice.kubernetes.io/managed-by"] === managedBy
  )
  const plan = planSlices(
    existing.map((slice) => ({ name: slice.metadata.name as string, endpoints: (slice.endpoints ?? []) as Array<Endpoint> })),
    desiredEndpoints(service, list(store, "pods", namespace))
  )
  // The pods' port: a numeric targetPort (a named one would be resolved per pod; the Service's port stands in).
  const servicePorts = (
    (specOf(service).ports ?? []) as Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string }>
  ).map((port) => ({
    ...(port.name ? { name: port.name } : {}),
    port: typeof port.targetPort === "number" ? port.targetPort : port.port,
    protocol: port.protocol ?? "TCP"
  }))
  // As the real controller writes them: a slice with no endpoints (the placeholder) has neither list.
  const portsFor = (endpoints: ReadonlyArray<Endpoint>) => (endpoints.length === 0 ? null : servicePorts)
  const endpointsOf = (endpoints: ReadonlyArray<Endpoint>) => (endpoints.length === 0 ? null : endpoints)
  const { "kubernetes.io/service-name": _, "endpointslice.kubernetes.io/managed-by": __, ...serviceLabels } = service.metadata.labels ?? {}
  const metadata = {
    labels: {
      ...serviceLabels,
      ...(specOf(service).clusterIP === "None" ? { "service.kubernetes.io/headless": "" } : {}),
      "kubernetes.io/service-name": name,
      "endpointslice.kubernetes.io/managed-by": managedBy
    },
    annotations: { "endpoints.kubernetes.io/last-change-trigger-time": new Date().toISOString().replace(/\.\d+Z$/, "Z") }
  }
  // Creates, then updates, then deletes: the real controller's order, so a reader never misses an endpoint in between.
  for (const endpoints of plan.create)
    store.create(kind("endpointslices"), namespace, {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { generateName: `${name}-`, ...metadata, ownerReferences: [controllerRef(service)] },
      addressType: "IPv4",
      endpoints: endpointsOf(endpoints),
      ports: portsFor(endpoints)
    } as KubeObject)
  // A change of the Service's ports reaches every slice, its endpoints as planned.
  const updates = [
    ...plan.update,
    ...existing
      .filter(
        (slice) =>
          JSON.stringify(slice.ports ?? null) !== JSON.stringify(portsFor((slice.endpoints ?? []) as Array<Endpoint>)) &&
          !plan.delete.includes(slice.metadata.name as string) &&
          !plan.update.some((update) => update.name === slice.metadata.name)
      )
      .map((slice) => ({ name: slice.metadata.name as string, endpoints: (slice.endpoints ?? []) as Array<Endpoint> }))
  ]
  for (const update of updates) {
    const current = existing.find((slice) => slice.metadata.name === update.name) as KubeObject
    store.update(kind("endpointslices"), namespace, update.name, {
      ...current,
      metadata: {
        ...current.metadata,
        labels: { ...current.metadata.labels, ...metadata.labels },
        annotations: { ...current.metadata.annotations, ...metadata.annotations }
      },
      endpoints: endpointsOf(update.endpoints),
      ports: portsFor(update.endpoints)
    })
  }
  for (const gone of plan.delete) store.delete(kind("endpointslices"), namespace, gone)
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
