/**
 * Differences between kube-fake and kube-apiserver that stay, each with its reason. The README
 * lists the same (a test keeps the two in step); a difference not here fails the suite.
 */
export const accepted: ReadonlyMap<string, string> = new Map([
  [
    "kubectl get statefulset,service,configmap,role (the table)",
    "kube-apiserver's table for RBAC Roles has a CREATED AT column (a timestamp); kube-fake prints the generic AGE column. Cosmetic."
  ],
  [
    "auth can-i --list, as the kubelan ServiceAccount",
    "kube-fake does not serve SelfSubjectRulesReview to a ServiceAccount (it has no system:basic-user bootstrap role); `auth can-i VERB RESOURCE` (SelfSubjectAccessReview), which the tests and users ask, agrees."
  ],
  [
    "watch from a compacted resourceVersion: one ERROR event, 410 Expired",
    "kube-apiserver's watch cache holds every event since it started until it fills, so resourceVersion 2 is still served; kube-fake's history is bounded (50 events here) and past it answers 410 Expired as the watch cache does past its window."
  ],
  [
    "kubectl explain statefulset.spec.podManagementPolicy",
    "kube-fake serves the OpenAPI v3 files checked into k8s.io/kubernetes v1.32.0, which lack the enum lists the live server derives from +enum markers: explain shows no ENUM section."
  ]
])
