import {
  ApiError,
  type FieldCause,
  fieldDuplicate,
  fieldInvalid,
  fieldNotFound,
  fieldRequired,
  fieldTooLong,
  fieldTooMany,
  fieldUnsupported,
  invalid
} from "./ApiError.ts"
import { isRecord, type KubeObject } from "./KubeObject.ts"
import { generateNameProblems, isConfigMapKey, isDns1123Label, isLabelValue, isQualifiedName, nameProblems } from "./Names.ts"
import type { ResourceType } from "./Resources.ts"

export const badRequest = (message: string) => new ApiError(400, "BadRequest", message)

const jsonType = (value: unknown) =>
  value === null
    ? "null"
    : Array.isArray(value)
      ? "array"
      : typeof value === "object"
        ? "object"
        : typeof value === "boolean"
          ? "bool"
          : typeof value

/**
 * Field types the real server's JSON decoder enforces before any validation: a wrong one is a
 * 400, worded as the decoder words it.
 */
export const checkShapes = (type: ResourceType, object: KubeObject) => {
  const wrong = (field: string, value: unknown, goType: string) =>
    new ApiError(
      400,
      "BadRequest",
      `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: json: cannot unmarshal ${jsonType(value)} into Go struct field ${field} of type ${goType}`
    )
  const metadata = object.metadata as Record<string, unknown>
  for (const field of ["name", "generateName", "namespace", "resourceVersion", "uid"])
    if (metadata[field] !== undefined && metadata[field] !== null && typeof metadata[field] !== "string")
      throw wrong(`ObjectMeta.metadata.${field}`, metadata[field], "string")
  const stringMap = (value: unknown, field: string) => {
    if (value === undefined || value === null) return
    if (!isRecord(value)) throw wrong(field, value, "map[string]string")
    for (const entry of Object.values(value)) if (typeof entry !== "string") throw wrong(field, entry, "string")
  }
  stringMap(metadata.labels, "ObjectMeta.metadata.labels")
  stringMap(metadata.annotations, "ObjectMeta.metadata.annotations")
  if (metadata.finalizers !== undefined && metadata.finalizers !== null) {
    if (!Array.isArray(metadata.finalizers)) throw wrong("ObjectMeta.metadata.finalizers", metadata.finalizers, "[]string")
    for (const entry of metadata.finalizers) if (typeof entry !== "string") throw wrong("ObjectMeta.metadata.finalizers", entry, "string")
  }
  if (metadata.ownerReferences !== undefined && metadata.ownerReferences !== null) {
    if (!Array.isArray(metadata.ownerReferences))
      throw wrong("ObjectMeta.metadata.ownerReferences", metadata.ownerReferences, "[]v1.OwnerReference")
    for (const reference of metadata.ownerReferences) {
      if (!isRecord(reference)) throw wrong("ObjectMeta.metadata.ownerReferences", reference, "v1.OwnerReference")
      for (const field of ["apiVersion", "kind", "name", "uid"])
        if (reference[field] !== undefined && typeof reference[field] !== "string")
          throw wrong(`OwnerReference.metadata.ownerReferences.${field}`, reference[field], "string")
    }
  }
  for (const field of ["spec", "status"])
    if (object[field] !== undefined && object[field] !== null && !isRecord(object[field]))
      throw wrong(`${type.kind}.${field}`, object[field], "object")
  if (type.kind === "ConfigMap") {
    stringMap(object.data, "ConfigMap.data")
    stringMap(object.binaryData, "ConfigMap.binaryData")
  }
}

const annotationsLimit = 256 * 1024
const configMapLimit = 1024 * 1024

/** The metadata rules every kind shares: its name rule, generateName, labels, annotations. */
const metadataCauses = (type: ResourceType, object: KubeObject): Array<FieldCause> => {
  const causes: Array<FieldCause> = []
  const { name, generateName, labels, annotations } = object.metadata
  if (!name && !generateName) causes.push(fieldRequired("metadata.name", "name or generateName is required"))
  if (generateName)
    for (const message of generateNameProblems(type.nameRule, generateName))
      causes.push(fieldInvalid("metadata.generateName", generateName, message))
  if (name) for (const message of nameProblems[type.nameRule](name)) causes.push(fieldInvalid("metadata.name", name, message))
  for (const [key, value] of Object.entries(labels ?? {})) {
    for (const message of isQualifiedName(key)) causes.push(fieldInvalid("metadata.labels", key, message))
    for (const message of isLabelValue(value)) causes.push(fieldInvalid("metadata.labels", value, message))
  }
  let annotationBytes = 0
  for (const [key, value] of Object.entries(annotations ?? {})) {
    for (const message of isQualifiedName(key.toLowerCase())) causes.push(fieldInvalid("metadata.annotations", key, message))
    annotationBytes += Buffer.byteLength(key) + Buffer.byteLength(value)
  }
  if (annotationBytes > annotationsLimit) causes.push(fieldTooLong("metadata.annotations", annotationsLimit))
  return causes
}

/** What each kind adds, where kubelan, kubectl or the simulator depend on it. */
const kindCauses = (type: ResourceType, object: KubeObject, previous: KubeObject | undefined): Array<FieldCause> => {
  const causes: Array<FieldCause> = []
  if (type.kind === "EndpointSlice") {
    const addressType = object.addressType
    if (addressType === undefined) causes.push(fieldRequired("addressType"))
    else if (addressType !== "IPv4" && addressType !== "IPv6" && addressType !== "FQDN")
      causes.push(fieldUnsupported("addressType", addressType, ["FQDN", "IPv4", "IPv6"]))
    if (previous !== undefined && previous.addressType !== addressType)
      causes.push(fieldInvalid("addressType", addressType, "field is immutable"))
    const endpoints = object.endpoints
    if (endpoints !== undefined && endpoints !== null && !Array.isArray(endpoints))
      causes.push(fieldInvalid("endpoints", jsonType(endpoints), "must be a list"))
    if (Array.isArray(endpoints)) {
      if (endpoints.length > 1000) causes.push(fieldTooMany("endpoints", endpoints.length, 1000))
      endpoints.forEach((endpoint, index) => {
        const addresses = isRecord(endpoint) ? endpoint.addresses : undefined
        if (!Array.isArray(addresses) || addresses.length === 0)
          causes.push(fieldRequired(`endpoints[${index}].addresses`, "must contain at least 1 address"))
        else if (addresses.length > 100) causes.push(fieldTooMany(`endpoints[${index}].addresses`, addresses.length, 100))
      })
    }
  }
  if (type.kind === "Pod") causes.push(...podSpecCauses(object.spec, "spec"))
  if (type.kind === "Service") causes.push(...serviceCauses(object.spec))
  if (type.kind === "StatefulSet" || type.kind === "Deployment" || type.kind === "ReplicaSet") {
    const spec = isRecord(object.spec) ? object.spec : {}
    if (!isRecord(spec.selector)) causes.push(fieldRequired("spec.selector"))
    if (!isRecord(spec.template)) causes.push(fieldRequired("spec.template"))
    else causes.push(...podSpecCauses(spec.template.spec, "spec.template.spec"))
  }
  if (type.kind === "ConfigMap") {
    let bytes = 0
    for (const field of ["data", "binaryData"] as const) {
      const entries = isRecord(object[field]) ? Object.entries(object[field] as Record<string, string>) : []
      for (const [key, value] of entries) {
        for (const message of isConfigMapKey(key)) causes.push(fieldInvalid(`${field}[${key}]`, key, message))
        bytes += Buffer.byteLength(key) + Buffer.byteLength(value)
      }
    }
    if (bytes > configMapLimit) causes.push(fieldTooLong("data", configMapLimit))
  }
  return causes
}

const inPortRange = (value: unknown) => typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535

/** A Service's ports as ValidateService checks them: numbers in range, known protocols, ports required unless headless. */
const serviceCauses = (spec: unknown): ReadonlyArray<FieldCause> => {
  const causes: Array<FieldCause> = []
  if (!isRecord(spec) || spec.type === "ExternalName") return causes
  const ports = Array.isArray(spec.ports) ? spec.ports : []
  if (ports.length === 0 && spec.clusterIP !== "None") causes.push(fieldRequired("spec.ports"))
  ports.forEach((port, index) => {
    if (!isRecord(port)) return
    const at = `spec.ports[${index}]`
    if (!inPortRange(port.port)) causes.push(fieldInvalid(`${at}.port`, port.port, "must be between 1 and 65535, inclusive"))
    if (port.protocol !== "TCP" && port.protocol !== "UDP" && port.protocol !== "SCTP")
      causes.push(fieldUnsupported(`${at}.protocol`, port.protocol, ["SCTP", "TCP", "UDP"]))
    if (typeof port.targetPort === "number" && !inPortRange(port.targetPort))
      causes.push(fieldInvalid(`${at}.targetPort`, port.targetPort, "must be between 1 and 65535, inclusive"))
  })
  return causes
}

/**
 * A pod spec's names as the real server holds them: containers, init containers and volumes
 * named by DNS-1123 labels, container names unique across both lists, every volumeMount naming a
 * volume, and an init container's restartPolicy only `Always` (a native sidecar). The kubelet
 * makes files from them.
 */
const podSpecCauses = (spec: unknown, at: string): ReadonlyArray<FieldCause> => {
  const causes: Array<FieldCause> = []
  const containers = isRecord(spec) ? spec.containers : undefined
  if (!Array.isArray(containers) || containers.length === 0) return [fieldRequired(`${at}.containers`)]
  const initContainers = isRecord(spec) && Array.isArray(spec.initContainers) ? spec.initContainers : []
  const volumes = isRecord(spec) && Array.isArray(spec.volumes) ? spec.volumes : []
  const names = (entries: ReadonlyArray<unknown>, field: string, seen = new Set<string>()) => {
    entries.forEach((entry, index) => {
      const name = isRecord(entry) ? entry.name : undefined
      if (typeof name !== "string" || name === "") {
        causes.push(fieldRequired(`${field}[${index}].name`))
        return
      }
      for (const message of isDns1123Label(name)) causes.push(fieldInvalid(`${field}[${index}].name`, name, message))
      if (seen.has(name)) causes.push(fieldDuplicate(`${field}[${index}].name`, name))
      seen.add(name)
    })
    return seen
  }
  const volumeNames = names(volumes, `${at}.volumes`)
  const containerNames = names(initContainers, `${at}.initContainers`)
  names(containers, `${at}.containers`, containerNames)
  const mountCauses = (list: ReadonlyArray<unknown>, field: string) =>
    list.forEach((container, index) => {
      const mounts = isRecord(container) && Array.isArray(container.volumeMounts) ? container.volumeMounts : []
      mounts.forEach((mount, mountIndex) => {
        const name = isRecord(mount) ? mount.name : undefined
        if (typeof name === "string" && !volumeNames.has(name))
          causes.push(fieldNotFound(`${field}[${index}].volumeMounts[${mountIndex}].name`, name))
      })
    })
  mountCauses(initContainers, `${at}.initContainers`)
  mountCauses(containers, `${at}.containers`)
  initContainers.forEach((container, index) => {
    const policy = isRecord(container) ? container.restartPolicy : undefined
    if (policy !== undefined && policy !== "Always")
      causes.push(fieldUnsupported(`${at}.initContainers[${index}].restartPolicy`, policy, ["Always"]))
  })
  return causes
}

/** Checks as the real server makes them: wrong types are 400 BadRequest, rule violations 422 Invalid. */
export const validate = (type: ResourceType, object: KubeObject, previous: KubeObject | undefined): void => {
  checkShapes(type, object)
  const causes = [...metadataCauses(type, object), ...kindCauses(type, object, previous)]
  if (causes.length > 0) throw invalid(type.kind, type.group, object.metadata.name ?? object.metadata.generateName ?? "", causes)
}
