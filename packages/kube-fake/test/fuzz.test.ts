import { fc, fuzz } from "@kubelan/testkit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type KubeFakeServer, startKubeFake } from "../src/index.ts"

/**
 * Whatever a client sends, kube-fake answers as the real server would: a 2xx, or a 4xx Status
 * that leaves the store as it was. Never a 500, never a crash.
 */
let server: KubeFakeServer
beforeAll(async () => {
  server = await startKubeFake()
})
afterAll(async () => {
  await server?.close()
})

const send = async (method: string, path: string, body: string | undefined, contentType = "application/json") => {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { "content-type": contentType },
    ...(body === undefined ? {} : { body })
  })
  const text = await response.text()
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown> }
}

/** A 4xx is a Status and changed nothing; anything else is a success. */
const answeredProperly = (answer: { status: number; body: Record<string, unknown> }, before: number) => {
  expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500)
  if (answer.status >= 400) {
    expect(answer.body.kind).toBe("Status")
    expect(answer.body.code).toBe(answer.status)
    expect(server.store.resourceVersion).toBe(before)
  }
}

const collections = [
  "/api/v1/namespaces/default/configmaps",
  "/api/v1/namespaces/default/pods",
  "/api/v1/namespaces/default/services",
  "/api/v1/namespaces",
  "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
  "/apis/apps/v1/namespaces/default/statefulsets",
  "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles"
]
const name = fc.oneof(
  fc.constantFrom("a", "kubelan", "../x", ".", "..", "A", "a.b", "-a", "x".repeat(300), "__proto__"),
  fc.string({ maxLength: 12 }),
  fc.integer()
)
const stringMap = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })), { maxKeys: 3 }),
  fc.jsonValue({ maxDepth: 1 })
)
const object = fc.record(
  {
    apiVersion: fc.oneof(fc.constantFrom("v1", "apps/v1", "discovery.k8s.io/v1"), fc.jsonValue({ maxDepth: 0 })),
    kind: fc.oneof(fc.constantFrom("ConfigMap", "Pod", "EndpointSlice"), fc.jsonValue({ maxDepth: 0 })),
    metadata: fc.oneof(
      fc.record(
        {
          name,
          generateName: name,
          namespace: name,
          labels: stringMap,
          annotations: stringMap,
          finalizers: fc.jsonValue({ maxDepth: 1 }),
          ownerReferences: fc.jsonValue({ maxDepth: 2 })
        },
        { requiredKeys: [] }
      ),
      fc.jsonValue({ maxDepth: 1 })
    ),
    spec: fc.oneof(
      fc.record(
        {
          containers: fc.jsonValue({ maxDepth: 2 }),
          selector: fc.jsonValue({ maxDepth: 1 }),
          template: fc.jsonValue({ maxDepth: 2 }),
          replicas: fc.jsonValue({ maxDepth: 0 })
        },
        { requiredKeys: [] }
      ),
      fc.jsonValue({ maxDepth: 1 })
    ),
    data: stringMap,
    addressType: fc.oneof(fc.constantFrom("IPv4", "IPv6", "FQDN"), fc.jsonValue({ maxDepth: 0 })),
    endpoints: fc.jsonValue({ maxDepth: 3 })
  },
  { requiredKeys: [] }
)
const body = fc.oneof(
  object.map((value) => JSON.stringify(value)),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.string({ maxLength: 30 })
)

describe("kube-fake fuzzing", () => {
  it("request bodies: created, or a 4xx Status that changed nothing", async () => {
    await fuzz(
      fc.asyncProperty(fc.constantFrom(...collections), body, async (collection, text) => {
        const before = server.store.resourceVersion
        answeredProperly(await send("POST", collection, text), before)
      }),
      400
    )
  })

  it("updates of an existing object", async () => {
    await send("POST", "/api/v1/namespaces/default/configmaps", JSON.stringify({ metadata: { name: "target" }, data: { a: "b" } }))
    await fuzz(
      fc.asyncProperty(body, async (text) => {
        const before = server.store.resourceVersion
        answeredProperly(await send("PUT", "/api/v1/namespaces/default/configmaps/target", text), before)
      }),
      300
    )
  })

  it("patches of every type", async () => {
    await send(
      "POST",
      "/api/v1/namespaces/default/configmaps",
      JSON.stringify({ metadata: { name: "patched", labels: { a: "b" } }, data: { a: "b" } })
    )
    const pointer = fc.oneof(
      fc.constantFrom("/data/a", "/metadata/labels/a", "/__proto__/x", "/data/constructor", "/metadata/name", "/data/-", "/0", ""),
      fc.string({ maxLength: 12 })
    )
    const operation = fc.record(
      {
        op: fc.oneof(fc.constantFrom("add", "remove", "replace", "move", "copy", "test"), fc.string()),
        path: pointer,
        from: pointer,
        value: fc.jsonValue({ maxDepth: 2 })
      },
      { requiredKeys: [] }
    )
    const patch = fc.oneof(
      fc.tuple(
        fc.constant("application/json-patch+json"),
        fc.oneof(
          fc.array(operation, { maxLength: 3 }).map((ops) => JSON.stringify(ops)),
          body
        )
      ),
      fc.tuple(fc.constantFrom("application/merge-patch+json", "application/strategic-merge-patch+json"), body),
      fc.tuple(fc.string({ maxLength: 20 }), body)
    )
    await fuzz(
      fc.asyncProperty(patch, async ([contentType, text]) => {
        const before = server.store.resourceVersion
        const answer = await send("PATCH", "/api/v1/namespaces/default/configmaps/patched", text, contentType)
        answeredProperly(answer, before)
        expect(({} as Record<string, unknown>).x).toBeUndefined()
      }),
      400
    )
  })

  it("label and field selectors: a list, or a 400 Status", async () => {
    const selector = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom(
        "a in (b",
        "a notin ()",
        "!",
        "a==b,c!=d",
        "a in (x, y)",
        "x/y/z=1",
        "a=b=c",
        "metadata.name=x",
        "spec.nodeName=n",
        "metadata.name!="
      )
    )
    await fuzz(
      fc.asyncProperty(selector, fc.constantFrom("labelSelector", "fieldSelector"), async (text, parameter) => {
        const before = server.store.resourceVersion
        const answer = await send("GET", `/api/v1/namespaces/default/configmaps?${parameter}=${encodeURIComponent(text)}`, undefined)
        answeredProperly(answer, before)
        if (answer.status === 200) expect(answer.body.kind).toBe("ConfigMapList")
        else expect(answer.status).toBe(400)
      }),
      400
    )
  })
})
