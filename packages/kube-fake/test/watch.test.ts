import { request } from "node:http"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type KubeFakeServer, startKubeFake } from "../src/index.ts"

/** Raw HTTP, as client-node speaks it: one test per watch rule kube-fake must reproduce. */
let server: KubeFakeServer
beforeEach(async () => {
  server = await startKubeFake({ history: 5, bookmarkMillis: 200 })
})
afterEach(async () => {
  await server?.close()
})

const slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
const api = async (method: string, path: string, body?: unknown, contentType = "application/json") => {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { "content-type": contentType },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}
const slice = (name: string, addresses: Array<string>, labels: Record<string, string> = { "kubernetes.io/service-name": "lan" }) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name, labels },
  addressType: "IPv4",
  endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true } }))
})

interface OpenWatch {
  events: Array<{ type: string; object: Record<string, any> }>
  chunks: number
  headers: Record<string, string | string[] | undefined>
  status: number
  closed: Promise<void>
  stop: () => void
}

/** Opens a watch and collects its newline-delimited events as they arrive. */
const openWatch = (query: string, path = slices): Promise<OpenWatch> =>
  new Promise((resolve, reject) => {
    const url = new URL(`${server.url}${path}?watch=true&${query}`)
    const req = request(url, (res) => {
      let pending = ""
      let resolveClosed: () => void = () => {}
      const watch: OpenWatch = {
        events: [],
        chunks: 0,
        headers: res.headers,
        status: res.statusCode ?? 0,
        closed: new Promise((done) => {
          resolveClosed = done
        }),
        stop: () => req.destroy()
      }
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        watch.chunks += 1
        pending += chunk
        const lines = pending.split("\n")
        pending = lines.pop() ?? ""
        for (const line of lines) if (line !== "") watch.events.push(JSON.parse(line))
      })
      res.on("end", () => resolveClosed())
      res.on("close", () => resolveClosed())
      resolve(watch)
    })
    req.on("error", reject)
    req.end()
  })

const settle = (millis = 150) => new Promise((resolve) => setTimeout(resolve, millis))
const names = (watch: OpenWatch) => watch.events.map((event) => `${event.type} ${event.object.metadata?.name ?? ""}`.trim())

describe("watch semantics", () => {
  it("one resourceVersion increases across every kind", async () => {
    const a = await api("POST", slices, slice("a", ["10.0.0.1"]))
    const cm = await api("POST", "/api/v1/namespaces/default/configmaps", { metadata: { name: "c" }, data: { k: "v" } })
    const b = await api("POST", slices, slice("b", ["10.0.0.2"]))
    const rvs = [a, cm, b].map((response) => Number(response.body.metadata.resourceVersion))
    expect(rvs[1]).toBe((rvs[0] as number) + 1)
    expect(rvs[2]).toBe((rvs[1] as number) + 1)
  })

  it("a no-op write neither bumps the resourceVersion nor emits an event", async () => {
    const created = await api("POST", slices, slice("a", ["10.0.0.1"]))
    const watch = await openWatch(`resourceVersion=${created.body.metadata.resourceVersion}`)
    const same = await api("PUT", `${slices}/a`, created.body)
    const patched = await api(
      "PATCH",
      `${slices}/a`,
      { metadata: { labels: { "kubernetes.io/service-name": "lan" } } },
      "application/merge-patch+json"
    )
    await settle()
    watch.stop()
    expect(same.body.metadata.resourceVersion).toBe(created.body.metadata.resourceVersion)
    expect(patched.body.metadata.resourceVersion).toBe(created.body.metadata.resourceVersion)
    expect(watch.events).toEqual([])
  })

  it("resourceVersion unset or 0: synthetic ADDED for the current state, then live", async () => {
    await api("POST", slices, slice("a", ["10.0.0.1"]))
    const unset = await openWatch("")
    await settle()
    await api("POST", slices, slice("live1", ["10.0.0.9"]))
    await settle()
    unset.stop()
    expect(names(unset)).toEqual(["ADDED a", "ADDED live1"])
    const zero = await openWatch("resourceVersion=0")
    await settle()
    await api("POST", slices, slice("live2", ["10.0.0.9"]))
    await settle()
    zero.stop()
    expect(names(zero)).toEqual(["ADDED a", "ADDED live1", "ADDED live2"])
  })

  it("resourceVersion N: the events after N from history, then live", async () => {
    const a = await api("POST", slices, slice("a", ["10.0.0.1"]))
    await api("PUT", `${slices}/a`, { ...a.body, endpoints: [{ addresses: ["10.0.0.5"] }] })
    await api("POST", slices, slice("b", ["10.0.0.2"]))
    const watch = await openWatch(`resourceVersion=${a.body.metadata.resourceVersion}`)
    await api("DELETE", `${slices}/b`)
    await settle()
    watch.stop()
    expect(names(watch)).toEqual(["MODIFIED a", "ADDED b", "DELETED b"])
  })

  it("N older than the kept history: HTTP 200, one ERROR event with a 410 Expired Status, then close", async () => {
    const first = await api("POST", slices, slice("a", ["10.0.0.1"]))
    for (let i = 0; i < 8; i++) await api("POST", "/api/v1/namespaces/default/configmaps", { metadata: { name: `c${i}` } })
    const watch = await openWatch(`resourceVersion=${first.body.metadata.resourceVersion}`)
    await watch.closed
    expect(watch.status).toBe(200)
    expect(watch.events).toHaveLength(1)
    expect(watch.events[0]?.type).toBe("ERROR")
    expect(watch.events[0]?.object).toMatchObject({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410 })
  })

  it("compacting history makes a watch from an older resourceVersion get 410", async () => {
    const first = await api("POST", slices, slice("a", ["10.0.0.1"]))
    await api("POST", slices, slice("b", ["10.0.0.2"]))
    server.fault({ compact: true })
    const watch = await openWatch(`resourceVersion=${first.body.metadata.resourceVersion}`)
    await watch.closed
    expect(watch.events[0]?.object.code).toBe(410)
  })

  it("BOOKMARK only with allowWatchBookmarks=true", async () => {
    const plain = await openWatch("resourceVersion=1")
    const bookmarked = await openWatch("resourceVersion=1&allowWatchBookmarks=true")
    await settle(500)
    plain.stop()
    bookmarked.stop()
    expect(plain.events.filter((event) => event.type === "BOOKMARK")).toEqual([])
    const bookmark = bookmarked.events.find((event) => event.type === "BOOKMARK")
    expect(bookmark?.object).toMatchObject({
      kind: "EndpointSlice",
      apiVersion: "discovery.k8s.io/v1",
      metadata: { resourceVersion: String(server.store.resourceVersion) }
    })
  })

  it("timeoutSeconds: a clean close", async () => {
    const started = Date.now()
    const watch = await openWatch("timeoutSeconds=1")
    await watch.closed
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(watch.status).toBe(200)
  })

  it("newline-delimited JSON, chunked, flushed per event", async () => {
    const watch = await openWatch("resourceVersion=1")
    await settle()
    await api("POST", slices, slice("a", ["10.0.0.1"]))
    await settle()
    const before = watch.chunks
    await api("POST", slices, slice("b", ["10.0.0.2"]))
    await settle()
    watch.stop()
    expect(watch.headers["content-type"]).toBe("application/json")
    expect(watch.headers["transfer-encoding"]).toBe("chunked")
    expect(watch.chunks).toBe(before + 1)
    expect(names(watch)).toEqual(["ADDED a", "ADDED b"])
  })

  it("on a filtered watch an object leaving the selector is DELETED and one entering is ADDED", async () => {
    const created = await api("POST", slices, slice("a", ["10.0.0.1"], { "kubernetes.io/service-name": "other" }))
    const watch = await openWatch(
      `resourceVersion=${created.body.metadata.resourceVersion}&labelSelector=kubernetes.io%2Fservice-name%3Dlan`
    )
    await api("PATCH", `${slices}/a`, { metadata: { labels: { "kubernetes.io/service-name": "lan" } } }, "application/merge-patch+json")
    await api("PATCH", `${slices}/a`, { endpoints: [{ addresses: ["10.0.0.7"] }] }, "application/merge-patch+json")
    await api("PATCH", `${slices}/a`, { metadata: { labels: { "kubernetes.io/service-name": "gone" } } }, "application/merge-patch+json")
    await api("PATCH", `${slices}/a`, { endpoints: [{ addresses: ["10.0.0.8"] }] }, "application/merge-patch+json")
    await settle()
    watch.stop()
    expect(names(watch)).toEqual(["ADDED a", "MODIFIED a", "DELETED a"])
  })

  it("sendInitialEvents=true: the current state as ADDED, then a BOOKMARK marking the end", async () => {
    await api("POST", slices, slice("a", ["10.0.0.1"]))
    const watch = await openWatch("sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
    await settle()
    watch.stop()
    expect(watch.events[0]).toMatchObject({ type: "ADDED", object: { metadata: { name: "a" } } })
    expect(watch.events[1]).toMatchObject({
      type: "BOOKMARK",
      object: { metadata: { annotations: { "k8s.io/initial-events-end": "true" } } }
    })
  })

  it("every error is a v1 Status with the right reason and code", async () => {
    const cases: Array<[Promise<{ status: number; body: Record<string, any> }>, number, string]> = [
      [api("GET", `${slices}/missing`), 404, "NotFound"],
      [api("POST", slices, { ...slice("bad", ["10.0.0.1"]), addressType: "IPv5" }), 422, "Invalid"],
      [api("GET", `${slices}?labelSelector=${encodeURIComponent("a in (b")}`), 400, "BadRequest"],
      [api("GET", "/apis/nope/v1/things"), 404, "NotFound"],
      // A server-side apply must name its field manager.
      [api("PATCH", `${slices}/x`, {}, "application/apply-patch+yaml"), 400, "BadRequest"]
    ]
    for (const [pending, code, reason] of cases) {
      const { status, body } = await pending
      expect(status).toBe(code)
      expect(body).toMatchObject({ kind: "Status", apiVersion: "v1", status: "Failure", reason, code })
    }
    await api("POST", slices, slice("a", ["10.0.0.1"]))
    expect((await api("POST", slices, slice("a", ["10.0.0.1"]))).body).toMatchObject({ reason: "AlreadyExists", code: 409 })
    expect(
      (await api("PUT", `${slices}/a`, { ...slice("a", ["10.0.0.1"]), metadata: { name: "a", resourceVersion: "1" } })).body
    ).toMatchObject({ reason: "Conflict", code: 409 })
    expect((await api("PATCH", `${slices}/a`, {}, "application/yaml")).body).toMatchObject({
      reason: "UnsupportedMediaType",
      code: 415
    })
  })
})

describe("validation and queries", () => {
  it("EndpointSlice addressType is required, an enum, and immutable (422 Invalid)", async () => {
    const missing = await api("POST", slices, { metadata: { name: "x" }, endpoints: [] })
    expect(missing.body.message).toContain("addressType: Required value")
    const created = await api("POST", slices, slice("a", ["10.0.0.1"]))
    const changed = await api("PUT", `${slices}/a`, { ...created.body, addressType: "IPv6" })
    expect(changed.status).toBe(422)
    expect(changed.body.message).toContain('addressType: Invalid value: "IPv6": field is immutable')
    const noAddresses = await api("POST", slices, { ...slice("b", []), endpoints: [{ conditions: {} }] })
    expect(noAddresses.body.message).toContain("endpoints[0].addresses: Required value")
  })

  it("label selectors in the full syntax, field selectors, and limit/continue", async () => {
    for (const [name, tier] of [
      ["a", "x"],
      ["b", "y"],
      ["c", "z"]
    ] as const)
      await api("POST", slices, slice(name, ["10.0.0.1"], { "kubernetes.io/service-name": "lan", tier }))
    const select = async (query: string) =>
      ((await api("GET", `${slices}?${query}`)).body.items as Array<any>).map((item) => item.metadata.name)
    expect(await select(`labelSelector=${encodeURIComponent("tier in (x,z)")}`)).toEqual(["a", "c"])
    expect(await select(`labelSelector=${encodeURIComponent("tier notin (x),kubernetes.io/service-name==lan")}`)).toEqual(["b", "c"])
    expect(await select(`labelSelector=${encodeURIComponent("tier!=y")}`)).toEqual(["a", "c"])
    expect(await select(`labelSelector=${encodeURIComponent("!tier")}`)).toEqual([])
    expect(await select("fieldSelector=metadata.name%3Db")).toEqual(["b"])
    const page = await api("GET", `${slices}?limit=2`)
    expect(page.body.items.map((item: any) => item.metadata.name)).toEqual(["a", "b"])
    const rest = await api("GET", `${slices}?limit=2&continue=${page.body.metadata.continue}`)
    expect(rest.body.items.map((item: any) => item.metadata.name)).toEqual(["c"])
    expect(rest.body.metadata.continue).toBeUndefined()
  })

  it("JSON patch and strategic merge patch", async () => {
    await api("POST", slices, slice("a", ["10.0.0.1"]))
    const patched = await api(
      "PATCH",
      `${slices}/a`,
      [
        { op: "add", path: "/metadata/labels/extra", value: "1" },
        { op: "replace", path: "/endpoints/0/addresses/0", value: "10.0.0.3" }
      ],
      "application/json-patch+json"
    )
    expect(patched.body.metadata.labels.extra).toBe("1")
    expect(patched.body.endpoints[0].addresses).toEqual(["10.0.0.3"])
    const pods = "/api/v1/namespaces/default/pods"
    await api("POST", pods, {
      metadata: { name: "p" },
      spec: {
        containers: [
          { name: "a", image: "x" },
          { name: "b", image: "y" }
        ]
      }
    })
    const strategic = await api(
      "PATCH",
      `${pods}/p`,
      { spec: { containers: [{ name: "b", image: "z" }] } },
      "application/strategic-merge-patch+json"
    )
    // Merged by name; the server's defaults (pull policy, termination message) stay on both.
    expect(strategic.body.spec.containers).toMatchObject([
      { name: "a", image: "x", imagePullPolicy: "Always" },
      { name: "b", image: "z", terminationMessagePath: "/dev/termination-log" }
    ])
    expect(strategic.body.spec.containers).toHaveLength(2)
  })
})
