import type { KubeObject } from "./KubeObject.ts"

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

/** Field selectors on `metadata.name` and `metadata.namespace`, with `=`, `==` and `!=`. */
export interface FieldRequirement {
  readonly field: "metadata.name" | "metadata.namespace"
  readonly equal: boolean
  readonly value: string
}

export const parseFieldSelector = (text: string | null | undefined): ReadonlyArray<FieldRequirement> => {
  if (text === null || text === undefined || text.trim() === "") return []
  return text.split(",").map((term) => {
    const match = /^\s*([\w.]+)\s*(==|=|!=)\s*(\S*)\s*$/.exec(term)
    if (!match) throw new SelectorError(`invalid field selector ${JSON.stringify(term)}`)
    const field = match[1]
    if (field !== "metadata.name" && field !== "metadata.namespace") throw new SelectorError(`field label not supported: ${field}`)
    return { field, equal: match[2] !== "!=", value: match[3] as string }
  })
}

export const matchesFields = (requirements: ReadonlyArray<FieldRequirement>, object: KubeObject): boolean =>
  requirements.every((requirement) => {
    const actual = requirement.field === "metadata.name" ? object.metadata.name : (object.metadata.namespace ?? "")
    return (actual === requirement.value) === requirement.equal
  })
