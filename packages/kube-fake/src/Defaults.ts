import { isRecord, type KubeObject } from "./KubeObject.ts"
import type { ResourceType } from "./Resources.ts"

/**
 * The real API server's defaulting (the SetDefaults_* functions of k8s.io/kubernetes/pkg/apis)
 * for the kinds kube-fake serves, applied to every create and update before validation, so
 * objects read back carry what clients such as `kubectl rollout status` expect to find.
 * Only what is unset is filled; nothing a client sent is changed.
 */
export const applyDefaults = (type: ResourceType, object: KubeObject): void => {
  const spec = isRecord(object.spec) ? object.spec : undefined
  switch (type.kind) {
    case "Pod":
      if (spec === undefined) return
      defaultPodSpec(spec)
      fill(spec, "enableServiceLinks", true)
      return
    case "StatefulSet":
      if (spec === undefined) return
      fill(spec, "replicas", 1)
      fill(spec, "podManagementPolicy", "OrderedReady")
      fill(spec, "revisionHistoryLimit", 10)
      fill(spec, "updateStrategy", { type: "RollingUpdate" })
      if (isRecord(spec.updateStrategy) && spec.updateStrategy.type === "RollingUpdate")
        fill(spec.updateStrategy, "rollingUpdate", { partition: 0 })
      fill(spec, "persistentVolumeClaimRetentionPolicy", { whenDeleted: "Retain", whenScaled: "Retain" })
      defaultTemplate(spec)
      return
    case "Deployment":
      if (spec === undefined) return
      fill(spec, "replicas", 1)
      fill(spec, "revisionHistoryLimit", 10)
      fill(spec, "progressDeadlineSeconds", 600)
      fill(spec, "strategy", { type: "RollingUpdate" })
      if (isRecord(spec.strategy) && spec.strategy.type === "RollingUpdate") {
        fill(spec.strategy, "rollingUpdate", {})
        if (isRecord(spec.strategy.rollingUpdate)) {
          fill(spec.strategy.rollingUpdate, "maxUnavailable", "25%")
          fill(spec.strategy.rollingUpdate, "maxSurge", "25%")
        }
      }
      defaultTemplate(spec)
      return
    case "ReplicaSet":
      if (spec === undefined) return
      fill(spec, "replicas", 1)
      defaultTemplate(spec)
      return
    case "Service":
      if (spec === undefined) return
      fill(spec, "type", "ClusterIP")
      fill(spec, "sessionAffinity", "None")
      if (spec.type !== "ExternalName") fill(spec, "internalTrafficPolicy", "Cluster")
      for (const port of records(spec.ports)) {
        fill(port, "protocol", "TCP")
        if (typeof port.port === "number") fill(port, "targetPort", port.port)
      }
      return
    case "Secret":
      fill(object as Record<string, unknown>, "type", "Opaque")
      return
    case "EndpointSlice":
      for (const port of records((object as Record<string, unknown>).ports)) fill(port, "protocol", "TCP")
      return
  }
}

const fill = (object: Record<string, unknown>, key: string, value: unknown) => {
  if (object[key] === undefined || object[key] === null) object[key] = value
}

const records = (value: unknown): Array<Record<string, unknown>> => (Array.isArray(value) ? value.filter(isRecord) : [])

const defaultTemplate = (spec: Record<string, unknown>) => {
  if (!isRecord(spec.template)) return
  // A template's ObjectMeta is a struct whose time has no omitempty: the real server writes null.
  fill(spec.template, "metadata", {})
  if (isRecord(spec.template.metadata) && !("creationTimestamp" in spec.template.metadata)) spec.template.metadata.creationTimestamp = null
  if (isRecord(spec.template.spec)) defaultPodSpec(spec.template.spec)
}

const defaultPodSpec = (spec: Record<string, unknown>) => {
  fill(spec, "restartPolicy", "Always")
  fill(spec, "dnsPolicy", "ClusterFirst")
  fill(spec, "schedulerName", "default-scheduler")
  fill(spec, "terminationGracePeriodSeconds", 30)
  fill(spec, "securityContext", {})
  // The deprecated field, which the server keeps equal to the one that replaced it.
  if (typeof spec.serviceAccountName === "string") fill(spec, "serviceAccount", spec.serviceAccountName)
  for (const container of [...records(spec.initContainers), ...records(spec.containers)]) defaultContainer(container)
  for (const volume of records(spec.volumes))
    for (const source of ["configMap", "secret"] as const) if (isRecord(volume[source])) fill(volume[source], "defaultMode", 420)
}

/** `image:latest` or an untagged image is pulled Always; a tagged or digested one IfNotPresent. */
const pullPolicy = (image: unknown) => {
  if (typeof image !== "string") return "IfNotPresent"
  if (image.includes("@")) return "IfNotPresent"
  const lastPart = image.slice(image.lastIndexOf("/") + 1)
  const tag = lastPart.includes(":") ? lastPart.slice(lastPart.indexOf(":") + 1) : undefined
  return tag === undefined || tag === "latest" ? "Always" : "IfNotPresent"
}

const defaultContainer = (container: Record<string, unknown>) => {
  fill(container, "terminationMessagePath", "/dev/termination-log")
  fill(container, "resources", {})
  fill(container, "terminationMessagePolicy", "File")
  fill(container, "imagePullPolicy", pullPolicy(container.image))
  for (const port of records(container.ports)) fill(port, "protocol", "TCP")
  for (const variable of records(container.env))
    if (isRecord(variable.valueFrom) && isRecord(variable.valueFrom.fieldRef)) fill(variable.valueFrom.fieldRef, "apiVersion", "v1")
  for (const name of ["livenessProbe", "readinessProbe", "startupProbe"]) {
    const probe = container[name]
    if (!isRecord(probe)) continue
    fill(probe, "timeoutSeconds", 1)
    fill(probe, "periodSeconds", 10)
    fill(probe, "successThreshold", 1)
    fill(probe, "failureThreshold", 3)
    if (isRecord(probe.httpGet)) fill(probe.httpGet, "scheme", "HTTP")
  }
}
