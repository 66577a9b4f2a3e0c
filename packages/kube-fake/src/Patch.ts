import { clone, isRecord } from "./KubeObject.ts"

/** A patch that cannot be read (400) or cannot be applied to the object (422), as the real server splits them. */
export class PatchError extends Error {
  readonly code: 400 | 422
  constructor(message: string, code: 400 | 422 = 422) {
    super(message)
    this.code = code
  }
}

/**
 * Keys that address an object's prototype rather than a field: a patch naming one would reach
 * Object.prototype in this process. No Kubernetes field has these names.
 */
const prototypeKeys = new Set(["__proto__", "constructor", "prototype"])
const refusePrototypeKey = (key: string) => {
  if (prototypeKeys.has(key)) throw new PatchError(`the patch names ${JSON.stringify(key)}, which is not a field of any object`, 400)
}

/** RFC 7386: objects merge recursively, `null` deletes, anything else replaces. */
export const jsonMergePatch = (target: unknown, patch: unknown): unknown => {
  if (!isRecord(patch)) return clone(patch)
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    refusePrototypeKey(key)
    if (value === null) delete result[key]
    else result[key] = jsonMergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value)
  }
  return result
}

/**
 * The merge key of a list field, by name and parent, for the built-in kinds kubelan's
 * manifests use. Lists without one are replaced whole, as the real server does for atomic lists.
 */
export const mergeKey = (field: string, path: ReadonlyArray<string>): string | undefined => {
  const parent = path[path.length - 1]
  switch (field) {
    case "containers":
    case "initContainers":
    case "ephemeralContainers":
    case "volumes":
    case "env":
    case "imagePullSecrets":
      return "name"
    case "volumeMounts":
    case "volumeDevices":
      return field === "volumeMounts" ? "mountPath" : "devicePath"
    case "ports":
      return path.includes("containers") || path.includes("initContainers") || parent === undefined ? "containerPort" : "port"
    case "conditions":
      return "type"
    case "ownerReferences":
      return "uid"
    default:
      return undefined
  }
}

/** Lists of primitives merged as sets (`patchStrategy: merge` on a primitive list). */
export const mergedPrimitiveLists = new Set(["finalizers"])

const directivePrefixes = ["$setElementOrder/", "$deleteFromPrimitiveList/", "$retainKeys"]

/**
 * Strategic merge patch, as `kubectl apply` sends for built-in kinds: maps merge, `null`
 * deletes, lists with a merge key merge by that key (with `$patch: delete`, `$patch: replace`
 * and `$setElementOrder`), `$retainKeys` clears the keys it does not list, other lists replace.
 */
export const strategicMergePatch = (target: unknown, patch: unknown, path: ReadonlyArray<string> = []): unknown => {
  if (!isRecord(patch)) return clone(patch)
  if (patch.$patch === "replace") {
    const { $patch: _, ...rest } = patch
    return clone(rest)
  }
  if (patch.$patch === "delete") return undefined
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {}
  const retain = patch.$retainKeys
  if (Array.isArray(retain)) for (const key of Object.keys(result)) if (!retain.includes(key) && !(key in patch)) delete result[key]
  for (const [key, value] of Object.entries(patch)) {
    refusePrototypeKey(key)
    if (key === "$patch" || directivePrefixes.some((prefix) => key.startsWith(prefix))) continue
    if (value === null) {
      delete result[key]
      continue
    }
    const current = Object.hasOwn(result, key) ? result[key] : undefined
    const keyName = mergeKey(key, path)
    if (Array.isArray(value) && keyName !== undefined) {
      const order = patch[`$setElementOrder/${key}`]
      result[key] = mergeListByKey(Array.isArray(current) ? current : [], value, keyName, Array.isArray(order) ? order : undefined, [
        ...path,
        key
      ])
    } else if (Array.isArray(value) && mergedPrimitiveLists.has(key)) {
      const deletions = patch[`$deleteFromPrimitiveList/${key}`]
      const merged = [...new Set([...(Array.isArray(current) ? current : []), ...value])]
      result[key] = Array.isArray(deletions) ? merged.filter((item) => !deletions.includes(item)) : merged
    } else if (Array.isArray(value)) result[key] = clone(value)
    else if (isRecord(value)) {
      const merged = strategicMergePatch(current, value, [...path, key])
      if (merged === undefined) delete result[key]
      else result[key] = merged
    } else result[key] = value
  }
  for (const [key, value] of Object.entries(patch)) {
    if (!key.startsWith("$deleteFromPrimitiveList/") || !Array.isArray(value)) continue
    const field = key.slice("$deleteFromPrimitiveList/".length)
    const current = result[field]
    if (Array.isArray(current) && !(field in patch)) result[field] = current.filter((item) => !value.includes(item))
  }
  return result
}

const mergeListByKey = (
  current: ReadonlyArray<unknown>,
  patch: ReadonlyArray<unknown>,
  keyName: string,
  order: ReadonlyArray<unknown> | undefined,
  path: ReadonlyArray<string>
): Array<unknown> => {
  const keyOf = (item: unknown) => (isRecord(item) ? JSON.stringify(item[keyName]) : JSON.stringify(item))
  const items = new Map<string, unknown>(current.map((item) => [keyOf(item), item]))
  const sequence = current.map(keyOf)
  for (const item of patch) {
    const key = keyOf(item)
    if (isRecord(item) && item.$patch === "delete") {
      items.delete(key)
      continue
    }
    const merged = strategicMergePatch(items.get(key), item, path)
    if (!items.has(key)) sequence.push(key)
    items.set(key, merged)
  }
  const ordered = order === undefined ? sequence : [...order.map(keyOf), ...sequence.filter((key) => !order.map(keyOf).includes(key))]
  return [...new Set(ordered)].filter((key) => items.has(key)).map((key) => items.get(key))
}

/** An RFC 6901 array index: digits only, inside the array (or one past its end, for add). */
const arrayIndex = (array: ReadonlyArray<unknown>, part: string, forAdd: boolean): number => {
  const index = /^(0|[1-9]\d*)$/.test(part) ? Number(part) : Number.NaN
  if (!Number.isSafeInteger(index) || index > array.length || (!forAdd && index === array.length))
    throw new PatchError(`invalid array index ${JSON.stringify(part)} for an array of ${array.length}`)
  return index
}

/** RFC 6902 JSON patch: add, remove, replace, move, copy, test. */
export const jsonPatch = (target: unknown, operations: unknown): unknown => {
  if (!Array.isArray(operations)) throw new PatchError("a JSON patch must be a list of operations", 400)
  let document = clone(target)
  const parse = (pointer: unknown) => {
    if (typeof pointer !== "string" || (pointer !== "" && !pointer.startsWith("/")))
      throw new PatchError(`invalid JSON pointer ${JSON.stringify(pointer)}`, 400)
    const parts =
      pointer === ""
        ? []
        : pointer
            .slice(1)
            .split("/")
            .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
    for (const part of parts) refusePrototypeKey(part)
    return parts
  }
  const parentOf = (parts: ReadonlyArray<string>) => {
    let node: unknown = document
    for (const part of parts.slice(0, -1)) {
      node = Array.isArray(node)
        ? node[arrayIndex(node, part, false)]
        : isRecord(node) && Object.hasOwn(node, part)
          ? node[part]
          : undefined
      if (node === undefined) throw new PatchError(`path not found: /${parts.join("/")}`)
    }
    return node
  }
  const get = (parts: ReadonlyArray<string>) => {
    if (parts.length === 0) return document
    const parent = parentOf(parts)
    const last = parts[parts.length - 1] as string
    const value = Array.isArray(parent)
      ? parent[arrayIndex(parent, last, false)]
      : isRecord(parent) && Object.hasOwn(parent, last)
        ? parent[last]
        : undefined
    if (value === undefined) throw new PatchError(`path not found: /${parts.join("/")}`)
    return value
  }
  const remove = (parts: ReadonlyArray<string>) => {
    const parent = parentOf(parts)
    const last = parts[parts.length - 1] as string
    if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false), 1)
    else if (isRecord(parent) && Object.hasOwn(parent, last)) delete parent[last]
    else throw new PatchError(`path not found: /${parts.join("/")}`)
  }
  const add = (parts: ReadonlyArray<string>, value: unknown, replace: boolean) => {
    if (parts.length === 0) {
      document = clone(value)
      return
    }
    const parent = parentOf(parts)
    const last = parts[parts.length - 1] as string
    if (Array.isArray(parent)) {
      const index = last === "-" && !replace ? parent.length : arrayIndex(parent, last, !replace)
      if (replace) parent[index] = clone(value)
      else parent.splice(index, 0, clone(value))
    } else if (isRecord(parent)) {
      if (replace && !Object.hasOwn(parent, last)) throw new PatchError(`path not found: /${parts.join("/")}`)
      parent[last] = clone(value)
    } else throw new PatchError(`path not found: /${parts.join("/")}`)
  }
  for (const operation of operations) {
    if (!isRecord(operation)) throw new PatchError("a JSON patch operation must be an object", 400)
    const path = parse(operation.path)
    switch (operation.op) {
      case "add":
        add(path, operation.value, false)
        break
      case "remove":
        remove(path)
        break
      case "replace":
        add(path, operation.value, true)
        break
      case "move": {
        const from = parse(operation.from)
        const value = get(from)
        remove(from)
        add(path, value, false)
        break
      }
      case "copy":
        add(path, get(parse(operation.from)), false)
        break
      case "test":
        if (JSON.stringify(get(path)) !== JSON.stringify(operation.value)) throw new PatchError(`test failed at ${String(operation.path)}`)
        break
      default:
        throw new PatchError(`unknown JSON patch operation ${JSON.stringify(operation.op)}`, 400)
    }
  }
  return document
}
