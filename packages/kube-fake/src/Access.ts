import type { IncomingHttpHeaders } from "node:http"
import { ApiError } from "./ApiError.ts"
import { isRecord } from "./KubeObject.ts"
import { adminUser, authorize, forbiddenMessage, type Policy, type RequestAttributes, serviceAccountUser, type UserInfo } from "./Rbac.ts"
import { findResource, type ResourceType } from "./Resources.ts"
import type { ApiPath } from "./Router.ts"
import type { Store } from "./Store.ts"
import type { TokenIssuer } from "./Tokens.ts"

/**
 * Who is asking and whether they may. The plain listeners (loopback, the Unix socket) serve the
 * cluster's admin, as the API server's old insecure port did: kubectl, the simulator, tests. The
 * TLS listener, which pods reach, serves whoever the bearer token says, under RBAC; no token
 * there is `system:anonymous`.
 */

const typeOf = (group: string, resource: string): ResourceType => {
  const type = findResource(group, "v1", resource)
  if (type === undefined) throw new Error(`kube-fake serves no ${resource}`)
  return type
}
const all = (store: Store, group: string, resource: string) =>
  store.list({ resource: typeOf(group, resource), namespace: undefined, labels: [], fields: [] }).items

const anonymous: UserInfo = { username: "system:anonymous", groups: ["system:unauthenticated"] }

const unauthorized = () => new ApiError(401, "Unauthorized", "Unauthorized")

/** The user a request acts as: its credentials, then any impersonation the admin asked for. */
export const authenticate = (headers: IncomingHttpHeaders, secure: boolean, tokens: TokenIssuer, store: Store): UserInfo => {
  const authorization = headers.authorization
  let user: UserInfo
  if (authorization === undefined) user = secure ? anonymous : adminUser
  else {
    const token = /^Bearer (\S+)$/i.exec(authorization)?.[1]
    const claims = token === undefined ? undefined : tokens.verify(token)
    if (claims === undefined) throw unauthorized()
    // A token outlives nothing it names: its ServiceAccount must still exist, the same one.
    const account = all(store, "", "serviceaccounts").find(
      (candidate) => candidate.metadata.namespace === claims.namespace && candidate.metadata.name === claims.serviceAccount.name
    )
    if (account === undefined || account.metadata.uid !== claims.serviceAccount.uid) throw unauthorized()
    user = serviceAccountUser(claims.namespace, claims.serviceAccount.name)
  }
  const impersonated = headers["impersonate-user"]
  if (typeof impersonated !== "string") return user
  if (!user.groups.includes("system:masters"))
    throw new ApiError(
      403,
      "Forbidden",
      `users "${impersonated}" is forbidden: User "${user.username}" cannot impersonate resource "users" in API group "" at the cluster scope`
    )
  const account = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(impersonated)
  const base = account
    ? serviceAccountUser(account[1] as string, account[2] as string)
    : { username: impersonated, groups: ["system:authenticated"] }
  const groups = headers["impersonate-group"]
  const extra = groups === undefined ? [] : Array.isArray(groups) ? groups : [groups]
  return { username: base.username, groups: [...new Set([...base.groups, ...extra])] }
}

/** The RBAC objects as the store holds them now. */
export const policyOf = (store: Store): Policy => ({
  roles: all(store, "rbac.authorization.k8s.io", "roles"),
  roleBindings: all(store, "rbac.authorization.k8s.io", "rolebindings"),
  clusterRoles: all(store, "rbac.authorization.k8s.io", "clusterroles"),
  clusterRoleBindings: all(store, "rbac.authorization.k8s.io", "clusterrolebindings")
})

/** What a request asks to do, in RBAC's terms. */
export const attributesOf = (method: string, path: string, target: ApiPath | undefined, query: URLSearchParams): RequestAttributes => {
  if (target?.kind !== "resource")
    return { kind: "nonResource", verb: method === "GET" || method === "HEAD" ? "get" : method.toLowerCase(), path }
  const { type, namespace, name, subresource } = target
  const watching = query.get("watch") === "true" || query.get("watch") === "1"
  const verb =
    method === "GET" || method === "HEAD"
      ? name === undefined
        ? watching
          ? "watch"
          : "list"
        : "get"
      : method === "POST"
        ? "create"
        : method === "PUT"
          ? "update"
          : method === "PATCH"
            ? "patch"
            : method === "DELETE"
              ? name === undefined
                ? "deletecollection"
                : "delete"
              : method.toLowerCase()
  return { kind: "resource", verb, group: type.group, resource: type.resource, subresource, namespace, name }
}

/** Refuses what the user may not do, with the real server's 403. */
export const requireAllowed = (store: Store, user: UserInfo, attributes: RequestAttributes) => {
  if (authorize(policyOf(store), user, attributes).allowed) return
  const details =
    attributes.kind === "resource"
      ? { ...(attributes.name === undefined ? {} : { name: attributes.name }), group: attributes.group, kind: attributes.resource }
      : undefined
  throw new ApiError(403, "Forbidden", forbiddenMessage(user, attributes), details)
}

const resourceAttributes = (spec: Record<string, unknown>): RequestAttributes | undefined => {
  const resource = spec.resourceAttributes
  if (isRecord(resource))
    return {
      kind: "resource",
      verb: String(resource.verb ?? ""),
      group: String(resource.group ?? ""),
      resource: String(resource.resource ?? ""),
      subresource: typeof resource.subresource === "string" && resource.subresource !== "" ? resource.subresource : undefined,
      namespace: typeof resource.namespace === "string" && resource.namespace !== "" ? resource.namespace : undefined,
      name: typeof resource.name === "string" && resource.name !== "" ? resource.name : undefined
    }
  const nonResource = spec.nonResourceAttributes
  if (isRecord(nonResource)) return { kind: "nonResource", verb: String(nonResource.verb ?? ""), path: String(nonResource.path ?? "") }
  return undefined
}

/**
 * A SelfSubjectAccessReview (for the caller) or SubjectAccessReview (for the user it names),
 * answered as `kubectl auth can-i` reads it: the review with its status filled in.
 */
export const reviewAccess = (store: Store, caller: UserInfo, body: unknown, self: boolean) => {
  if (!isRecord(body) || !isRecord(body.spec)) throw new ApiError(400, "BadRequest", "the review needs a spec")
  const spec = body.spec
  const attributes = resourceAttributes(spec)
  if (attributes === undefined)
    throw new ApiError(
      422,
      "Invalid",
      `${self ? "SelfSubjectAccessReview" : "SubjectAccessReview"}.authorization.k8s.io "" is invalid: spec: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified`
    )
  let subject = caller
  if (!self) {
    if (typeof spec.user !== "string" && !Array.isArray(spec.groups))
      throw new ApiError(
        422,
        "Invalid",
        `SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified`
      )
    const account = typeof spec.user === "string" ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(spec.user) : null
    const groups = Array.isArray(spec.groups) ? spec.groups.filter((group): group is string => typeof group === "string") : []
    subject = account
      ? {
          ...serviceAccountUser(account[1] as string, account[2] as string),
          groups: [...serviceAccountUser(account[1] as string, account[2] as string).groups, ...groups]
        }
      : { username: String(spec.user ?? ""), groups }
  }
  const decision = authorize(policyOf(store), subject, attributes)
  return {
    kind: self ? "SelfSubjectAccessReview" : "SubjectAccessReview",
    apiVersion: "authorization.k8s.io/v1",
    metadata: { creationTimestamp: null },
    spec,
    status: { allowed: decision.allowed, ...(decision.reason === "" ? {} : { reason: decision.reason }) }
  }
}
