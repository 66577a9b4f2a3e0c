import { findResource, type ResourceType, resourceTypes } from "./Resources.ts"

/** What a URL under /api or /apis addresses. */
export type ApiPath =
  | { readonly kind: "resourceList"; readonly group: string; readonly version: string }
  | {
      readonly kind: "resource"
      readonly type: ResourceType
      readonly namespace: string | undefined
      readonly name: string | undefined
      readonly subresource: string | undefined
    }

export const parseApiPath = (pathname: string): ApiPath | undefined => {
  const segments = pathname
    .split("/")
    .filter((segment) => segment !== "")
    .map(decodeURIComponent)
  let group: string
  let version: string | undefined
  let rest: Array<string>
  if (segments[0] === "api") [group, version, rest] = ["", segments[1], segments.slice(2)]
  else if (segments[0] === "apis" && segments.length >= 3) [group, version, rest] = [segments[1] as string, segments[2], segments.slice(3)]
  else return undefined
  if (version === undefined) return undefined
  if (rest.length === 0) return { kind: "resourceList", group, version }
  if (rest[0] === "namespaces" && rest.length >= 3) {
    const type = findResource(group, version, rest[2] as string)
    if (type?.namespaced) return { kind: "resource", type, namespace: rest[1], name: rest[3], subresource: rest[4] }
  }
  const type = findResource(group, version, rest[0] as string)
  if (type === undefined) return undefined
  return { kind: "resource", type, namespace: undefined, name: rest[1], subresource: rest[2] }
}

export const knownGroupVersion = (group: string, version: string) =>
  resourceTypes.some((type) => type.group === group && type.version === version)
