import { isRecord, type KubeObject } from "./KubeObject.ts"
import type { ResourceType } from "./Resources.ts"

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

const cell = (value: unknown) =>
  value === undefined || value === null ? "<none>" : typeof value === "object" ? JSON.stringify(value) : value

const rowObject = (object: KubeObject, includeObject: string | null) =>
  includeObject === "Object"
    ? object
    : includeObject === "None"
      ? undefined
      : { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: object.metadata }

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
    ...type.columns.map((column) => ({ name: column.name, type: "string", format: "", description: column.name, priority: 0 })),
    { name: "Age", type: "string", format: "", description: "Time since creation.", priority: 0 }
  ],
  rows: objects.map((object) => ({
    cells: [object.metadata.name, ...type.columns.map((column) => cell(at(object, column.path))), age(object.metadata.creationTimestamp)],
    object: rowObject(object, includeObject)
  }))
})
