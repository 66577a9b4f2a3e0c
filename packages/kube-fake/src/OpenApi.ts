import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { gunzipSync } from "node:zlib"

/**
 * The real server's OpenAPI v3 documents for the group versions kube-fake serves (`kubectl
 * explain` reads them, kubectl checks them for the query parameters it may send). They are the
 * files of k8s.io/kubernetes v1.32.0 `api/openapi-spec/v3`, unchanged, gzipped in `openapi/v3/`.
 */
const directory = fileURLToPath(new URL("../openapi/v3/", import.meta.url))

/** `api/v1`, `apis/apps/v1` → the file holding its document. */
const fileOf = (groupVersion: string) => `${directory}${groupVersion.replaceAll("/", "__")}_openapi.json.gz`

const served = [
  "api/v1",
  "apis/apps/v1",
  "apis/networking.k8s.io/v1",
  "apis/discovery.k8s.io/v1",
  "apis/rbac.authorization.k8s.io/v1",
  "apis/events.k8s.io/v1",
  "apis/authorization.k8s.io/v1"
].filter((groupVersion) => existsSync(fileOf(groupVersion)))

const documents = new Map<string, { readonly body: Buffer; readonly hash: string }>()
const documentOf = (groupVersion: string) => {
  let document = documents.get(groupVersion)
  if (document === undefined) {
    const body = gunzipSync(readFileSync(fileOf(groupVersion)))
    // As the real server: the hash in the discovery document names this content, so clients cache it.
    document = { body, hash: createHash("sha512").update(body).digest("hex").toUpperCase() }
    documents.set(groupVersion, document)
  }
  return document
}

/** `GET /openapi/v3`: where each group version's document is. */
export const openApiDiscovery = () => ({
  paths: Object.fromEntries(
    served.map((groupVersion) => [groupVersion, { serverRelativeURL: `/openapi/v3/${groupVersion}?hash=${documentOf(groupVersion).hash}` }])
  )
})

/** `GET /openapi/v3/<group version>`: the document, or undefined for one kube-fake does not serve. */
export const openApiDocument = (groupVersion: string) => (served.includes(groupVersion) ? documentOf(groupVersion) : undefined)

type Schema = {
  readonly $ref?: string
  readonly allOf?: ReadonlyArray<Schema>
  readonly properties?: Record<string, Schema>
  readonly additionalProperties?: Schema | boolean
  readonly items?: Schema
  readonly "x-kubernetes-preserve-unknown-fields"?: boolean
  readonly "x-kubernetes-group-version-kind"?: ReadonlyArray<{ group: string; version: string; kind: string }>
}
type Components = Record<string, Schema>

const parsed = new Map<string, Components>()
const componentsOf = (groupVersion: string): Components | undefined => {
  const document = openApiDocument(groupVersion)
  if (document === undefined) return undefined
  let components = parsed.get(groupVersion)
  if (components === undefined) {
    components = (JSON.parse(document.body.toString("utf8")) as { components: { schemas: Components } }).components.schemas
    parsed.set(groupVersion, components)
  }
  return components
}

/** A schema with its `$ref` and single-`allOf` wrappers followed. */
const resolve = (schema: Schema | undefined, components: Components): Schema | undefined => {
  let current = schema
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    if (current.$ref !== undefined) current = components[current.$ref.slice("#/components/schemas/".length)]
    else if (current.allOf?.length === 1 && current.properties === undefined) current = current.allOf[0]
    else return current
  }
  return current
}

const unknownIn = (
  value: unknown,
  schema: Schema | undefined,
  components: Components,
  path: string,
  into: Array<string>,
  prune: boolean
) => {
  const resolved = resolve(schema, components)
  if (resolved === undefined || resolved["x-kubernetes-preserve-unknown-fields"]) return
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) unknownIn(item, resolved.items, components, `${path}[${index}]`, into, prune)
    return
  }
  if (value === null || typeof value !== "object") return
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    const at = path === "" ? key : `${path}.${key}`
    if (resolved.properties !== undefined) {
      const property = resolved.properties[key]
      if (property === undefined) {
        into.push(at)
        if (prune) delete (value as Record<string, unknown>)[key]
      } else unknownIn(inner, property, components, at, into, prune)
    } else if (typeof resolved.additionalProperties === "object")
      unknownIn(inner, resolved.additionalProperties, components, at, into, prune)
  }
}

/**
 * Fields an object has that its kind's schema does not: what the real server's field validation
 * reports (`strict decoding error: unknown field "spec.replica"`), and with `prune` removes from
 * the object, as decoding into the server's types drops them. Empty for kinds without a document.
 */
export const unknownFields = (group: string, version: string, kind: string, object: unknown, prune = false): ReadonlyArray<string> => {
  const components = componentsOf(group === "" ? `api/${version}` : `apis/${group}/${version}`)
  if (components === undefined) return []
  const schema = Object.values(components).find((candidate) =>
    (candidate["x-kubernetes-group-version-kind"] ?? []).some((gvk) => gvk.group === group && gvk.version === version && gvk.kind === kind)
  )
  if (schema === undefined) return []
  const into: Array<string> = []
  unknownIn(object, schema, components, "", into, prune)
  return into
}
