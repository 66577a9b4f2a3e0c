import { isRecord, type KubeObject } from "./KubeObject.ts"

/**
 * Kubernetes RBAC as the real authorizer decides it: a request is allowed when a rule of a Role
 * or ClusterRole bound to the user (or one of the user's groups) covers its verb and resource,
 * by a RoleBinding in the request's namespace or by a ClusterRoleBinding. Nothing is denied
 * explicitly; no rule means no. `system:masters` may do anything.
 */

export interface UserInfo {
  readonly username: string
  readonly groups: ReadonlyArray<string>
}

export type RequestAttributes =
  | {
      readonly kind: "resource"
      readonly verb: string
      readonly group: string
      readonly resource: string
      readonly subresource?: string | undefined
      readonly namespace?: string | undefined
      readonly name?: string | undefined
    }
  | { readonly kind: "nonResource"; readonly verb: string; readonly path: string }

/** The RBAC objects the decision reads. */
export interface Policy {
  readonly roles: ReadonlyArray<KubeObject>
  readonly roleBindings: ReadonlyArray<KubeObject>
  readonly clusterRoles: ReadonlyArray<KubeObject>
  readonly clusterRoleBindings: ReadonlyArray<KubeObject>
}

export interface Decision {
  readonly allowed: boolean
  readonly reason: string
}

export const adminUser: UserInfo = { username: "kubernetes-admin", groups: ["system:masters", "system:authenticated"] }

/** A ServiceAccount's identity, as the token authenticator gives it. */
export const serviceAccountUser = (namespace: string, name: string): UserInfo => ({
  username: `system:serviceaccount:${namespace}:${name}`,
  groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"]
})

interface Rule {
  readonly verbs: ReadonlyArray<string>
  readonly apiGroups: ReadonlyArray<string>
  readonly resources: ReadonlyArray<string>
  readonly resourceNames: ReadonlyArray<string>
  readonly nonResourceURLs: ReadonlyArray<string>
}

const strings = (value: unknown): ReadonlyArray<string> =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []

const rulesOf = (role: KubeObject | undefined): ReadonlyArray<Rule> =>
  (Array.isArray(role?.rules) ? role.rules : []).filter(isRecord).map((rule) => ({
    verbs: strings(rule.verbs),
    apiGroups: strings(rule.apiGroups),
    resources: strings(rule.resources),
    resourceNames: strings(rule.resourceNames),
    nonResourceURLs: strings(rule.nonResourceURLs)
  }))

/**
 * What every authenticated user may do in a real cluster's bootstrap policy (system:discovery,
 * system:basic-user, system:public-info-viewer): read the discovery documents and ask what it may do.
 */
const bootstrapRules: ReadonlyArray<Rule> = [
  {
    verbs: ["get"],
    apiGroups: [],
    resources: [],
    resourceNames: [],
    nonResourceURLs: [
      "/api",
      "/api/*",
      "/apis",
      "/apis/*",
      "/version",
      "/version/",
      "/openapi",
      "/openapi/*",
      "/healthz",
      "/livez",
      "/readyz"
    ]
  },
  {
    verbs: ["create"],
    apiGroups: ["authorization.k8s.io"],
    resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    resourceNames: [],
    nonResourceURLs: []
  }
]

const covers = (rule: Rule, attributes: RequestAttributes) => {
  if (!rule.verbs.includes("*") && !rule.verbs.includes(attributes.verb)) return false
  if (attributes.kind === "nonResource")
    return rule.nonResourceURLs.some(
      (url) => url === "*" || url === attributes.path || (url.endsWith("*") && attributes.path.startsWith(url.slice(0, -1)))
    )
  if (!rule.apiGroups.includes("*") && !rule.apiGroups.includes(attributes.group)) return false
  const wanted = attributes.subresource === undefined ? attributes.resource : `${attributes.resource}/${attributes.subresource}`
  const resourceCovered = rule.resources.some(
    (resource) =>
      resource === "*" || resource === wanted || (attributes.subresource !== undefined && resource === `*/${attributes.subresource}`)
  )
  if (!resourceCovered) return false
  return rule.resourceNames.length === 0 || (attributes.name !== undefined && rule.resourceNames.includes(attributes.name))
}

const names = (binding: KubeObject) => ({
  roleKind: isRecord(binding.roleRef) ? binding.roleRef.kind : undefined,
  roleName: isRecord(binding.roleRef) ? binding.roleRef.name : undefined
})

const bindsUser = (binding: KubeObject, user: UserInfo) =>
  (Array.isArray(binding.subjects) ? binding.subjects : []).filter(isRecord).some((subject) => {
    if (subject.kind === "ServiceAccount")
      return (
        user.username === `system:serviceaccount:${String(subject.namespace ?? binding.metadata.namespace ?? "")}:${String(subject.name)}`
      )
    if (subject.kind === "User") return subject.name === user.username
    if (subject.kind === "Group") return typeof subject.name === "string" && user.groups.includes(subject.name)
    return false
  })

/** Decides one request. */
export const authorize = (policy: Policy, user: UserInfo, attributes: RequestAttributes): Decision => {
  if (user.groups.includes("system:masters")) return { allowed: true, reason: "system:masters" }
  if (user.groups.includes("system:authenticated") && bootstrapRules.some((rule) => covers(rule, attributes)))
    return { allowed: true, reason: "allowed by the bootstrap policy for authenticated users" }
  const clusterRole = (name: unknown) => policy.clusterRoles.find((role) => role.metadata.name === name)
  for (const binding of policy.clusterRoleBindings) {
    const { roleKind, roleName } = names(binding)
    if (roleKind !== "ClusterRole" || !bindsUser(binding, user)) continue
    if (rulesOf(clusterRole(roleName)).some((rule) => covers(rule, attributes)))
      return {
        allowed: true,
        reason: `RBAC: allowed by ClusterRoleBinding "${binding.metadata.name}" of ClusterRole "${String(roleName)}"`
      }
  }
  if (attributes.kind === "resource" && attributes.namespace !== undefined) {
    for (const binding of policy.roleBindings) {
      if (binding.metadata.namespace !== attributes.namespace || !bindsUser(binding, user)) continue
      const { roleKind, roleName } = names(binding)
      const role =
        roleKind === "ClusterRole"
          ? clusterRole(roleName)
          : policy.roles.find((candidate) => candidate.metadata.namespace === attributes.namespace && candidate.metadata.name === roleName)
      if (rulesOf(role).some((rule) => covers(rule, attributes)))
        return {
          allowed: true,
          reason: `RBAC: allowed by RoleBinding "${binding.metadata.name}/${attributes.namespace}" of ${String(roleKind)} "${String(roleName)}"`
        }
    }
  }
  return { allowed: false, reason: "" }
}

/** The message the real server's 403 carries. */
export const forbiddenMessage = (user: UserInfo, attributes: RequestAttributes) => {
  if (attributes.kind === "nonResource") return `forbidden: User "${user.username}" cannot ${attributes.verb} path "${attributes.path}"`
  const qualified = attributes.group === "" ? attributes.resource : `${attributes.resource}.${attributes.group}`
  const subject = attributes.name === undefined ? qualified : `${qualified} "${attributes.name}"`
  const resource = attributes.subresource === undefined ? attributes.resource : `${attributes.resource}/${attributes.subresource}`
  const scope = attributes.namespace === undefined ? "at the cluster scope" : `in the namespace "${attributes.namespace}"`
  return `${subject} is forbidden: User "${user.username}" cannot ${attributes.verb} resource "${resource}" in API group "${attributes.group}" ${scope}`
}
