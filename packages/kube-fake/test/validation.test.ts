import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { kubectlAgainstKubeFake } from "./KubectlFixture.ts"

/** Names, keys and labels as the real API server checks them; patches that would reach Object.prototype. */
const fixture = kubectlAgainstKubeFake({ tooLargeWaitMillis: 300 })
const { kubectl } = fixture
const api = async (method: string, path: string, body?: unknown, contentType = "application/json") => {
  const response = await fetch(`${fixture.server.url}${path}`, {
    method,
    headers: { "content-type": contentType },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}
const manifest = (text: string) => {
  const file = join(fixture.dir, `${Math.random().toString(16).slice(2)}.yaml`)
  writeFileSync(file, text)
  return file
}
const subdomain =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

describe("names, keys and labels", () => {
  it("a pod named with ../ segments is refused with the real server's 422 and message", async () => {
    const created = await kubectl([
      "create",
      "-f",
      manifest('apiVersion: v1\nkind: Pod\nmetadata:\n  name: "../../tmp/x"\nspec:\n  containers: [{name: c, image: i}]\n')
    ])
    expect(created.exitCode).toBe(1)
    expect(created.stderr).toBe(`The Pod "../../tmp/x" is invalid: metadata.name: Invalid value: "../../tmp/x": ${subdomain}`)
    const raw = await api("POST", "/api/v1/namespaces/default/pods", { metadata: { name: ".." }, spec: { containers: [{ name: "c" }] } })
    expect(raw.status).toBe(422)
    expect(raw.body).toMatchObject({ kind: "Status", status: "Failure", reason: "Invalid", code: 422 })
    expect(raw.body.details.causes).toEqual([
      { field: "metadata.name", reason: "FieldValueInvalid", message: `Invalid value: "..": ${subdomain}` }
    ])
  })

  it("a pod's containers and volumes have unique label names, and a mount names a volume; templates too", async () => {
    const pod = await api("POST", "/api/v1/namespaces/default/pods", {
      metadata: { name: "p" },
      spec: {
        volumes: [{ name: "config", emptyDir: {} }],
        containers: [
          { name: "../log", image: "i" },
          { name: "app", image: "i", volumeMounts: [{ name: "missing", mountPath: "/run/x" }] },
          { name: "app", image: "i" }
        ]
      }
    })
    expect(pod.status).toBe(422)
    expect(
      pod.body.details.causes.map((cause: { field: string; message: string }) => `${cause.field}: ${cause.message.split(":")[0]}`)
    ).toEqual([
      "spec.containers[0].name: Invalid value",
      "spec.containers[2].name: Duplicate value",
      "spec.containers[1].volumeMounts[0].name: Not found"
    ])
    const created = await kubectl([
      "create",
      "-f",
      manifest(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: i, volumeMounts: [{name: v, mountPath: /run/v}]}]\n"
      )
    ])
    expect(created.exitCode).toBe(1)
    expect(created.stderr).toBe('The StatefulSet "s" is invalid: spec.template.spec.containers[0].volumeMounts[0].name: Not found: "v"')
  })

  it("init containers share the containers' names, and their restartPolicy is Always or nothing", async () => {
    const pod = await api("POST", "/api/v1/namespaces/default/pods", {
      metadata: { name: "p" },
      spec: {
        initContainers: [
          { name: "app", image: "i", restartPolicy: "Always" },
          { name: "setup", image: "i", restartPolicy: "Never", volumeMounts: [{ name: "missing", mountPath: "/run/x" }] }
        ],
        containers: [{ name: "app", image: "i" }]
      }
    })
    expect(pod.status).toBe(422)
    expect(pod.body.details.causes.map((cause: { field: string; message: string }) => `${cause.field}: ${cause.message}`)).toEqual([
      'spec.containers[0].name: Duplicate value: "app"',
      'spec.initContainers[1].volumeMounts[0].name: Not found: "missing"',
      'spec.initContainers[1].restartPolicy: Unsupported value: "Never": supported values: "Always"'
    ])
  })

  it("each kind follows its own rule: namespaces are labels, services DNS-1035 labels, RBAC path segments", async () => {
    const namespace = await api("POST", "/api/v1/namespaces", { metadata: { name: "a.b" } })
    expect(namespace.body.message).toContain("a lowercase RFC 1123 label must consist of")
    const service = await api("POST", "/api/v1/namespaces/default/services", { metadata: { name: "1abc" } })
    expect(service.body.message).toContain(
      "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character"
    )
    const role = await api("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", { metadata: { name: "a/b%c" } })
    expect(role.body.message).toBe(
      `Role.rbac.authorization.k8s.io "a/b%c" is invalid: [metadata.name: Invalid value: "a/b%c": may not contain '/', metadata.name: Invalid value: "a/b%c": may not contain '%']`
    )
    const fine = await api("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", { metadata: { name: "system:kubelan" } })
    expect(fine.status).toBe(201)
  })

  it("generateName is checked, and so is the name made from it", async () => {
    const created = await kubectl([
      "create",
      "-f",
      manifest("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: Bad_\ndata: {a: b}\n")
    ])
    expect(created.exitCode).toBe(1)
    expect(created.stderr).toMatch(
      /^The ConfigMap "Bad_[bcdfghjklmnpqrstvwxz2456789]{5}" is invalid: \n\* metadata\.generateName: Invalid value: "Bad_": /
    )
    const good = await api("POST", "/api/v1/namespaces/default/configmaps", { metadata: { generateName: "kubelan-" } })
    expect(good.body.metadata.name).toMatch(/^kubelan-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
  })

  it("label keys and values, and ConfigMap keys the kubelet would make into paths", async () => {
    const created = await kubectl([
      "create",
      "-f",
      manifest(
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels: {"bad key": "x y"}\ndata:\n  "../evil": "x"\n  ".": "y"\n'
      )
    ])
    expect(created.exitCode).toBe(1)
    // Go's map order is random on the real server: compare the set of lines.
    expect(
      created.stderr
        .split("\n")
        .filter((line) => line.startsWith("* "))
        .sort()
    ).toEqual(
      [
        `* metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
        `* metadata.labels: Invalid value: "x y": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
        `* data[../evil]: Invalid value: "../evil": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
        `* data[../evil]: Invalid value: "../evil": must not start with '..'`,
        `* data[.]: Invalid value: ".": must not be '.'`
      ].sort()
    )
    const untyped = await api("POST", "/api/v1/namespaces/default/configmaps", { metadata: { name: "cm2", labels: { a: 5 } } })
    expect(untyped.status).toBe(400)
    expect(untyped.body.message).toBe(
      'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string'
    )
  })

  it("an update is held to the same rules", async () => {
    expect(
      (await kubectl(["create", "-f", manifest("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\ndata: {a: b}\n")])).exitCode
    ).toBe(0)
    const labelled = await kubectl(["label", "configmap", "held", "bad/key/x=1"])
    expect(labelled.exitCode).toBe(1)
  })
})

describe("patches that name an object's prototype", () => {
  it("are refused with a 400, change nothing, and never reach Object.prototype", async () => {
    expect(
      (await kubectl(["create", "-f", manifest("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: target\ndata: {a: b}\n")])).exitCode
    ).toBe(0)
    const before = fixture.server.store.resourceVersion
    for (const [type, patch] of [
      ["json", '[{"op":"add","path":"/__proto__/polluted","value":"yes"}]'],
      ["json", '[{"op":"add","path":"/metadata/constructor/prototype/polluted","value":"yes"}]'],
      ["merge", '{"__proto__":{"polluted":"yes"}}'],
      ["strategic", '{"metadata":{"__proto__":{"polluted":"yes"}}}']
    ] as const) {
      const patched = await kubectl(["patch", "configmap", "target", `--type=${type}`, "-p", patch])
      expect(patched.exitCode, `${type} ${patch}`).toBe(1)
      expect(patched.stderr).toContain("which is not a field of any object")
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(fixture.server.store.resourceVersion).toBe(before)
    const json = await api(
      "PATCH",
      "/api/v1/namespaces/default/configmaps/target",
      '[{"op":"add","path":"/__proto__/x","value":1}]',
      "application/json-patch+json"
    )
    expect(json.status).toBe(400)
  })
})

describe("resourceVersions the store has not reached", () => {
  it("a watch or list from a newer resourceVersion waits, then gets 504 Too large resource version", async () => {
    const ahead = fixture.server.store.resourceVersion + 100
    const watched = await api("GET", `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${ahead}`)
    expect(watched.status).toBe(504)
    expect(watched.body).toMatchObject({
      reason: "Timeout",
      message: `Timeout: Too large resource version: ${ahead}, current: ${fixture.server.store.resourceVersion}`
    })
    expect(watched.body.details.causes[0].reason).toBe("ResourceVersionTooLarge")
    expect((await api("GET", `/api/v1/namespaces/default/configmaps?resourceVersion=${ahead}`)).status).toBe(504)
    expect((await api("GET", "/api/v1/namespaces/default/configmaps?resourceVersion=0")).status).toBe(200)
  })
})
