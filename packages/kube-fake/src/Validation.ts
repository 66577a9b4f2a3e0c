import { ApiError, invalid } from "./ApiError.ts"
import { isRecord, type KubeObject } from "./KubeObject.ts"
import type { ResourceType } from "./Resources.ts"

/** Checks the real server makes where kubelan or kubectl depend on them; violations are 422 Invalid. */
export const validate = (type: ResourceType, object: KubeObject, previous: KubeObject | undefined): void => {
  const causes: Array<{ field: string; message: string }> = []
  const name = object.metadata.name ?? object.metadata.generateName ?? ""
  if (!object.metadata.name && !object.metadata.generateName)
    causes.push({ field: "metadata.name", message: "Required value: name or generateName is required" })
  if (type.kind === "EndpointSlice") {
    const addressType = object.addressType
    if (addressType === undefined) causes.push({ field: "addressType", message: "Required value" })
    else if (addressType !== "IPv4" && addressType !== "IPv6" && addressType !== "FQDN")
      causes.push({
        field: "addressType",
        message: `Unsupported value: ${JSON.stringify(addressType)}: supported values: "FQDN", "IPv4", "IPv6"`
      })
    if (previous !== undefined && previous.addressType !== addressType)
      causes.push({ field: "addressType", message: `Invalid value: ${JSON.stringify(addressType)}: field is immutable` })
    const endpoints = object.endpoints
    if (endpoints !== undefined && endpoints !== null && !Array.isArray(endpoints))
      causes.push({ field: "endpoints", message: "must be a list" })
    if (Array.isArray(endpoints)) {
      if (endpoints.length > 1000) causes.push({ field: "endpoints", message: "Too many: must have at most 1000 items" })
      endpoints.forEach((endpoint, index) => {
        const addresses = isRecord(endpoint) ? endpoint.addresses : undefined
        if (!Array.isArray(addresses) || addresses.length === 0)
          causes.push({ field: `endpoints[${index}].addresses`, message: "Required value: must contain at least 1 address" })
        else if (addresses.length > 100)
          causes.push({ field: `endpoints[${index}].addresses`, message: "Too many: must have at most 100 items" })
      })
    }
  }
  if (type.kind === "Pod") {
    const containers = isRecord(object.spec) ? object.spec.containers : undefined
    if (!Array.isArray(containers) || containers.length === 0) causes.push({ field: "spec.containers", message: "Required value" })
  }
  if (type.kind === "StatefulSet" || type.kind === "Deployment") {
    const spec = isRecord(object.spec) ? object.spec : {}
    if (!isRecord(spec.selector)) causes.push({ field: "spec.selector", message: "Required value" })
    if (!isRecord(spec.template)) causes.push({ field: "spec.template", message: "Required value" })
  }
  if (causes.length > 0) throw invalid(type.kind, type.group, name, causes)
}

export const badRequest = (message: string) => new ApiError(400, "BadRequest", message)
