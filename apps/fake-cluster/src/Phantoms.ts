import type { KubeObject } from "@kubelan/kube-fake"

/**
 * Phantom members: pods that exist in the API (scheduled, Running, Ready, with an address,
 * listed in EndpointSlices) with no namespace and no agent behind them, so a few real agents
 * can follow thousands of members on one machine. Chosen per pod by this annotation, usually
 * on a StatefulSet's pod template.
 */
export const phantomAnnotation = "kubelan-sim/phantom"

export const isPhantom = (pod: KubeObject) => pod.metadata.annotations?.[phantomAnnotation] === "true"
