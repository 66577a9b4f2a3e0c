import { isRecord, type KubeObject } from "./KubeObject.ts"
import { generatedName } from "./Names.ts"

export const serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

/**
 * What the real server's default admission plugins add to a pod on create, so that a pod read
 * back from kube-fake is the pod a cluster would run: ServiceAccount (the account's name, and
 * the projected `kube-api-access-*` volume mounted in every container unless automounting is
 * off), Priority (priority 0 without a class), DefaultTolerationSeconds (300 s on not-ready and
 * unreachable nodes).
 */
export const admitPod = (pod: KubeObject, serviceAccount: KubeObject | undefined) => {
  const spec = pod.spec
  if (!isRecord(spec)) return
  if (typeof spec.serviceAccountName !== "string" || spec.serviceAccountName === "") spec.serviceAccountName = "default"
  spec.serviceAccount = spec.serviceAccountName
  const automount =
    spec.automountServiceAccountToken === false
      ? false
      : spec.automountServiceAccountToken === true || serviceAccount?.automountServiceAccountToken !== false
  if (automount) mountToken(spec)
  if (spec.priority === undefined && spec.priorityClassName === undefined) spec.priority = 0
  if (spec.preemptionPolicy === undefined) spec.preemptionPolicy = "PreemptLowerPriority"
  const tolerations = Array.isArray(spec.tolerations) ? spec.tolerations.filter(isRecord) : []
  for (const key of ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]) {
    const tolerated = tolerations.some(
      (toleration) =>
        (toleration.key === key || (toleration.key === undefined && toleration.operator === "Exists")) &&
        (toleration.effect ?? "NoExecute") === "NoExecute"
    )
    if (!tolerated) tolerations.push({ key, operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 })
  }
  spec.tolerations = tolerations
}

const mountToken = (spec: Record<string, unknown>) => {
  const containers = [spec.initContainers, spec.containers].flatMap((list) => (Array.isArray(list) ? list.filter(isRecord) : []))
  const mounts = (container: Record<string, unknown>) =>
    Array.isArray(container.volumeMounts) ? container.volumeMounts.filter(isRecord) : []
  // A pod that mounts something there itself keeps it, as the plugin leaves it.
  if (containers.some((container) => mounts(container).some((mount) => mount.mountPath === serviceAccountMountPath))) return
  const name = generatedName("kube-api-access-")
  const volumes = Array.isArray(spec.volumes) ? spec.volumes : []
  spec.volumes = [
    ...volumes,
    {
      name,
      projected: {
        defaultMode: 420,
        sources: [
          { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
          { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
          { downwardAPI: { items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }] } }
        ]
      }
    }
  ]
  for (const container of containers)
    container.volumeMounts = [...mounts(container), { name, readOnly: true, mountPath: serviceAccountMountPath }]
}
