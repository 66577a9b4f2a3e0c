/** A `v1 Status` failure: every error kube-fake returns is one, as the real server's are. */
type Details = {
  readonly name?: string
  readonly group?: string
  readonly kind?: string
  readonly causes?: ReadonlyArray<{ field: string; message: string; reason: string }>
  readonly retryAfterSeconds?: number
}

export class ApiError extends Error {
  readonly code: number
  readonly reason: string
  readonly details: Details | undefined

  constructor(code: number, reason: string, message: string, details?: Details) {
    super(message)
    this.code = code
    this.reason = reason
    this.details = details
  }

  toStatus() {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      // The core group is "", which the real server omits.
      ...(this.details === undefined ? {} : { details: withoutEmptyGroup(this.details) }),
      code: this.code
    }
  }
}

/** As the real server words it: the plural resource, qualified by its group (`statefulsets.apps "web" not found`). */
export const notFound = (resource: string, group: string, name: string) =>
  new ApiError(404, "NotFound", `${resource}${group === "" ? "" : `.${group}`} "${name}" not found`, {
    name,
    group,
    kind: resource
  })

/** One field's problem, as the real server's field.Error: the message is its ErrorBody. */
export interface FieldCause {
  readonly field: string
  readonly message: string
  readonly reason: string
}

/** Go's %q for the values kube-fake reports (strings, numbers, booleans). */
const quoted = (value: unknown) => (typeof value === "string" ? JSON.stringify(value) : String(value))

export const fieldInvalid = (field: string, value: unknown, detail: string): FieldCause => ({
  field,
  message: `Invalid value: ${quoted(value)}: ${detail}`,
  reason: "FieldValueInvalid"
})
export const fieldRequired = (field: string, detail = ""): FieldCause => ({
  field,
  message: `Required value${detail === "" ? "" : `: ${detail}`}`,
  reason: "FieldValueRequired"
})
export const fieldUnsupported = (field: string, value: unknown, supported: ReadonlyArray<string>): FieldCause => ({
  field,
  message: `Unsupported value: ${quoted(value)}: supported values: ${supported.map((entry) => JSON.stringify(entry)).join(", ")}`,
  reason: "FieldValueNotSupported"
})
export const fieldTooMany = (field: string, count: number, most: number): FieldCause => ({
  field,
  message: `Too many: ${count}: must have at most ${most} items`,
  reason: "FieldValueTooMany"
})
export const fieldDuplicate = (field: string, value: unknown): FieldCause => ({
  field,
  message: `Duplicate value: ${quoted(value)}`,
  reason: "FieldValueDuplicate"
})
export const fieldNotFound = (field: string, value: unknown): FieldCause => ({
  field,
  message: `Not found: ${quoted(value)}`,
  reason: "FieldValueNotFound"
})
export const fieldTooLong = (field: string, most: number): FieldCause => ({
  field,
  message: `Too long: may not be more than ${most} bytes`,
  reason: "FieldValueTooLong"
})

/** 422, worded as the real server: one problem as is, several in brackets. */
export const invalid = (kind: string, group: string, name: string, causes: ReadonlyArray<FieldCause>) => {
  const listed = causes.map((cause) => `${cause.field}: ${cause.message}`)
  return new ApiError(
    422,
    "Invalid",
    `${kind}${group === "" ? "" : `.${group}`} "${name}" is invalid: ${listed.length === 1 ? listed[0] : `[${listed.join(", ")}]`}`,
    { name, group, kind, causes }
  )
}

const withoutEmptyGroup = (details: Details): Details => {
  if (details.group !== "") return details
  const { group: _, ...rest } = details
  return rest
}
