import type { KubeObject, Store } from "@kubelan/kube-fake"
import { controllerRef, isPodReady, kind, list, ownedBy, specOf, startWorkloadController, statusOf, templateHash } from "../Api.ts"

/**
 * Deployments, enough for the deploy/ examples: `replicas` pods named
 * `<deployment>-<template hash>-<random>`, owned by the Deployment itself (no ReplicaSets);
 * a changed template replaces every pod.
 */
const reconcile = (store: Store, deployment: KubeObject) => {
  const namespace = deployment.metadata.namespace as string
  const replicas = typeof specOf(deployment).replicas === "number" ? (specOf(deployment).replicas as number) : 1
  const hash = templateHash(specOf(deployment).template)
  const template = (specOf(deployment).template ?? {}) as { metadata?: { labels?: Record<string, string> }; spec?: Record<string, unknown> }
  const pods = list(store, "pods", namespace).filter((pod) => ownedBy(pod, deployment) && !pod.metadata.deletionTimestamp)
  const [current, stale] = [
    pods.filter((pod) => pod.metadata.labels?.["pod-template-hash"] === hash),
    pods.filter((pod) => pod.metadata.labels?.["pod-template-hash"] !== hash)
  ]
  for (const pod of stale) store.delete(kind("pods"), namespace, pod.metadata.name as string)
  for (const pod of current.slice(replicas)) store.delete(kind("pods"), namespace, pod.metadata.name as string)
  for (let i = current.length; i < replicas; i++)
    store.create(kind("pods"), namespace, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        // As the ReplicaSet controller does: the server adds the random suffix.
        generateName: `${deployment.metadata.name}-${hash.slice(0, 9)}-`,
        labels: { ...(template.metadata?.labels ?? {}), "pod-template-hash": hash },
        ownerReferences: [controllerRef(deployment)]
      },
      spec: template.spec ?? {}
    })
  const ready = current.filter(isPodReady).length
  const status = {
    observedGeneration: deployment.metadata.generation,
    replicas: Math.min(current.length, replicas),
    readyReplicas: ready,
    availableReplicas: ready,
    updatedReplicas: Math.min(current.length, replicas)
  }
  if (JSON.stringify(statusOf(deployment)) !== JSON.stringify(status))
    store.update(kind("deployments"), namespace, deployment.metadata.name as string, { ...deployment, status }, "status")
}

export const startDeploymentController = (store: Store) => startWorkloadController(store, "deployments", reconcile)
