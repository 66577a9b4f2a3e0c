/** kube-fake with the simulator's controllers, or the real kube-apiserver and kube-controller-manager. */
export const controlPlaneKinds = ["fake", "real"] as const
export type ControlPlaneKind = (typeof controlPlaneKinds)[number]
