/** A `v1 Status` failure: every error kube-fake returns is one, as the real server's are. */
type Details = {
  readonly name?: string
  readonly group?: string
  readonly kind?: string
  readonly causes?: ReadonlyArray<{ field: string; message: string; reason: string }>
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
      ...(this.details === undefined ? {} : { details: this.details }),
      code: this.code
    }
  }
}

export const notFound = (kind: string, group: string, name: string) =>
  new ApiError(404, "NotFound", `${kind.toLowerCase()}${group === "" ? "" : `.${group}`} "${name}" not found`, {
    name,
    group,
    kind: kind.toLowerCase()
  })

export const invalid = (kind: string, group: string, name: string, causes: ReadonlyArray<{ field: string; message: string }>) =>
  new ApiError(
    422,
    "Invalid",
    `${kind}${group === "" ? "" : `.${group}`} "${name}" is invalid: ${causes.map((cause) => `${cause.field}: ${cause.message}`).join(", ")}`,
    { name, group, kind, causes: causes.map((cause) => ({ ...cause, reason: "FieldValueInvalid" })) }
  )
