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

/** The kinds kube-fake decodes: apiVersion → proto package. */
const packages: Readonly<Record<string, string>> = {
  "authorization.k8s.io/v1": "k8s.io.api.authorization.v1"
}
const files = ["k8s.io/api/authorization/v1/generated.proto"]

let root: protobuf.Root | undefined
const definitions = () => {
  if (root !== undefined) return root
  const loaded = new protobuf.Root()
  loaded.resolvePath = (_origin, target) => `${protoRoot}${target}`
  loaded.loadSync(files, { keepCase: true })
  root = loaded
  return loaded
}

export const isProtobuf = (contentType: string | undefined) => /application\/vnd\.kubernetes\.protobuf/.test(contentType ?? "")

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
      `the body of the request was in an unknown format - accepted media types include: application/json (kube-fake reads protobuf only for ${Object.keys(packages).join(", ")})`
    )
  const object = type.toObject(type.decode(unknown.raw ?? new Uint8Array()), { defaults: false, arrays: false, longs: Number }) as Record<
    string,
    unknown
  >
  return { apiVersion, kind, ...object }
}
