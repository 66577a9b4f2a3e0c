import { fileURLToPath } from "node:url"
import protobuf from "protobufjs"
import { ApiError } from "./ApiError.ts"

/**
 * Request bodies in Kubernetes' protobuf encoding, which typed clients (kubectl's `auth can-i`,
 * `create ...`) send and never fall back from: the magic `k8s\0`, then a runtime.Unknown holding
 * the object's apiVersion, kind and its bytes. The messages are decoded with the official
 * definitions (`proto/`, copied unchanged from the k8s.io/api and k8s.io/apimachinery Go
 * modules, v0.32.0) into the JSON object the same request would have sent.
 */

const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00])
const protoRoot = fileURLToPath(new URL("../proto/", import.meta.url))

/** The groups kube-fake decodes: apiVersion → proto package, and the files that define them. */
const packages: Readonly<Record<string, string>> = {
  v1: "k8s.io.api.core.v1",
  "apps/v1": "k8s.io.api.apps.v1",
  "rbac.authorization.k8s.io/v1": "k8s.io.api.rbac.v1",
  "discovery.k8s.io/v1": "k8s.io.api.discovery.v1",
  "networking.k8s.io/v1": "k8s.io.api.networking.v1",
  "events.k8s.io/v1": "k8s.io.api.events.v1",
  "authorization.k8s.io/v1": "k8s.io.api.authorization.v1"
}
const files = ["core", "apps", "rbac", "discovery", "networking", "events", "authorization"].map(
  (group) => `k8s.io/api/${group}/v1/generated.proto`
)

let root: protobuf.Root | undefined
const definitions = () => {
  if (root !== undefined) return root
  const loaded = new protobuf.Root()
  loaded.resolvePath = (_origin, target) => `${protoRoot}${target}`
  loaded.loadSync(files, { keepCase: true })
  loaded.resolveAll()
  root = loaded
  return loaded
}

export const isProtobuf = (contentType: string | undefined) => /application\/vnd\.kubernetes\.protobuf/.test(contentType ?? "")

const numberOf = (value: unknown): number =>
  typeof value === "number" ? value : protobuf.util.LongBits.from(value as protobuf.Long).toNumber()

/** RFC 3339 as the API writes it: seconds for Time, microseconds for MicroTime. */
const timeOf = (value: { seconds?: unknown; nanos?: number }, micro: boolean) => {
  const millis = numberOf(value.seconds ?? 0) * 1000
  const iso = new Date(millis).toISOString().replace(/\.\d+Z$/, "")
  return micro ? `${iso}.${String(Math.floor((value.nanos ?? 0) / 1000)).padStart(6, "0")}Z` : `${iso}Z`
}

const decodeRaw = (raw: Uint8Array | undefined) =>
  raw === undefined || raw.length === 0 ? undefined : JSON.parse(Buffer.from(raw).toString("utf8"))

/**
 * The JSON form of a decoded message, as the Go types marshal it: the apimachinery types that
 * have their own JSON (Time, Quantity, IntOrString, raw JSON) become it, bytes become base64.
 * The Go encoder writes every non-pointer field, so empty strings and zero times (which the
 * JSON encoding omits) are left out here.
 */
const toJson = (type: protobuf.Type, message: Record<string, unknown>): Record<string, unknown> => {
  const json: Record<string, unknown> = {}
  for (const field of type.fieldsArray) {
    if (!Object.hasOwn(message, field.name)) continue
    const value = message[field.name]
    const convert = (item: unknown) => fieldValue(field, item)
    if (field.map) {
      const entries = Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, convert(item)] as const)
      if (entries.length > 0) json[field.name] = Object.fromEntries(entries)
    } else if (field.repeated) {
      const items = (value as Array<unknown>).map(convert)
      if (items.length > 0) json[field.name] = items
    } else {
      const converted = convert(value)
      if (converted !== undefined) json[field.name] = converted
    }
  }
  return json
}

const fieldValue = (field: protobuf.Field, value: unknown): unknown => {
  const resolved = field.resolvedType
  if (resolved instanceof protobuf.Type) {
    const message = value as Record<string, unknown>
    switch (resolved.fullName) {
      case ".k8s.io.apimachinery.pkg.apis.meta.v1.Time":
        return numberOf(message.seconds ?? 0) === 0 ? undefined : timeOf(message, false)
      case ".k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime":
        return numberOf(message.seconds ?? 0) === 0 ? undefined : timeOf(message, true)
      case ".k8s.io.apimachinery.pkg.api.resource.Quantity":
        return message.string
      case ".k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        return numberOf(message.type ?? 0) === 1 ? (message.strVal ?? "") : (message.intVal ?? 0)
      case ".k8s.io.apimachinery.pkg.runtime.RawExtension":
        return decodeRaw(message.raw as Uint8Array | undefined)
      case ".k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1":
        return decodeRaw(message.Raw as Uint8Array | undefined)
      case ".k8s.io.apimachinery.pkg.apis.meta.v1.Duration":
        return `${numberOf(message.duration ?? 0) / 1e9}s`
      default:
        return toJson(resolved, message)
    }
  }
  if (field.type === "bytes") return Buffer.from(value as Uint8Array).toString("base64")
  if (field.type === "string") return value === "" ? undefined : value
  if (["int64", "uint64", "sint64", "fixed64", "sfixed64"].includes(field.type)) return numberOf(value)
  return value
}

/** The JSON form of a protobuf request body, or a 415 naming what kube-fake cannot read. */
export const decodeProtobuf = (body: Buffer): Record<string, unknown> => {
  if (body.length < magic.length || !body.subarray(0, magic.length).equals(magic))
    throw new ApiError(400, "BadRequest", "the protobuf body does not start with the Kubernetes magic k8s\\0")
  const types = definitions()
  const unknown = types.lookupType("k8s.io.apimachinery.pkg.runtime.Unknown").decode(body.subarray(magic.length)) as unknown as {
    typeMeta?: { apiVersion?: string; kind?: string }
    raw?: Uint8Array
  }
  const apiVersion = unknown.typeMeta?.apiVersion ?? ""
  const kind = unknown.typeMeta?.kind ?? ""
  const pkg = packages[apiVersion]
  const type = pkg === undefined ? null : types.lookup(`${pkg}.${kind}`)
  if (!(type instanceof protobuf.Type))
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: application/json (kube-fake reads protobuf for ${Object.keys(packages).join(", ")}; not ${apiVersion} ${kind})`
    )
  const message = type.decode(unknown.raw ?? new Uint8Array()) as unknown as Record<string, unknown>
  return { apiVersion, kind, ...toJson(type, message) }
}
