import { existsSync, readFileSync, statSync } from "node:fs"
import { join, resolve } from "node:path"
import { isMap, parseDocument } from "yaml"
import type { ConfigProblem } from "./ConfigError.ts"
import type { ConfigKeyName } from "./ConfigKeys.ts"
import { keyByPath } from "./ConfigKeys.ts"
import type { Origin } from "./Origin.ts"

export const configFileName = "kubelan.yaml"
/** A ConfigMap holds at most 1 MiB; a config file larger than that is a mistake. */
const maxFileBytes = 1024 * 1024
const tooLarge = "the file is larger than 1 MiB"
const maxAliases = 100
/** Where the original looked for `kubelan.yaml`, in order. */
export const defaultSearchDirs: ReadonlyArray<string> = ["/run/config", "."]

export interface RawValues {
  readonly values: ReadonlyMap<ConfigKeyName, { readonly raw: unknown; readonly origin: Origin }>
  readonly problems: ReadonlyArray<ConfigProblem>
}

export const findConfigFile = (searchDirs: ReadonlyArray<string>): string | undefined =>
  searchDirs.map((dir) => resolve(join(dir, configFileName))).find((path) => existsSync(path))

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Reads and flattens a YAML config file; unknown keys and malformed YAML are problems. */
export const readConfigFile = (path: string): RawValues => {
  const origin: Origin = { kind: "file", path }
  const values = new Map<ConfigKeyName, { raw: unknown; origin: Origin }>()
  const problems: Array<ConfigProblem> = []
  let text: string
  try {
    if (statSync(path).size > maxFileBytes) return { values, problems: [{ key: "config", origin, message: tooLarge }] }
    text = readFileSync(path, "utf8")
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    return { values, problems: [{ key: "config", origin, message: `cannot read the file: ${reason}` }] }
  }
  const document = parseDocument(text, { uniqueKeys: true })
  if (document.errors.length > 0) {
    for (const error of document.errors) {
      const line = error.linePos?.[0]
      problems.push({
        key: "config",
        origin,
        message: `malformed YAML${line ? ` at line ${line.line}, column ${line.col}` : ""}: ${error.message.split("\n")[0]}`
      })
    }
    return { values, problems }
  }
  if (document.contents !== null && !isMap(document.contents)) {
    return { values, problems: [{ key: "config", origin, message: "the file must be a YAML mapping of keys to values" }] }
  }
  const walk = (node: Record<string, unknown>, prefix: string) => {
    for (const [name, raw] of Object.entries(node)) {
      const path = prefix === "" ? name : `${prefix}.${name}`
      const keyName = keyByPath.get(path)
      if (keyName !== undefined) values.set(keyName, { raw, origin })
      else if (isPlainObject(raw) && [...keyByPath.keys()].some((known) => known.startsWith(`${path}.`))) walk(raw, path)
      else problems.push({ key: path, origin, message: "unknown key" })
    }
  }
  let contents: unknown
  try {
    contents = document.toJS({ maxAliasCount: maxAliases })
  } catch (error) {
    // yaml refuses documents whose aliases expand without bound (a "billion laughs" file).
    const reason = error instanceof Error ? error.message : String(error)
    return { values, problems: [{ key: "config", origin, message: `the YAML cannot be expanded: ${reason}` }] }
  }
  if (isPlainObject(contents)) walk(contents, "")
  return { values, problems }
}
