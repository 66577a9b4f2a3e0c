/**
 * What legitimately differs between two API servers given the same requests: identities and
 * clocks (uids, timestamps, resourceVersions, generated name suffixes, allocated ClusterIPs,
 * tokens). Everything else must be equal.
 */
const timeKeys = new Set([
  "creationTimestamp",
  "deletionTimestamp",
  "lastTransitionTime",
  "lastUpdateTime",
  "lastProbeTime",
  "startTime",
  "time",
  "eventTime",
  "renewTime",
  "acquireTime",
  "expirationTimestamp",
  "endpoints.kubernetes.io/last-change-trigger-time"
])
const dropKeys = new Set(["uid", "resourceVersion", "managedFields", "selfLink"])

/** An object as it would read on any server: the differences above replaced by placeholders. */
export const normaliseObject = (value: unknown, key = ""): unknown => {
  if (Array.isArray(value)) return value.map((item) => normaliseObject(item, key))
  if (typeof value === "object" && value !== null) {
    const object = value as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const [field, inner] of Object.entries(object).sort(([a], [b]) => a.localeCompare(b))) {
      if (dropKeys.has(field)) continue
      if (timeKeys.has(field)) out[field] = inner === undefined || inner === null ? inner : "<time>"
      else if (field === "clusterIP" || field === "clusterIPs") out[field] = Array.isArray(inner) ? inner.map(() => "<ip>") : "<ip>"
      else if (field === "controller-revision-hash") out[field] = "<hash>"
      else if (
        field === "name" &&
        typeof inner === "string" &&
        typeof object.generateName === "string" &&
        /^[a-z0-9]{5}$/.test(inner.slice(object.generateName.length)) &&
        inner.startsWith(object.generateName)
      )
        out[field] = `${object.generateName}<suffix>`
      else if (field === "name" && typeof inner === "string" && /^kube-api-access-[a-z0-9]{5}$/.test(inner))
        out[field] = "kube-api-access-<suffix>"
      else if (field === "continue" && typeof inner === "string" && inner !== "") out[field] = "<token>"
      else out[field] = normaliseObject(inner, field)
    }
    return out
  }
  return value
}

/** kubectl's and the servers' texts with ages, resourceVersions and generated suffixes made neutral. */
export const normaliseText = (text: string) =>
  text
    .replace(/\b(\d+d)?(\d+h)?(\d+m)?(\d+s)?\b(?=\s|$)/g, (match) => (match === "" || /^\d+$/.test(match) ? match : "<age>"))
    .replace(/<invalid>/g, "<age>")
    .replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b/g, "<time>")
    .replace(/kube-api-access-[a-z0-9]{5}\b/g, "kube-api-access-<suffix>")
    .replace(/resource version: \d+ \(\d+\)/g, "resource version: <rv> (<rv>)")
    .replace(/\s+$/gm, "")
