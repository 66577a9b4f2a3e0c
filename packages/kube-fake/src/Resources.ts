import type { NameRule } from "./Names.ts"
import { podSummary } from "./PodSummary.ts"

export interface Column {
  readonly name: string
  readonly path?: ReadonlyArray<string>
  readonly value?: (object: Record<string, unknown>) => unknown
  readonly wide?: boolean
  /** Where the column stands: before the Age column (default) or after it. */
  readonly afterAge?: boolean
}

const podColumns: ReadonlyArray<Column> = [
  { name: "Ready", value: (pod) => podSummary(pod).ready },
  { name: "Status", value: (pod) => podSummary(pod).status },
  { name: "Restarts", value: (pod) => podSummary(pod).restarts },
  { name: "IP", path: ["status", "podIP"], wide: true, afterAge: true },
  { name: "Node", path: ["spec", "nodeName"], wide: true, afterAge: true }
]

type NodeView = {
  status?: {
    conditions?: Array<{ type?: string; status?: string }>
    nodeInfo?: { kubeletVersion?: string }
    addresses?: Array<{ type?: string; address?: string }>
  }
  spec?: { unschedulable?: boolean }
  metadata?: { labels?: Record<string, string> }
}
const nodeColumns: ReadonlyArray<Column> = [
  {
    name: "Status",
    value: (node) => {
      const view = node as NodeView
      const ready = (view.status?.conditions ?? []).find((condition) => condition.type === "Ready")?.status === "True"
      return `${ready ? "Ready" : "NotReady"}${view.spec?.unschedulable ? ",SchedulingDisabled" : ""}`
    }
  },
  {
    name: "Roles",
    value: (node) =>
      Object.keys((node as NodeView).metadata?.labels ?? {})
        .filter((label) => label.startsWith("node-role.kubernetes.io/"))
        .map((label) => label.slice("node-role.kubernetes.io/".length))
        .join(",") || "<none>"
  },
  { name: "Version", path: ["status", "nodeInfo", "kubeletVersion"], afterAge: true },
  {
    name: "Internal-IP",
    value: (node) => (node as NodeView).status?.addresses?.find((address) => address.type === "InternalIP")?.address,
    wide: true,
    afterAge: true
  }
]

/** The kinds kube-fake serves, described once for routing, discovery documents and tables. */
export interface ResourceType {
  /** Which of the real server's name rules this kind's names follow. */
  readonly nameRule: NameRule
  readonly group: string
  readonly version: string
  /** Plural, as in the URL. */
  readonly resource: string
  readonly singular: string
  readonly kind: string
  readonly namespaced: boolean
  readonly shortNames: ReadonlyArray<string>
  /** Subresources served (`status`). */
  readonly subresources: ReadonlyArray<string>
  /** `all` puts a kind in `kubectl get all`. */
  readonly categories: ReadonlyArray<string>
  /**
   * Extra `kubectl get` columns: a header and either a JSON path into the object or a function
   * of it; `wide` columns show only with `-o wide`.
   */
  readonly columns: ReadonlyArray<Column>
}

const resource = (
  group: string,
  version: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  options: {
    shortNames?: Array<string>
    subresources?: Array<string>
    columns?: ResourceType["columns"]
    categories?: Array<string>
    nameRule?: NameRule
  } = {}
): ResourceType => ({
  nameRule: options.nameRule ?? "subdomain",
  group,
  version,
  resource,
  singular: kind.toLowerCase(),
  kind,
  namespaced,
  shortNames: options.shortNames ?? [],
  subresources: options.subresources ?? [],
  categories: options.categories ?? [],
  columns: options.columns ?? []
})

export const resourceTypes: ReadonlyArray<ResourceType> = [
  resource("", "v1", "namespaces", "Namespace", false, {
    nameRule: "label",
    shortNames: ["ns"],
    subresources: ["status"],
    columns: [{ name: "Status", path: ["status", "phase"] }]
  }),
  resource("", "v1", "nodes", "Node", false, { shortNames: ["no"], subresources: ["status"], columns: nodeColumns }),
  resource("", "v1", "services", "Service", true, {
    nameRule: "dns1035",
    shortNames: ["svc"],
    categories: ["all"],
    subresources: ["status"],
    columns: [
      { name: "Type", path: ["spec", "type"] },
      { name: "Cluster-IP", path: ["spec", "clusterIP"] }
    ]
  }),
  resource("", "v1", "pods", "Pod", true, {
    shortNames: ["po"],
    categories: ["all"],
    subresources: ["status"],
    columns: podColumns
  }),
  resource("", "v1", "configmaps", "ConfigMap", true, { shortNames: ["cm"] }),
  resource("", "v1", "serviceaccounts", "ServiceAccount", true, { shortNames: ["sa"], subresources: ["token"] }),
  resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, {
    columns: [{ name: "AddressType", path: ["addressType"] }]
  }),
  resource("apps", "v1", "statefulsets", "StatefulSet", true, {
    shortNames: ["sts"],
    categories: ["all"],
    subresources: ["status", "scale"],
    columns: [
      { name: "Replicas", path: ["spec", "replicas"] },
      { name: "Ready", path: ["status", "readyReplicas"] }
    ]
  }),
  resource("apps", "v1", "deployments", "Deployment", true, {
    shortNames: ["deploy"],
    categories: ["all"],
    subresources: ["status", "scale"],
    columns: [
      { name: "Replicas", path: ["spec", "replicas"] },
      { name: "Ready", path: ["status", "readyReplicas"] }
    ]
  }),
  resource("rbac.authorization.k8s.io", "v1", "roles", "Role", true, { nameRule: "pathSegment" }),
  resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true, { nameRule: "pathSegment" }),
  resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, { nameRule: "pathSegment" }),
  resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false, { nameRule: "pathSegment" }),
  resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, { shortNames: ["netpol"] }),
  // Reviews are asked, not stored: `kubectl auth can-i` creates one and reads its answer.
  resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", false),
  resource("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", false)
]

/** Kinds that only answer a create: nothing of them is kept. */
export const reviewResources = new Set(["selfsubjectaccessreviews", "subjectaccessreviews"])

export const groupVersion = (type: ResourceType) => (type.group === "" ? type.version : `${type.group}/${type.version}`)

export const findResource = (group: string, version: string, name: string) =>
  resourceTypes.find((type) => type.group === group && type.version === version && type.resource === name)

export const verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
