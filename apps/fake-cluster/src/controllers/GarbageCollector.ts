import { type KubeObject, resourceTypes, type Store } from "@kubelan/kube-fake"
import { coalesce, everything, list } from "../Api.ts"

/** Deletes objects whose every owner is gone, as the garbage collector does for ownerReferences. */
export const startGarbageCollector = (store: Store) => {
  const collect = coalesce(50, () => {
    const alive = new Set<string>()
    const all: Array<[string, KubeObject]> = []
    for (const type of resourceTypes)
      for (const object of list(store, type.resource)) {
        alive.add(object.metadata.uid as string)
        all.push([type.resource, object])
      }
    for (const [resource, object] of all) {
      const owners = object.metadata.ownerReferences ?? []
      if (owners.length === 0 || owners.some((owner) => alive.has(owner.uid))) continue
      try {
        store.delete(
          resourceTypes.find((type) => type.resource === resource) as (typeof resourceTypes)[number],
          object.metadata.namespace,
          object.metadata.name as string
        )
      } catch {
        // already gone
      }
    }
  })
  const stops = resourceTypes.map(
    (type) => store.watch(everything(type.resource), String(store.resourceVersion), (event) => event.type === "DELETED" && collect()).close
  )
  return () => {
    for (const stop of stops) stop()
  }
}
