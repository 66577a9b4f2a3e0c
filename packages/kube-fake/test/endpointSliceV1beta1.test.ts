import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type KubeFakeServer, startKubeFake } from "../src/index.ts"

/**
 * discovery.k8s.io/v1beta1 EndpointSlices, for clients of Kubernetes ≤ 1.20 (the original
 * kubelan's client-go 0.19 among them): the v1 objects, converted as kube-apiserver 1.21–1.24 did.
 */
let server: KubeFakeServer
beforeEach(async () => {
  server = await startKubeFake({})
})
afterEach(async () => {
  await server?.close()
})

const v1 = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
const v1beta1 = "/apis/discovery.k8s.io/v1beta1/namespaces/default/endpointslices"
const api = async (method: string, path: string, body?: unknown) => {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

/** The first `count` events of a watch, as a client reads them off the stream. */
const watchEvents = async (path: string, count: number) => {
  const abort = new AbortController()
  const response = await fetch(`${server.url}${path}`, { signal: abort.signal })
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ""
  const events: Array<{ type: string; object: Record<string, any> }> = []
  while (events.length < count) {
    const { value, done } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
    const lines = text.split("\n")
    text = lines.pop() ?? ""
    for (const line of lines) if (line.trim() !== "") events.push(JSON.parse(line))
  }
  abort.abort()
  return events
}

describe("discovery.k8s.io/v1beta1 EndpointSlices", () => {
  it("are discovered beside v1, which stays preferred", async () => {
    const groups = await api("GET", "/apis")
    const discovery = groups.body.groups.find((group: { name: string }) => group.name === "discovery.k8s.io")
    expect(discovery.versions.map((version: { version: string }) => version.version)).toEqual(["v1", "v1beta1"])
    expect(discovery.preferredVersion.version).toBe("v1")
    const resources = await api("GET", "/apis/discovery.k8s.io/v1beta1")
    expect(resources.body.resources.map((resource: { name: string }) => resource.name)).toEqual(["endpointslices"])
  })

  it("a v1 slice reads as v1beta1 with its zone, node and deprecated topology in one topology map", async () => {
    const created = await api("POST", v1, {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "lan-1", labels: { "kubernetes.io/service-name": "lan" } },
      addressType: "IPv4",
      endpoints: [
        {
          addresses: ["10.0.0.1"],
          conditions: { ready: true },
          nodeName: "node-0",
          zone: "zone-a",
          deprecatedTopology: { "example.com/rack": "r1" }
        },
        { addresses: ["10.0.0.2"], conditions: { ready: false } }
      ]
    })
    expect(created.status).toBe(201)
    const read = await api("GET", `${v1beta1}/lan-1`)
    expect(read.status).toBe(200)
    expect(read.body.apiVersion).toBe("discovery.k8s.io/v1beta1")
    expect(read.body.endpoints).toEqual([
      {
        addresses: ["10.0.0.1"],
        conditions: { ready: true },
        nodeName: "node-0",
        topology: { "example.com/rack": "r1", "topology.kubernetes.io/zone": "zone-a", "kubernetes.io/hostname": "node-0" }
      },
      { addresses: ["10.0.0.2"], conditions: { ready: false } }
    ])
    const list = await api("GET", `${v1beta1}?labelSelector=${encodeURIComponent("kubernetes.io/service-name=lan")}`)
    expect(list.body.apiVersion).toBe("discovery.k8s.io/v1beta1")
    expect(list.body.kind).toBe("EndpointSliceList")
    expect(list.body.items.map((item: { metadata: { name: string } }) => item.metadata.name)).toEqual(["lan-1"])
  })

  it("a v1beta1 slice is stored as v1: the zone moves to its field, a hostname equal to nodeName leaves the map", async () => {
    const created = await api("POST", v1beta1, {
      apiVersion: "discovery.k8s.io/v1beta1",
      kind: "EndpointSlice",
      metadata: { name: "old-1", labels: { "kubernetes.io/service-name": "lan" } },
      addressType: "IPv4",
      endpoints: [
        {
          addresses: ["10.0.0.3"],
          nodeName: "node-1",
          topology: { "kubernetes.io/hostname": "node-1", "topology.kubernetes.io/zone": "zone-b", "example.com/rack": "r2" }
        }
      ]
    })
    expect(created.status).toBe(201)
    expect(created.body.apiVersion).toBe("discovery.k8s.io/v1beta1")
    const stored = await api("GET", `${v1}/old-1`)
    expect(stored.body.endpoints).toEqual([
      { addresses: ["10.0.0.3"], nodeName: "node-1", zone: "zone-b", deprecatedTopology: { "example.com/rack": "r2" } }
    ])
    const invalid = await api("POST", v1beta1, {
      apiVersion: "discovery.k8s.io/v1beta1",
      kind: "EndpointSlice",
      metadata: { name: "bad" },
      addressType: "IPv4",
      endpoints: [{ addresses: [] }]
    })
    expect(invalid.status).toBe(422)
  })

  it("a watch of every slice in the cluster, as the original agent opens it, gets v1beta1 events for v1 writes", async () => {
    const events = watchEvents("/apis/discovery.k8s.io/v1beta1/endpointslices?watch=1", 2)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const body = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "lan-2", labels: { "kubernetes.io/service-name": "lan" } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.0.0.4"], nodeName: "node-2" }]
    }
    const created = await api("POST", v1, body)
    await api("PUT", `${v1}/lan-2`, {
      ...body,
      metadata: { ...body.metadata, resourceVersion: created.body.metadata.resourceVersion },
      endpoints: [{ addresses: ["10.0.0.5"], nodeName: "node-2" }]
    })
    const seen = await events
    expect(seen.map((event) => [event.type, event.object.apiVersion, event.object.endpoints[0].addresses[0]])).toEqual([
      ["ADDED", "discovery.k8s.io/v1beta1", "10.0.0.4"],
      ["MODIFIED", "discovery.k8s.io/v1beta1", "10.0.0.5"]
    ])
    expect(seen[0]?.object.endpoints[0].topology).toEqual({ "kubernetes.io/hostname": "node-2" })
  })

  it("its watch bookmarks name the version asked for", async () => {
    const [bookmark] = await watchEvents(
      `${v1beta1}?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan`,
      1
    )
    expect(bookmark?.type).toBe("BOOKMARK")
    expect([bookmark?.object.apiVersion, bookmark?.object.kind]).toEqual(["discovery.k8s.io/v1beta1", "EndpointSlice"])
  })
})
