import { isRecord, type KubeObject } from "./KubeObject.ts"
import type { Column, ResourceType } from "./Resources.ts"

/** `kubectl get` asks for `as=Table`: rows of cells under column definitions. */
export const wantsTable = (accept: string | undefined) => accept !== undefined && /as=Table/.test(accept.split(",")[0] ?? "")

const age = (timestamp: string | undefined) => {
  if (timestamp === undefined) return "<unknown>"
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(timestamp)) / 1000))
  if (seconds < 120) return `${seconds}s`
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`
  return `${Math.floor(seconds / 3600)}h`
}

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
  columnDefinitions: [
    { name: "Name", type: "string", format: "name", description: "Name must be unique within a namespace.", priority: 0 },
    ...before(type).map(definition),
    { name: "Age", type: "string", format: "", description: "Time since creation.", priority: 0 },
    ...after(type).map(definition)
  ],
  rows: objects.map((object) => ({
    cells: [
      object.metadata.name,
      ...before(type).map((column) => cell(columnValue(column, object))),
      age(object.metadata.creationTimestamp),
      ...after(type).map((column) => cell(columnValue(column, object)))
    ],
    object: rowObject(object, includeObject)
  }))
})
