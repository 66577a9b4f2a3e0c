import { addressFamily, canonicalAddress, specialAddressReason, subnetBroadcast } from "./Address.ts"

/**
 * Interface addresses written once for every pod of a StatefulSet: `192.168.69.{ordinal+1}/24`
 * gives kubelan-0 192.168.69.1/24. Inside an IPv6 address the number is written in hexadecimal,
 * as its groups are (`fd69::{ordinal+1}/64` gives kubelan-10 fd69::b/64).
 */

const placeholder = /\{([^{}]*)\}/g
const expression = /^\s*ordinal\s*(?:([+-])\s*(\d{1,9})\s*)?$/

/** The ordinal of a StatefulSet pod's name (`web-3` → 3), or undefined for a name without one. */
export const podOrdinal = (podName: string): number | undefined => {
  const match = /-(\d{1,9})$/.exec(podName)
  return match?.[1] === undefined ? undefined : Number(match[1])
}

export const usesOrdinal = (template: string): boolean => /\{[^{}]*\}/.test(template)

/** Why a template can never give an address, whatever the pod: a bad placeholder, no prefix length. */
export const addressTemplateProblem = (template: string, show: Show = JSON.stringify): string | undefined => {
  for (const [, inner = ""] of template.matchAll(placeholder))
    if (!expression.test(inner)) return `${show(`{${inner}}`)} in ${show(template)} is not {ordinal}, {ordinal+N} or {ordinal-N}`
  if (/[{}]/.test(template.replace(placeholder, ""))) return `${show(template)} has an unmatched brace`
  if (!/\/\d{1,3}$/.test(template)) return `${show(template)} has no prefix length (like 192.168.69.1/24)`
  return undefined
}

/** How a value appears in a message (ConfigKeys' `show` cuts a long one short). */
type Show = (raw: unknown) => string

export type RenderedAddress = { readonly ok: true; readonly cidr: string } | { readonly ok: false; readonly message: string }

/** The address a template gives the pod with this ordinal (undefined: the pod's name has none). */
export const renderAddress = (template: string, ordinal: number | undefined, show: Show = JSON.stringify): RenderedAddress => {
  const syntax = addressTemplateProblem(template, show)
  if (syntax !== undefined) return { ok: false, message: syntax }
  if (ordinal === undefined && usesOrdinal(template))
    return { ok: false, message: `${show(template)} uses {ordinal}, and the pod's name does not end in -N` }
  const ipv6 = template.replace(placeholder, "").includes(":")
  let negative = false
  const text = template.replace(placeholder, (_, inner: string) => {
    const [, sign, amount] = expression.exec(inner) ?? []
    const value = (ordinal ?? 0) + (sign === "-" ? -1 : 1) * Number(amount ?? 0)
    if (value < 0) negative = true
    return ipv6 ? value.toString(16) : String(value)
  })
  const [address = "", prefix = ""] = text.split("/")
  const family = addressFamily(address)
  if (negative || family === undefined)
    return { ok: false, message: `${show(template)} gives ${show(text)} for ordinal ${ordinal}, which is not an IP address` }
  const prefixLength = Number(prefix)
  if (prefixLength > (family === 4 ? 32 : 128)) return { ok: false, message: `${show(text)}: /${prefix} is too long for IPv${family}` }
  const special = specialAddressReason(address)
  if (special !== undefined) return { ok: false, message: `${text} is ${special}, not an address for the interface` }
  if (family === 4 && prefixLength < 31) {
    const broadcast = subnetBroadcast(address, prefixLength)
    const value = address.split(".").reduce((sum, octet) => sum * 256 + Number(octet), 0)
    if (address === broadcast) return { ok: false, message: `${text} is the broadcast address of its subnet` }
    if (value % 2 ** (32 - prefixLength) === 0) return { ok: false, message: `${text} is the network address of its subnet` }
  }
  return { ok: true, cidr: `${canonicalAddress(address)}/${prefixLength}` }
}
