import { isRecord, type KubeObject } from "./KubeObject.ts"

/** Label selectors in the full syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`. */
export type Requirement =
  | { readonly key: string; readonly op: "in" | "notin"; readonly values: ReadonlyArray<string> }
  | { readonly key: string; readonly op: "exists" | "!exists" }

export class SelectorError extends Error {}

/** Splits on commas that are not inside parentheses. */
const splitTerms = (text: string): Array<string> => {
  const terms: Array<string> = []
  let depth = 0
  let current = ""
  for (const char of text) {
    if (char === "(") depth++
    if (char === ")") depth--
    if (char === "," && depth === 0) {
      terms.push(current)
      current = ""
    } else current += char
  }
  terms.push(current)
  return terms.map((term) => term.trim()).filter((term) => term !== "")
}

const labelKey = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const checkKey = (key: string) => {
  if (!labelKey.test(key)) throw new SelectorError(`invalid label key ${JSON.stringify(key)}`)
  return key
}

export const parseLabelSelector = (text: string | null | undefined): ReadonlyArray<Requirement> => {
  if (text === null || text === undefined || text.trim() === "") return []
  return splitTerms(text).map((term): Requirement => {
    let match = /^(\S+?)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term)
    if (match) {
      const values = (match[3] ?? "")
        .split(",")
        .map((value) => value.trim())
        .filter((value) => value !== "")
      return { key: checkKey(match[1] as string), op: match[2] as "in" | "notin", values }
    }
    match = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term)
    if (match) return { key: checkKey(match[1] as string), op: match[2] === "!=" ? "notin" : "in", values: [match[3] as string] }
    match = /^!\s*(\S+)$/.exec(term)
    if (match) return { key: checkKey(match[1] as string), op: "!exists" }
    if (/^\S+$/.test(term)) return { key: checkKey(term), op: "exists" }
    throw new SelectorError(`unable to parse requirement: ${JSON.stringify(term)}`)
  })
}

export const matchesLabels = (requirements: ReadonlyArray<Requirement>, labels: Readonly<Record<string, string>> | undefined): boolean =>
  requirements.every((requirement) => {
    const value = labels?.[requirement.key]
    switch (requirement.op) {
      case "exists":
        return value !== undefined
      case "!exists":
        return value === undefined
      case "in":
        return value !== undefined && requirement.values.includes(value)
      case "notin":
        return value === undefined || !requirement.values.includes(value)
      default:
        return false
    }
  })

/** A field selector's term: a field label (a path into the object) with `=`, `==` or `!=`. */
export interface FieldRequirement {
  readonly field: string
  readonly equal: boolean
  readonly value: string
}

/**
 * The field labels the real server accepts per kind (its fieldSelector conversion functions),
 * beyond `metadata.name` and `metadata.namespace` which every kind has.
 */
const fieldLabels: Readonly<Record<string, ReadonlyArray<string>>> = {
  Pod: [
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName"
  ],
  Event: [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type"
  ],
  // events.k8s.io/v1, selected by its own names (EventsView maps them to the stored ones).
  "events.k8s.io/Event": [
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingController",
    "type"
  ],
  Secret: ["type"],
  Node: ["spec.unschedulable"],
  Namespace: ["status.phase"]
}

export const parseFieldSelector = (text: string | null | undefined, kind?: string): ReadonlyArray<FieldRequirement> => {
  if (text === null || text === undefined || text.trim() === "") return []
  const allowed = new Set(["metadata.name", "metadata.namespace", ...(kind === undefined ? [] : (fieldLabels[kind] ?? []))])
  return text.split(",").map((term) => {
    const match = /^\s*([\w.]+)\s*(==|=|!=)\s*(\S*)\s*$/.exec(term)
    if (!match) throw new SelectorError(`invalid field selector ${JSON.stringify(term)}`)
    const field = match[1] as string
    if (!allowed.has(field)) throw new SelectorError(`field label not supported: ${field}`)
    return { field, equal: match[2] !== "!=", value: match[3] as string }
  })
}

/** A field's value as the selector compares it: a string, "" when unset (an event's `source` is its component). */
const fieldValue = (object: KubeObject, field: string): string => {
  const path = field === "source" ? ["source", "component"] : field === "reportingComponent" ? ["reportingComponent"] : field.split(".")
  const value = path.reduce<unknown>((node, key) => (isRecord(node) ? node[key] : undefined), object)
  return value === undefined || value === null ? "" : String(value)
}

export const matchesFields = (requirements: ReadonlyArray<FieldRequirement>, object: KubeObject): boolean =>
  requirements.every((requirement) => (fieldValue(object, requirement.field) === requirement.value) === requirement.equal)
