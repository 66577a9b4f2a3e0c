import { fromEndpointSliceV1beta1, toEndpointSliceV1beta1 } from "./EndpointSliceV1beta1.ts"
import { coreFieldRequirement, fromEventsV1, toEventsV1 } from "./EventsView.ts"
import type { KubeObject } from "./KubeObject.ts"
import { findResource, type ResourceType } from "./Resources.ts"
import type { FieldRequirement } from "./Selectors.ts"

/** A kind served in a version other than the one its objects are stored in, and the conversions between them. */
export interface ConvertedView {
  readonly storage: ResourceType
  readonly toServed: (stored: KubeObject) => KubeObject
  readonly fromServed: (served: KubeObject) => KubeObject
  /** A field selector on the served names, on the stored object. */
  readonly field: (requirement: FieldRequirement) => FieldRequirement
}

const typeOf = (group: string, version: string, resource: string) => {
  const found = findResource(group, version, resource)
  if (found === undefined) throw new Error(`kube-fake serves no ${group}/${version} ${resource}`)
  return found
}

export const convertedViews: ReadonlyMap<ResourceType, ConvertedView> = new Map([
  [
    typeOf("events.k8s.io", "v1", "events"),
    { storage: typeOf("", "v1", "events"), toServed: toEventsV1, fromServed: fromEventsV1, field: coreFieldRequirement }
  ],
  [
    typeOf("discovery.k8s.io", "v1beta1", "endpointslices"),
    {
      storage: typeOf("discovery.k8s.io", "v1", "endpointslices"),
      toServed: toEndpointSliceV1beta1,
      fromServed: fromEndpointSliceV1beta1,
      field: (requirement) => requirement
    }
  ]
])
