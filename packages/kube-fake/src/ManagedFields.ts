import { ApiError } from "./ApiError.ts"
import { clone, isRecord, type KubeObject } from "./KubeObject.ts"
import { mergedPrimitiveLists, mergeKey } from "./Patch.ts"

/**
 * Server-side apply's field ownership, as the real server keeps it in `metadata.managedFields`:
 * each manager (with its operation, Apply or Update, and subresource) owns a set of fields. An
 * apply takes the fields its configuration names, removes those it named before and no longer
 * does (unless someone else owns them), and conflicts with another owner of a field whose value it
 * would change; any other write moves the fields it changes to its manager.
 *
 * A field is a path of FieldsV1 keys: `f:name` for a field, `k:{"name":"c"}` for the item of a
 * keyed list, `v:"x"` for a member of a set; lists without a key are owned whole.
 */
type Path = ReadonlyArray<string>
const encode = (path: Path) => JSON.stringify(path)
const decode = (key: string) => JSON.parse(key) as Array<string>

export interface ManagedFieldsEntry {
  manager: string
  operation: "Apply" | "Update"
  apiVersion: string
  time: string
  fieldsType: "FieldsV1"
  fieldsV1: Record<string, unknown>
  subresource?: string
}

export interface Manager {
  readonly name: string
  readonly operation: "Apply" | "Update"
  readonly subresource?: "status"
}

/** metadata fields the server sets or that name the object: nobody owns them. */
const unmanagedMetadata = new Set([
  "name",
  "namespace",
  "generateName",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink"
])

/** Fields of maps (not structs): their own presence is owned too (`.`), as SSA records them. */
const mapFields = new Set(["labels", "annotations", "data", "binaryData", "stringData", "matchLabels", "nodeSelector", "selector"])

const itemKey = (item: Record<string, unknown>, key: string) => `k:${JSON.stringify({ [key]: item[key] })}`

/** Every field a value sets, with the items of keyed lists and the maps themselves as members. */
const collect = (value: unknown, path: Path, names: ReadonlyArray<string>, into: Set<string>) => {
  if (isRecord(value)) {
    const entries = Object.entries(value).filter(
      ([key, item]) => item !== undefined && !(path.length === 1 && path[0] === "f:metadata" && unmanagedMetadata.has(key))
    )
    if (entries.length === 0 || mapFields.has(names.at(-1) ?? "")) into.add(encode(path))
    for (const [key, item] of entries) collect(item, [...path, `f:${key}`], [...names, key], into)
    return
  }
  const field = names.at(-1) ?? ""
  if (Array.isArray(value)) {
    const key = mergeKey(field, names.slice(0, -1))
    if (key !== undefined && value.every((item) => isRecord(item) && item[key] !== undefined)) {
      for (const item of value as Array<Record<string, unknown>>) {
        const itemPath = [...path, itemKey(item, key)]
        into.add(encode(itemPath))
        for (const [name, inner] of Object.entries(item)) collect(inner, [...itemPath, `f:${name}`], [...names, name], into)
      }
      return
    }
    if (mergedPrimitiveLists.has(field)) {
      for (const item of value) into.add(encode([...path, `v:${JSON.stringify(item)}`]))
      return
    }
  }
  into.add(encode(path))
}

/** The fields an object (or an apply configuration) sets; `status` belongs to the status subresource. */
export const fieldsOf = (object: KubeObject, subresource?: "status"): Set<string> => {
  const into = new Set<string>()
  for (const [key, value] of Object.entries(object)) {
    if (key === "apiVersion" || key === "kind") continue
    if ((key === "status") !== (subresource === "status")) continue
    collect(value, [`f:${key}`], [key], into)
  }
  into.delete(encode(["f:metadata"]))
  return into
}

/** A field's value in an object, or undefined when it is not set. */
const valueAt = (object: unknown, path: Path): unknown => {
  let node: unknown = object
  for (const segment of path) {
    if (segment.startsWith("f:")) node = isRecord(node) ? node[segment.slice(2)] : undefined
    else if (segment.startsWith("k:")) {
      const [[key, wanted]] = Object.entries(JSON.parse(segment.slice(2)) as Record<string, unknown>) as [[string, unknown]]
      node = Array.isArray(node) ? node.find((item) => isRecord(item) && JSON.stringify(item[key]) === JSON.stringify(wanted)) : undefined
    } else if (segment.startsWith("v:")) {
      const wanted = segment.slice(2)
      node = Array.isArray(node) ? node.find((item) => JSON.stringify(item) === wanted) : undefined
    }
    if (node === undefined) return undefined
  }
  return node
}

/** Removes a field (or a list item) from an object in place. */
const removeAt = (object: Record<string, unknown>, path: Path) => {
  const parent = valueAt(object, path.slice(0, -1))
  const last = path.at(-1) as string
  if (last.startsWith("f:") && isRecord(parent)) delete parent[last.slice(2)]
  else if (Array.isArray(parent)) {
    const index = parent.indexOf(valueAt(parent, [last]))
    if (index >= 0) parent.splice(index, 1)
  }
}

/** How the API writes a field path in a conflict: `.spec.template.spec.containers[name="c"].image`. */
const fieldPathText = (path: Path) =>
  path
    .map((segment) => {
      if (segment.startsWith("f:")) return `.${segment.slice(2)}`
      if (segment.startsWith("k:"))
        return `[${Object.entries(JSON.parse(segment.slice(2)) as Record<string, unknown>)
          .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
          .join(",")}]`
      return `[=${segment.slice(2)}]`
    })
    .join("")

/** FieldsV1: the paths as a tree; a path that is also a prefix of others is marked with `.`. */
export const toFieldsV1 = (fields: ReadonlySet<string>): Record<string, unknown> => {
  const root: Record<string, Record<string, unknown>> = {}
  const paths = [...fields].map(decode)
  const prefixes = new Set(paths.flatMap((path) => path.slice(0, -1).map((_, index) => encode(path.slice(0, index + 1)))))
  for (const path of paths) {
    let node: Record<string, unknown> = root
    for (const segment of path) {
      node[segment] ??= {}
      node = node[segment] as Record<string, unknown>
    }
    if (prefixes.has(encode(path))) node["."] = {}
  }
  return root
}

export const fromFieldsV1 = (tree: unknown, path: Path = []): Set<string> => {
  const into = new Set<string>()
  if (!isRecord(tree)) return into
  const keys = Object.keys(tree)
  if (path.length > 0 && (keys.length === 0 || keys.includes("."))) into.add(encode(path))
  for (const key of keys) if (key !== ".") for (const inner of fromFieldsV1(tree[key], [...path, key])) into.add(inner)
  return into
}

const entriesOf = (object: KubeObject): Array<ManagedFieldsEntry> =>
  (((object.metadata as Record<string, unknown>).managedFields ?? []) as Array<ManagedFieldsEntry>).filter(isRecord)

const sameManager = (entry: ManagedFieldsEntry, manager: Manager) =>
  entry.manager === manager.name && entry.operation === manager.operation && (entry.subresource ?? undefined) === manager.subresource

const timestamp = () => new Date().toISOString().replace(/\.\d+Z$/, "Z")

const withEntries = (object: KubeObject, entries: ReadonlyArray<ManagedFieldsEntry>): KubeObject => {
  const metadata = { ...object.metadata } as Record<string, unknown>
  const kept = entries.filter((entry) => Object.keys(entry.fieldsV1).length > 0)
  if (kept.length === 0) delete metadata.managedFields
  else metadata.managedFields = kept
  return { ...object, metadata: metadata as KubeObject["metadata"] }
}

/**
 * After a write by `manager` that is not an apply: the fields it set or changed are now its own
 * and no longer anyone else's; fields the object no longer has are no one's.
 */
export const recordUpdate = (previous: KubeObject | undefined, next: KubeObject, manager: Manager, apiVersion: string): KubeObject => {
  const changed = new Set(
    [...fieldsOf(next, manager.subresource)].filter(
      (key) => previous === undefined || JSON.stringify(valueAt(previous, decode(key))) !== JSON.stringify(valueAt(next, decode(key)))
    )
  )
  const entries = (previous === undefined ? [] : entriesOf(previous)).map((entry) => ({
    ...entry,
    fieldsV1: toFieldsV1(
      new Set(
        [...fromFieldsV1(entry.fieldsV1)].filter(
          (key) => (sameManager(entry, manager) || !changed.has(key)) && valueAt(next, decode(key)) !== undefined
        )
      )
    )
  }))
  if (changed.size === 0) return withEntries(next, entries)
  const own = entries.find((entry) => sameManager(entry, manager))
  const entry: ManagedFieldsEntry = {
    manager: manager.name,
    operation: "Update",
    apiVersion,
    time: timestamp(),
    fieldsType: "FieldsV1",
    fieldsV1: toFieldsV1(new Set([...(own === undefined ? [] : fromFieldsV1(own.fieldsV1)), ...changed])),
    ...(manager.subresource === undefined ? {} : { subresource: manager.subresource })
  }
  return withEntries(next, [...entries.filter((candidate) => !sameManager(candidate, manager)), entry])
}

/** Merges an apply configuration into the live object: maps by key, keyed lists by item, the rest replaced. */
const merge = (live: unknown, applied: unknown, names: ReadonlyArray<string>): unknown => {
  if (isRecord(applied)) {
    const result: Record<string, unknown> = isRecord(live) ? { ...live } : {}
    for (const [key, value] of Object.entries(applied)) result[key] = merge(result[key], value, [...names, key])
    return result
  }
  const field = names.at(-1) ?? ""
  const key = mergeKey(field, names.slice(0, -1))
  if (Array.isArray(applied) && Array.isArray(live) && key !== undefined) {
    const result = [...live]
    for (const item of applied as Array<Record<string, unknown>>) {
      const index = result.findIndex((candidate) => isRecord(candidate) && JSON.stringify(candidate[key]) === JSON.stringify(item[key]))
      if (index >= 0) result[index] = merge(result[index], item, names)
      else result.push(clone(item))
    }
    return result
  }
  if (Array.isArray(applied) && Array.isArray(live) && mergedPrimitiveLists.has(field))
    return [...live, ...applied.filter((item) => !live.some((existing) => JSON.stringify(existing) === JSON.stringify(item)))]
  return clone(applied)
}

/**
 * Server-side apply of `config` by `manager` to `live` (undefined: the apply creates it). Returns
 * the object to store, with its managedFields; throws a 409 naming each conflict unless `force`.
 */
export const serverSideApply = (
  live: KubeObject | undefined,
  config: KubeObject,
  manager: Manager,
  apiVersion: string,
  force: boolean
): KubeObject => {
  const applied = fieldsOf(config)
  const entries = live === undefined ? [] : entriesOf(live)
  if (live !== undefined && !force) {
    const conflicts = entries
      .filter((entry) => !sameManager(entry, manager))
      .flatMap((entry) =>
        [...fromFieldsV1(entry.fieldsV1)]
          .filter((key) => applied.has(key) && JSON.stringify(valueAt(live, decode(key))) !== JSON.stringify(valueAt(config, decode(key))))
          .filter((key) => valueAt(config, decode(key)) !== undefined && !isRecord(valueAt(config, decode(key))))
          .map((key) => ({ manager: printManager(entry), field: fieldPathText(decode(key)) }))
      )
    if (conflicts.length > 0)
      throw new ApiError(409, "Conflict", conflictMessage(conflicts), {
        name: config.metadata.name ?? "",
        causes: conflicts.map((conflict) => ({
          reason: "FieldManagerConflict",
          message: `conflict with ${conflict.manager}`,
          field: conflict.field
        }))
      })
  }
  const merged = merge(live ?? {}, config, []) as KubeObject
  const own = entries.find((entry) => sameManager(entry, manager))
  const others = entries.filter((entry) => !sameManager(entry, manager))
  const ownedByOthers = new Set(others.flatMap((entry) => [...fromFieldsV1(entry.fieldsV1)]))
  // What this manager applied before and no longer does goes, unless another manager holds it.
  const dropped = [...(own === undefined ? [] : fromFieldsV1(own.fieldsV1))]
    .filter((key) => !applied.has(key) && !ownedByOthers.has(key))
    .map(decode)
    .sort((a, b) => b.length - a.length)
  for (const path of dropped) removeAt(merged as Record<string, unknown>, path)
  // Forced: the fields taken from others are theirs no more.
  const othersAfter = others.map((entry) => ({
    ...entry,
    fieldsV1: toFieldsV1(new Set([...fromFieldsV1(entry.fieldsV1)].filter((key) => !(force && applied.has(key)))))
  }))
  const fieldsV1 = toFieldsV1(applied)
  // An apply that owns what it owned before keeps its time: applying again is then no change at all.
  const unchanged = own !== undefined && JSON.stringify(own.fieldsV1) === JSON.stringify(fieldsV1) && own.apiVersion === apiVersion
  const entry: ManagedFieldsEntry = {
    manager: manager.name,
    operation: "Apply",
    apiVersion,
    time: unchanged ? own.time : timestamp(),
    fieldsType: "FieldsV1",
    fieldsV1
  }
  // In place, so an apply that changes nothing leaves managedFields as they were.
  const index = entries.findIndex((candidate) => sameManager(candidate, manager))
  const ordered = index < 0 ? [...othersAfter, entry] : [...othersAfter.slice(0, index), entry, ...othersAfter.slice(index)]
  return withEntries(merged, ordered)
}

/** A manager as the real server's conflict errors name it: an updater with its version and time, an applier by name. */
const printManager = (entry: { manager?: string; operation?: string; apiVersion?: string; time?: string; subresource?: string }) => {
  const name = `${JSON.stringify(entry.manager ?? "")}${entry.subresource ? ` with subresource ${JSON.stringify(entry.subresource)}` : ""}`
  if (entry.operation !== "Update") return name
  return entry.time === undefined ? `${name} using ${entry.apiVersion}` : `${name} using ${entry.apiVersion} at ${entry.time}`
}

/** The message of the real server's apply conflict: one conflict on a line, several grouped by manager. */
const conflictMessage = (conflicts: ReadonlyArray<{ readonly manager: string; readonly field: string }>) => {
  const [only] = conflicts
  if (conflicts.length === 1 && only !== undefined) return `Apply failed with 1 conflict: conflict with ${only.manager}: ${only.field}`
  const byManager = new Map<string, Array<string>>()
  for (const conflict of conflicts) byManager.set(conflict.manager, [...(byManager.get(conflict.manager) ?? []), conflict.field])
  const lines = [...byManager].flatMap(([manager, fields]) => [`conflicts with ${manager}`, ...fields.map((field) => `- ${field}`)])
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`
}
