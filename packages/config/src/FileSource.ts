import { existsSync, readFileSync, statSync } from "node:fs"
import { join, resolve } from "node:path"
import { isMap, parseDocument } from "yaml"
import type { ConfigProblem } from "./ConfigError.ts"
import type { ConfigKeyName } from "./ConfigKeys.ts"
import { isNetworkKey, keyByPath } from "./ConfigKeys.ts"
import type { Origin } from "./Origin.ts"

export const configFileName = "kubelan.yaml"
/** A ConfigMap holds at most 1 MiB; a config file larger than that is a mistake. */
const maxFileBytes = 1024 * 1024
const tooLarge = "the file is larger than 1 MiB"
const maxAliases = 100
/** Where the original looked for `kubelan.yaml`, in order. */
export const defaultSearchDirs: ReadonlyArray<string> = ["/run/config", "."]

export type RawValue = { readonly raw: unknown; readonly origin: Origin }

/** One `networks` entry as a source gave it: its name and its per-network keys. */
export interface RawNetwork {
  readonly name: RawValue | undefined
  readonly values: ReadonlyMap<ConfigKeyName, RawValue>
}

export interface RawValues {
  readonly values: ReadonlyMap<ConfigKeyName, RawValue>
  /** `networks` entries by index; absent when the source does not use the form. */
  readonly networks?: ReadonlyMap<number, RawNetwork> | undefined
  readonly problems: ReadonlyArray<ConfigProblem>
}

/** At most this many networks: each is an interface, its FDB and a reconcile loop. */
export const maxNetworks = 16

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
  let networks: Map<number, RawNetwork> | undefined
  /** Keys into `into`: at the top level any key, in a networks entry (`within`) only per-network ones. */
  const walk = (node: Record<string, unknown>, prefix: string, into: Map<ConfigKeyName, RawValue>, within?: string) => {
    for (const [name, raw] of Object.entries(node)) {
      const path = prefix === "" ? name : `${prefix}.${name}`
      const shown = within === undefined ? path : `${within}.${path}`
      const keyName = keyByPath.get(path)
      if (within === undefined && path === "networks") readNetworks(raw)
      else if (within !== undefined && path === "name") continue
      else if (keyName !== undefined && (within === undefined || isNetworkKey(keyName))) into.set(keyName, { raw, origin })
      else if (keyName !== undefined) problems.push({ key: shown, origin, message: "is not a network's setting: set it at the top level" })
      else if (isPlainObject(raw) && [...keyByPath.keys()].some((known) => known.startsWith(`${path}.`))) walk(raw, path, into, within)
      else problems.push({ key: shown, origin, message: "unknown key" })
    }
  }
  const readNetworks = (raw: unknown) => {
    if (!Array.isArray(raw)) return problems.push({ key: "networks", origin, message: "is not a list of networks" })
    if (raw.length > maxNetworks)
      return problems.push({ key: "networks", origin, message: `has ${raw.length} entries; at most ${maxNetworks}` })
    networks = new Map()
    for (const [index, entry] of raw.entries()) {
      const within = `networks[${index}]`
      if (!isPlainObject(entry)) {
        problems.push({ key: within, origin, message: "is not a mapping of a network's settings" })
        continue
      }
      const entryValues = new Map<ConfigKeyName, RawValue>()
      walk(entry, "", entryValues, within)
      networks.set(index, { name: entry.name === undefined ? undefined : { raw: entry.name, origin }, values: entryValues })
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
  if (isPlainObject(contents)) walk(contents, "", values)
  return { values, networks, problems }
}
