import type { NameRule } from "./Names.ts"
import { podSummary } from "./PodSummary.ts"
import { age } from "./Table.ts"

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

type Workload = {
  spec?: {
    replicas?: number
    template?: { spec?: { containers?: Array<{ name?: string; image?: string }> } }
    selector?: { matchLabels?: Record<string, string> }
  }
  status?: { readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number }
}
const containersOf = (object: Record<string, unknown>) => (object as Workload).spec?.template?.spec?.containers ?? []
const workloadWide: ReadonlyArray<Column> = [
  {
    name: "Containers",
    value: (object) =>
      containersOf(object)
        .map((container) => container.name)
        .join(","),
    wide: true,
    afterAge: true
  },
  {
    name: "Images",
    value: (object) =>
      containersOf(object)
        .map((container) => container.image)
        .join(","),
    wide: true,
    afterAge: true
  },
  {
    name: "Selector",
    value: (object) =>
      Object.entries((object as Workload).spec?.selector?.matchLabels ?? {})
        .map(([key, value]) => `${key}=${value}`)
        .join(",") || "<none>",
    wide: true,
    afterAge: true
  }
]
const readyOf = (object: Record<string, unknown>) =>
  `${(object as Workload).status?.readyReplicas ?? 0}/${(object as Workload).spec?.replicas ?? 1}`

type ServiceView = {
  spec?: {
    type?: string
    clusterIP?: string
    externalIPs?: Array<string>
    ports?: Array<{ port?: number; protocol?: string; nodePort?: number }>
    selector?: Record<string, string>
  }
}
/** PORT(S) as the real printer writes it: `80/TCP`, `80:30080/TCP`, `<none>`. */
const servicePorts = (service: Record<string, unknown>) =>
  ((service as ServiceView).spec?.ports ?? [])
    .map((port) => `${port.port}${port.nodePort ? `:${port.nodePort}` : ""}/${port.protocol ?? "TCP"}`)
    .join(",") || "<none>"

type SliceView = {
  endpoints?: Array<{ addresses?: Array<string> }>
  ports?: Array<{ port?: number }>
}
/** ENDPOINTS as the real printer writes it: the first three addresses, then `+ N more...`. */
const sliceEndpoints = (slice: Record<string, unknown>) => {
  const addresses = ((slice as SliceView).endpoints ?? []).flatMap((endpoint) => endpoint.addresses ?? [])
  if (addresses.length === 0) return "<unset>"
  const shown = addresses.slice(0, 3).join(",")
  return addresses.length > 3 ? `${shown} + ${addresses.length - 3} more...` : shown
}
const slicePorts = (slice: Record<string, unknown>) => {
  const ports = ((slice as SliceView).ports ?? []).map((port) => (port.port === undefined ? "<unset>" : String(port.port)))
  return ports.length === 0 ? "<unset>" : ports.join(",")
}
const dataCount = (object: Record<string, unknown>) =>
  Object.keys((object.data as object | undefined) ?? {}).length + Object.keys((object.binaryData as object | undefined) ?? {}).length

const sliceColumns: ReadonlyArray<Column> = [
  { name: "AddressType", path: ["addressType"] },
  { name: "Ports", value: slicePorts },
  { name: "Endpoints", value: sliceEndpoints }
]

type EventView = {
  metadata?: { name?: string }
  type?: string
  reason?: string
  message?: string
  count?: number
  firstTimestamp?: string
  lastTimestamp?: string
  eventTime?: string
  series?: { count?: number; lastObservedTime?: string }
  involvedObject?: { kind?: string; name?: string; fieldPath?: string }
  source?: { component?: string; host?: string }
  reportingComponent?: string
  reportingInstance?: string
}
const since = (timestamp: string | undefined) => (timestamp === undefined ? "<unknown>" : age(timestamp))
// As kube-apiserver's printEvent (1.32): LAST SEEN is the series' last observation, else the last
// timestamp, else the first; the count shows only in -o wide (`kubectl describe` writes "x3 over").
const firstSeen = (event: EventView) => since(event.firstTimestamp ?? event.eventTime)
const lastSeen = (event: EventView) =>
  event.series?.lastObservedTime !== undefined
    ? since(event.series.lastObservedTime)
    : event.lastTimestamp !== undefined
      ? since(event.lastTimestamp)
      : firstSeen(event)
const eventCount = (event: EventView) => event.series?.count ?? (event.count === undefined || event.count === 0 ? 1 : event.count)
const eventSource = (event: EventView) => {
  const component = event.source?.component || event.reportingComponent || ""
  const instance = event.source?.host || event.reportingInstance || ""
  return instance === "" ? component : `${component}, ${instance}`
}
const eventColumns: ReadonlyArray<Column> = [
  { name: "Last Seen", value: (event) => lastSeen(event as EventView) },
  { name: "Type", path: ["type"] },
  { name: "Reason", path: ["reason"] },
  {
    name: "Object",
    value: (event) =>
      `${((event as EventView).involvedObject?.kind ?? "").toLowerCase()}/${(event as EventView).involvedObject?.name ?? ""}`
  },
  { name: "Subobject", value: (event) => (event as EventView).involvedObject?.fieldPath ?? "", wide: true },
  { name: "Source", value: (event) => eventSource(event as EventView), wide: true },
  { name: "Message", value: (event) => ((event as EventView).message ?? "").trim() },
  { name: "First Seen", value: (event) => firstSeen(event as EventView), wide: true },
  { name: "Count", value: (event) => eventCount(event as EventView), wide: true },
  { name: "Name", value: (event) => (event as EventView).metadata?.name ?? "", wide: true }
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
  /** The columns are the whole table: no Name and Age of kube-fake's own (as Events print). */
  readonly ownColumns: boolean
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
    ownColumns?: boolean
  } = {}
): ResourceType => ({
  ownColumns: options.ownColumns ?? false,
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
      { name: "Cluster-IP", path: ["spec", "clusterIP"] },
      { name: "External-IP", value: (service) => (service as ServiceView).spec?.externalIPs?.join(",") || "<none>" },
      { name: "Port(s)", value: servicePorts },
      {
        name: "Selector",
        value: (service) =>
          Object.entries((service as ServiceView).spec?.selector ?? {})
            .map(([key, value]) => `${key}=${value}`)
            .join(",") || "<none>",
        wide: true,
        afterAge: true
      }
    ]
  }),
  resource("", "v1", "pods", "Pod", true, {
    shortNames: ["po"],
    categories: ["all"],
    subresources: ["status", "log", "exec"],
    columns: podColumns
  }),
  resource("", "v1", "configmaps", "ConfigMap", true, { shortNames: ["cm"], columns: [{ name: "Data", value: dataCount }] }),
  resource("", "v1", "secrets", "Secret", true, {
    columns: [
      { name: "Type", path: ["type"] },
      { name: "Data", value: dataCount }
    ]
  }),
  resource("", "v1", "events", "Event", true, { shortNames: ["ev"], columns: eventColumns, ownColumns: true }),
  resource("", "v1", "serviceaccounts", "ServiceAccount", true, { shortNames: ["sa"], subresources: ["token"] }),
  resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, { columns: sliceColumns }),
  // Served from the v1 objects, converted, for clients of Kubernetes ≤ 1.20 (EndpointSliceV1beta1.ts).
  resource("discovery.k8s.io", "v1beta1", "endpointslices", "EndpointSlice", true, { columns: sliceColumns }),
  resource("apps", "v1", "statefulsets", "StatefulSet", true, {
    shortNames: ["sts"],
    categories: ["all"],
    subresources: ["status", "scale"],
    columns: [{ name: "Ready", value: readyOf }, ...workloadWide.slice(0, 2)]
  }),
  resource("apps", "v1", "deployments", "Deployment", true, {
    shortNames: ["deploy"],
    categories: ["all"],
    subresources: ["status", "scale"],
    columns: [
      { name: "Ready", value: readyOf },
      { name: "Up-to-date", value: (object) => (object as Workload).status?.updatedReplicas ?? 0 },
      { name: "Available", value: (object) => (object as Workload).status?.availableReplicas ?? 0 },
      ...workloadWide
    ]
  }),
  resource("apps", "v1", "replicasets", "ReplicaSet", true, {
    shortNames: ["rs"],
    categories: ["all"],
    subresources: ["status", "scale"],
    columns: [
      { name: "Desired", path: ["spec", "replicas"] },
      { name: "Current", value: (object) => (object.status as { replicas?: number } | undefined)?.replicas ?? 0 },
      { name: "Ready", value: (object) => (object.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0 },
      ...workloadWide
    ]
  }),
  resource("apps", "v1", "controllerrevisions", "ControllerRevision", true, {
    columns: [
      {
        name: "Controller",
        value: (object) => {
          const owner = (object.metadata as { ownerReferences?: Array<{ kind?: string; apiVersion?: string; name?: string }> })
            .ownerReferences?.[0]
          return owner === undefined ? "<none>" : `${owner.kind?.toLowerCase()}.${owner.apiVersion?.split("/")[0]}/${owner.name}`
        }
      },
      { name: "Revision", path: ["revision"] }
    ]
  }),
  resource("rbac.authorization.k8s.io", "v1", "roles", "Role", true, { nameRule: "pathSegment" }),
  resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true, { nameRule: "pathSegment" }),
  resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, { nameRule: "pathSegment" }),
  resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false, { nameRule: "pathSegment" }),
  // The same objects as core/v1 Events, in the newer shape (see EventsView.ts).
  resource("events.k8s.io", "v1", "events", "Event", true, { shortNames: ["ev"], columns: eventColumns, ownColumns: true }),
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
