import { isRecord, type KubeObject } from "./KubeObject.ts"
import type { Column, ResourceType } from "./Resources.ts"

/** `kubectl get` asks for `as=Table`: rows of cells under column definitions. */
export const wantsTable = (accept: string | undefined) => accept !== undefined && /as=Table/.test(accept.split(",")[0] ?? "")

/** As apimachinery's HumanDuration: `45s`, `5m10s`, `3h12m`, `4d2h`, `2y30d`. */
export const humanDuration = (millis: number) => {
  const seconds = Math.floor(millis / 1000)
  if (seconds < -1) return "<invalid>"
  if (seconds < 0) return "0s"
  if (seconds < 120) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  const pair = (big: number, unit: string, small: number, smallUnit: string) =>
    small === 0 ? `${big}${unit}` : `${big}${unit}${small}${smallUnit}`
  if (minutes < 10) return pair(minutes, "m", seconds % 60, "s")
  if (minutes < 180) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 8) return pair(hours, "h", minutes % 60, "m")
  if (hours < 48) return `${hours}h`
  if (hours < 24 * 8) return pair(Math.floor(hours / 24), "d", hours % 24, "h")
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`
  if (hours < 24 * 365 * 8) return pair(Math.floor(hours / 24 / 365), "y", Math.floor(hours / 24) % 365, "d")
  return `${Math.floor(hours / 24 / 365)}y`
}

export const age = (timestamp: string | undefined) =>
  timestamp === undefined ? "<unknown>" : humanDuration(Date.now() - Date.parse(timestamp))

const at = (object: unknown, path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>((node, key) => (isRecord(node) ? node[key] : undefined), object)

const columnValue = (column: Column, object: KubeObject) => (column.value ? column.value(object) : at(object, column.path ?? []))

const cell = (value: unknown) =>
  value === undefined || value === null ? "<none>" : typeof value === "object" ? JSON.stringify(value) : value

const rowObject = (object: KubeObject, includeObject: string | null) =>
  includeObject === "Object"
    ? object
    : includeObject === "None"
      ? undefined
      : { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: object.metadata }

const before = (type: ResourceType) => type.columns.filter((column) => !column.afterAge)
const after = (type: ResourceType) => type.columns.filter((column) => column.afterAge)
// kubectl shows priority-0 columns always and priority-1 ones with -o wide.
const definition = (column: Column) => ({
  name: column.name,
  type: "string",
  format: "",
  description: column.name,
  priority: column.wide ? 1 : 0
})

export const toTable = (
  type: ResourceType,
  objects: ReadonlyArray<KubeObject>,
  includeObject: string | null,
  metadata: Record<string, unknown> = {}
) => ({
  kind: "Table",
  apiVersion: "meta.k8s.io/v1",
  metadata,
  columnDefinitions: type.ownColumns
    ? type.columns.map(definition)
    : [
        { name: "Name", type: "string", format: "name", description: "Name must be unique within a namespace.", priority: 0 },
        ...before(type).map(definition),
        { name: "Age", type: "string", format: "", description: "Time since creation.", priority: 0 },
        ...after(type).map(definition)
      ],
  rows: objects.map((object) => ({
    cells: type.ownColumns
      ? type.columns.map((column) => cell(columnValue(column, object)))
      : [
          object.metadata.name,
          ...before(type).map((column) => cell(columnValue(column, object))),
          age(object.metadata.creationTimestamp),
          ...after(type).map((column) => cell(columnValue(column, object)))
        ],
    object: rowObject(object, includeObject)
  }))
})
