import { isRecord, type KubeObject } from "./KubeObject.ts"
import type { FieldRequirement } from "./Selectors.ts"

/**
 * events.k8s.io/v1 Events are the core/v1 Events in a newer shape: the real server stores one
 * object and converts it on the way in and out. These are its conversions, field for field.
 */
const renames: ReadonlyArray<readonly [core: string, v1: string]> = [
  ["involvedObject", "regarding"],
  ["message", "note"],
  ["source", "deprecatedSource"],
  ["firstTimestamp", "deprecatedFirstTimestamp"],
  ["lastTimestamp", "deprecatedLastTimestamp"],
  ["count", "deprecatedCount"],
  ["reportingComponent", "reportingController"]
]
const kept = ["related", "reason", "type", "action", "eventTime", "series", "reportingInstance"]

const move = (from: Record<string, unknown>, pairs: ReadonlyArray<readonly [string, string]>) => {
  const to: Record<string, unknown> = {}
  for (const [source, target] of pairs) if (from[source] !== undefined) to[target] = from[source]
  for (const key of kept) if (from[key] !== undefined) to[key] = from[key]
  return to
}

export const toEventsV1 = (event: KubeObject): KubeObject => {
  const converted = move(event as Record<string, unknown>, renames)
  // An event recorded the old way names its reporter only in `source`.
  const source = isRecord(event.source) ? event.source : {}
  if (converted.reportingController === undefined && typeof source.component === "string") converted.reportingController = source.component
  if (converted.reportingInstance === undefined && typeof source.host === "string") converted.reportingInstance = source.host
  return { apiVersion: "events.k8s.io/v1", kind: "Event", metadata: event.metadata, ...converted }
}

export const fromEventsV1 = (event: KubeObject): KubeObject => {
  const converted = move(
    event as Record<string, unknown>,
    renames.map(([core, v1]) => [v1, core] as const)
  )
  return { apiVersion: "v1", kind: "Event", metadata: event.metadata, ...converted }
}

/** A selector on the new field names, as the real server accepts it, on the stored (core) object. */
export const coreFieldRequirement = (requirement: FieldRequirement): FieldRequirement => {
  const { field } = requirement
  if (field.startsWith("regarding.")) return { ...requirement, field: `involvedObject.${field.slice("regarding.".length)}` }
  if (field === "reportingController") return { ...requirement, field: "reportingComponent" }
  return requirement
}
