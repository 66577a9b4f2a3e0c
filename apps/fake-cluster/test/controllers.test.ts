import { type KubeFakeServer, type KubeObject, startKubeFake } from "@kubelan/kube-fake"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { kind, list, watchKind } from "../src/Api.ts"
import { startDeploymentController } from "../src/controllers/Deployments.ts"
import { startEndpointSliceController } from "../src/controllers/EndpointSlices.ts"
import { startGarbageCollector } from "../src/controllers/GarbageCollector.ts"
import { startReplicaSetController } from "../src/controllers/ReplicaSets.ts"
import { startStatefulSetController } from "../src/controllers/StatefulSets.ts"

/** The controllers against kube-fake in process: no kernel, no kubelet; tests play the kubelet. */
let server: KubeFakeServer
let stops: Array<() => void>
beforeEach(async () => {
  server = await startKubeFake({ gracefulPodDeletion: false })
  stops = [
    startEndpointSliceController(server.store),
    startStatefulSetController(server.store),
    startDeploymentController(server.store),
    startReplicaSetController(server.store),
    startGarbageCollector(server.store)
  ]
})
afterEach(async () => {
  for (const stop of stops) stop()
  await server.close()
})

const store = () => server.store
const eventually = async <A>(what: string, check: () => A | undefined) => {
  for (let i = 0; i < 200; i++) {
    const value = check()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}
const pods = () => list(store(), "pods", "default")
const slices = () => list(store(), "endpointslices", "default")
/** What the kubelet would report: running with an address, ready or not. */
const setPodStatus = (name: string, ip: string, ready: boolean) => {
  const pod = store().get(kind("pods"), "default", name)
  store().update(
    kind("pods"),
    "default",
    name,
    { ...pod, status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: ready ? "True" : "False" }] } },
    "status"
  )
}
const createPod = (name: string, labels: Record<string, string>) =>
  store().create(kind("pods"), "default", { metadata: { name, labels }, spec: { containers: [{ name: "c", image: "x" }] } })
const service = (publishNotReady = false) =>
  store().create(kind("services"), "default", {
    metadata: { name: "lan" },
    spec: {
      clusterIP: "None",
      selector: { app: "lan" },
      publishNotReadyAddresses: publishNotReady,
      ports: [{ name: "vxlan", port: 4789, protocol: "UDP" }]
    }
  })
const endpointsByPod = () =>
  Object.fromEntries(
    slices()
      .flatMap((slice) => (slice.endpoints as Array<{ targetRef: { name: string }; conditions: Record<string, boolean> }>) ?? [])
      .map((endpoint) => [endpoint.targetRef.name, endpoint.conditions])
  )

describe("EndpointSlice controller", () => {
  it("follows the real controller's conventions: naming, labels, owner, ports, at most 100 endpoints per slice", async () => {
    const owner = service()
    for (let i = 0; i < 250; i++) {
      createPod(`p${String(i).padStart(3, "0")}`, { app: "lan" })
      setPodStatus(`p${String(i).padStart(3, "0")}`, `10.0.${i >> 8}.${i & 255}`, true)
    }
    createPod("other", { app: "else" })
    setPodStatus("other", "10.9.9.9", true)
    const made = await eventually("three slices holding 250 endpoints", () => {
      const current = slices()
      return current.reduce((sum, slice) => sum + ((slice.endpoints as Array<unknown>) ?? []).length, 0) === 250 ? current : undefined
    })
    expect(made.map((slice) => (slice.endpoints as Array<unknown>).length).sort()).toEqual([100, 100, 50])
    for (const slice of made) {
      expect(slice.metadata.name).toMatch(/^lan-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
      expect(slice.metadata.generateName).toBe("lan-")
      // The Service is headless: the real controller marks its slices so.
      expect(slice.metadata.labels).toEqual({
        "kubernetes.io/service-name": "lan",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        "service.kubernetes.io/headless": ""
      })
      expect(slice.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Service", name: "lan", uid: owner.metadata.uid, controller: true })
      expect(slice.addressType).toBe("IPv4")
      expect(slice.ports).toEqual([{ name: "vxlan", port: 4789, protocol: "UDP" }])
    }
    const first = (
      made.find((slice) => (slice.endpoints as Array<{ targetRef: { name: string } }>)[0]?.targetRef.name === "p000") as KubeObject
    ).endpoints as Array<Record<string, unknown>>
    expect(first[0]).toMatchObject({
      addresses: ["10.0.0.0"],
      targetRef: { kind: "Pod", name: "p000", namespace: "default" },
      nodeName: "kubelan-sim"
    })
  })

  it("an endpoint stays in the slice that lists it: pods going and coming never make a watcher of the slices miss a member", async () => {
    service()
    const name = (i: number) => `p${String(i).padStart(3, "0")}`
    for (let i = 0; i < 250; i++) {
      createPod(name(i), { app: "lan" })
      setPodStatus(name(i), `10.0.${i >> 8}.${i & 255}`, true)
    }
    await eventually("250 endpoints", () =>
      slices().reduce((sum, slice) => sum + ((slice.endpoints as Array<unknown>) ?? []).length, 0) === 250 ? true : undefined
    )
    const where = () =>
      new Map(
        slices().flatMap((slice) =>
          ((slice.endpoints as Array<{ addresses: Array<string> }>) ?? []).map((endpoint) => [
            endpoint.addresses[0] as string,
            slice.metadata.name as string
          ])
        )
      )
    const before = where()
    // A watcher folding slices as an agent does, checking the union after every event.
    const bySlice = new Map<string, ReadonlyArray<string>>()
    const missed: Array<string> = []
    let live = false
    const stop = watchKind(server.store, "endpointslices", (event) => {
      const addresses = ((event.object.endpoints as Array<{ addresses: Array<string> }>) ?? []).map(
        (endpoint) => endpoint.addresses[0] as string
      )
      if (event.type === "DELETED") bySlice.delete(event.object.metadata.name as string)
      else bySlice.set(event.object.metadata.name as string, addresses)
      const union = new Set([...bySlice.values()].flat())
      if (live) for (const [address] of before) if (Number(address.split(".")[3]) % 7 !== 0 && !union.has(address)) missed.push(address)
    })
    live = true
    stops.push(stop)
    // Every seventh pod goes (so the first slices lose some), then new pods come.
    for (let i = 0; i < 250; i++) if (i % 7 === 0) store().delete(kind("pods"), "default", name(i))
    for (let i = 250; i < 280; i++) {
      createPod(name(i), { app: "lan" })
      setPodStatus(name(i), `10.0.1.${i & 255}`, true)
    }
    const after = await eventually("the new endpoints", () => {
      const now = where()
      return now.size === 250 - 36 + 30 ? now : undefined
    })
    expect(missed).toEqual([])
    for (const [address, slice] of before) if (after.has(address)) expect(after.get(address)).toBe(slice)
    // The freed room is filled before any new slice is made.
    expect(slices().length).toBe(3)
  })

  it("conditions follow pod readiness and deletion; publishNotReadyAddresses makes not-ready pods ready", async () => {
    service()
    createPod("a", { app: "lan" })
    createPod("b", { app: "lan" })
    setPodStatus("a", "10.0.0.1", true)
    setPodStatus("b", "10.0.0.2", false)
    await eventually("two endpoints", () => (Object.keys(endpointsByPod()).length === 2 ? true : undefined))
    expect(endpointsByPod()).toEqual({
      a: { ready: true, serving: true, terminating: false },
      b: { ready: false, serving: false, terminating: false }
    })
    setPodStatus("b", "10.0.0.2", true)
    await eventually("b ready", () => (endpointsByPod().b?.ready ? true : undefined))
    store().delete(kind("pods"), "default", "a")
    await eventually("a gone", () => (endpointsByPod().a === undefined ? true : undefined))
    const published = store().get(kind("services"), "default", "lan")
    store().update(kind("services"), "default", "lan", {
      ...published,
      spec: { ...(published.spec as object), publishNotReadyAddresses: true }
    })
    setPodStatus("b", "10.0.0.2", false)
    await eventually("b published while not ready", () =>
      endpointsByPod().b?.serving === true && endpointsByPod().b?.ready === true ? true : undefined
    )
  })
})

describe("StatefulSet controller", () => {
  const statefulSet = (replicas: number, image = "x") =>
    store().create(kind("statefulsets"), "default", {
      metadata: { name: "web" },
      spec: {
        replicas,
        serviceName: "web",
        selector: { matchLabels: { app: "web" } },
        template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "c", image }] } }
      }
    })
  const names = () =>
    pods()
      .map((pod) => pod.metadata.name)
      .sort()
  const readyAll = () => {
    for (const pod of pods()) if (!pod.status) setPodStatus(pod.metadata.name as string, `10.1.0.${pod.metadata.name?.split("-")[1]}`, true)
  }

  it("creates pods in order, each once the one before is ready, with ordinal names and owner", async () => {
    const set = statefulSet(3)
    await eventually("web-0", () => (names().length === 1 ? true : undefined))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(names()).toEqual(["web-0"])
    const first = pods()[0] as KubeObject
    expect(first.metadata.ownerReferences?.[0]).toMatchObject({ kind: "StatefulSet", name: "web", uid: set.metadata.uid, controller: true })
    expect(first.metadata.labels).toMatchObject({
      app: "web",
      "statefulset.kubernetes.io/pod-name": "web-0",
      "apps.kubernetes.io/pod-index": "0"
    })
    expect(first.spec).toMatchObject({ hostname: "web-0", subdomain: "web" })
    for (const expected of [
      ["web-0", "web-1"],
      ["web-0", "web-1", "web-2"]
    ]) {
      readyAll()
      await eventually(expected.join(","), () => (JSON.stringify(names()) === JSON.stringify(expected) ? true : undefined))
    }
    readyAll()
    await eventually("status", () =>
      (store().get(kind("statefulsets"), "default", "web").status as { readyReplicas?: number })?.readyReplicas === 3 ? true : undefined
    )
  })

  it("scales down from the highest ordinal, and replaces pods whose template changed", async () => {
    statefulSet(3)
    for (let i = 0; i < 3; i++) {
      await eventually(`web-${i}`, () => (names().includes(`web-${i}`) ? true : undefined))
      readyAll()
    }
    const set = store().get(kind("statefulsets"), "default", "web")
    store().update(kind("statefulsets"), "default", "web", { ...set, spec: { ...(set.spec as object), replicas: 1 } })
    await eventually("web-0 only", () => (JSON.stringify(names()) === JSON.stringify(["web-0"]) ? true : undefined))
    const oldUid = pods()[0]?.metadata.uid
    const scaled = store().get(kind("statefulsets"), "default", "web")
    const spec = scaled.spec as { template: { spec: { containers: Array<{ image: string }> } } }
    store().update(kind("statefulsets"), "default", "web", {
      ...scaled,
      spec: { ...spec, template: { ...spec.template, spec: { containers: [{ name: "c", image: "y" }] } } }
    })
    await eventually("web-0 replaced", () => {
      readyAll()
      const pod = pods()[0]
      return pod !== undefined &&
        pod.metadata.uid !== oldUid &&
        (pod.spec as { containers: Array<{ image: string }> }).containers[0]?.image === "y"
        ? true
        : undefined
    })
  })
})

describe("Deployment controller and garbage collection", () => {
  let address = 0
  const readyAll = () => {
    for (const pod of pods()) if (!pod.status) setPodStatus(pod.metadata.name as string, `10.2.0.${++address}`, true)
  }
  const replicaSets = () => list(store(), "replicasets", "default")

  it("keeps replicas pods through a ReplicaSet, rolls a new template within maxSurge and maxUnavailable, and collects dependents", async () => {
    const deployment = store().create(kind("deployments"), "default", {
      metadata: { name: "api" },
      spec: {
        replicas: 4,
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        selector: { matchLabels: { app: "api" } },
        template: { metadata: { labels: { app: "api" } }, spec: { containers: [{ name: "c", image: "x" }] } }
      }
    })
    const first = await eventually("four ready pods", () => {
      readyAll()
      return pods().length === 4 && pods().every((pod) => pod.status) ? pods() : undefined
    })
    const [firstSet] = replicaSets()
    expect(firstSet?.metadata.annotations?.["deployment.kubernetes.io/revision"]).toBe("1")
    expect(
      first.every((pod) => new RegExp(`^${firstSet?.metadata.name}-[bcdfghjklmnpqrstvwxz2456789]{5}$`).test(pod.metadata.name as string))
    ).toBe(true)
    const current = store().get(kind("deployments"), "default", "api")
    const spec = current.spec as { template: { spec: object } }
    store().update(kind("deployments"), "default", "api", {
      ...current,
      spec: { ...spec, template: { ...spec.template, spec: { containers: [{ name: "c", image: "y" }] } } }
    })
    // maxSurge 1, maxUnavailable 0: never more than 5 pods, never fewer than 4 ready.
    let most = 0
    let fewestReady = 4
    await eventually("four new pods", () => {
      const now = pods().filter((pod) => !pod.metadata.deletionTimestamp)
      most = Math.max(most, now.length)
      fewestReady = Math.min(fewestReady, now.filter((pod) => pod.status).length)
      readyAll()
      return now.length === 4 && now.every((pod) => !first.some((old) => old.metadata.uid === pod.metadata.uid)) ? true : undefined
    })
    expect(most).toBe(5)
    expect(fewestReady).toBeGreaterThanOrEqual(4)
    expect(
      replicaSets()
        .map((set) => set.metadata.annotations?.["deployment.kubernetes.io/revision"])
        .sort()
    ).toEqual(["1", "2"])
    const status = await eventually("the rollout complete", () => {
      const now = store().get(kind("deployments"), "default", "api").status as {
        updatedReplicas?: number
        conditions?: Array<{ type: string; reason: string }>
      }
      return now.conditions?.some((condition) => condition.reason === "NewReplicaSetAvailable") ? now : undefined
    })
    expect(status.updatedReplicas).toBe(4)
    store().delete(kind("deployments"), "default", "api")
    await eventually("ReplicaSets and pods collected", () => (pods().length === 0 && replicaSets().length === 0 ? true : undefined))
    expect(deployment.metadata.uid).toBeDefined()
  })
})
