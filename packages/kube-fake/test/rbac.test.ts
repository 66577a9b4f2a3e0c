import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { request } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { authorize, forbiddenMessage, type KubeFakeServer, type Policy, serviceAccountUser, startKubeFake } from "../src/index.ts"
import { kubectlAgainstKubeFake } from "./KubectlFixture.ts"

const object = (kind: string, name: string, namespace: string | undefined, rest: Record<string, unknown>) => ({
  kind,
  metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
  ...rest
})

// The shipped Role of deploy/k8s-example.yaml, and a ClusterRole bound in one namespace.
const policy: Policy = {
  roles: [
    object("Role", "kubelan", "default", {
      rules: [{ apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] }]
    })
  ],
  roleBindings: [
    object("RoleBinding", "kubelan", "default", {
      roleRef: { kind: "Role", name: "kubelan" },
      subjects: [{ kind: "ServiceAccount", name: "kubelan" }]
    }),
    object("RoleBinding", "readers", "lab", {
      roleRef: { kind: "ClusterRole", name: "pod-reader" },
      subjects: [{ kind: "Group", name: "system:serviceaccounts:default" }]
    })
  ],
  clusterRoles: [
    object("ClusterRole", "pod-reader", undefined, { rules: [{ apiGroups: [""], resources: ["pods", "pods/log"], verbs: ["get"] }] }),
    object("ClusterRole", "node-viewer", undefined, {
      rules: [
        { apiGroups: [""], resources: ["nodes"], verbs: ["list"], resourceNames: [] },
        { nonResourceURLs: ["/metrics"], verbs: ["get"] }
      ]
    })
  ],
  clusterRoleBindings: [
    object("ClusterRoleBinding", "viewers", undefined, {
      roleRef: { kind: "ClusterRole", name: "node-viewer" },
      subjects: [{ kind: "User", name: "alice" }]
    })
  ]
}

const kubelan = serviceAccountUser("default", "kubelan")
const slices = (verb: string, namespace = "default") =>
  ({ kind: "resource", verb, group: "discovery.k8s.io", resource: "endpointslices", namespace }) as const

describe("RBAC decisions", () => {
  it("a RoleBinding grants its Role's rules in its own namespace only", () => {
    for (const verb of ["get", "list", "watch"]) expect(authorize(policy, kubelan, slices(verb)).allowed, verb).toBe(true)
    expect(authorize(policy, kubelan, slices("create")).allowed).toBe(false)
    expect(authorize(policy, kubelan, slices("list", "other")).allowed).toBe(false)
    expect(authorize(policy, serviceAccountUser("default", "someone-else"), slices("list")).allowed).toBe(false)
  })

  it("a ClusterRole bound by a RoleBinding to a group, with a subresource; one bound cluster-wide to a user", () => {
    const pods = (subresource?: string) =>
      ({ kind: "resource", verb: "get", group: "", resource: "pods", subresource, namespace: "lab", name: "p" }) as const
    expect(authorize(policy, kubelan, pods()).allowed).toBe(true)
    expect(authorize(policy, kubelan, pods("log")).allowed).toBe(true)
    expect(authorize(policy, kubelan, pods("exec")).allowed).toBe(false)
    const alice = { username: "alice", groups: ["system:authenticated"] }
    expect(authorize(policy, alice, { kind: "resource", verb: "list", group: "", resource: "nodes" }).allowed).toBe(true)
    expect(authorize(policy, alice, { kind: "nonResource", verb: "get", path: "/metrics" }).allowed).toBe(true)
    expect(authorize(policy, alice, { kind: "nonResource", verb: "get", path: "/debug" }).allowed).toBe(false)
  })

  it("every authenticated user may read discovery and ask what it may do; anonymous may not", () => {
    expect(authorize(policy, kubelan, { kind: "nonResource", verb: "get", path: "/apis/discovery.k8s.io/v1" }).allowed).toBe(true)
    expect(
      authorize(policy, kubelan, { kind: "resource", verb: "create", group: "authorization.k8s.io", resource: "selfsubjectaccessreviews" })
        .allowed
    ).toBe(true)
    const anonymous = { username: "system:anonymous", groups: ["system:unauthenticated"] }
    expect(authorize(policy, anonymous, { kind: "nonResource", verb: "get", path: "/api" }).allowed).toBe(false)
  })

  it("says no as the real server's 403 does", () => {
    expect(forbiddenMessage(kubelan, slices("watch", "other"))).toBe(
      'endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:default:kubelan" cannot watch resource "endpointslices" in API group "discovery.k8s.io" in the namespace "other"'
    )
    expect(
      forbiddenMessage(kubelan, {
        kind: "resource",
        verb: "get",
        group: "",
        resource: "pods",
        subresource: "log",
        namespace: "x",
        name: "p"
      })
    ).toBe(
      'pods "p" is forbidden: User "system:serviceaccount:default:kubelan" cannot get resource "pods/log" in API group "" in the namespace "x"'
    )
    expect(forbiddenMessage(kubelan, { kind: "resource", verb: "list", group: "", resource: "nodes" })).toBe(
      'nodes is forbidden: User "system:serviceaccount:default:kubelan" cannot list resource "nodes" in API group "" at the cluster scope'
    )
  })
})

describe("ServiceAccount tokens over TLS", () => {
  let server: KubeFakeServer
  let ca: string
  const dir = mkdtempSync(join(tmpdir(), "kube-fake-tls-"))

  beforeAll(async () => {
    // A CA and a server certificate, as a cluster's are: the client trusts the CA it was given.
    const openssl = (...args: Array<string>) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" })
    openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=kube-fake-ca",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt"
    )
    openssl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      "/CN=kube-apiserver",
      "-keyout",
      "server.key",
      "-out",
      "server.csr"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-out", "server.crt")
    ca = readFileSync(join(dir, "ca.crt"), "utf8")
    server = await startKubeFake({
      tls: {
        cert: readFileSync(join(dir, "server.crt"), "utf8"),
        key: readFileSync(join(dir, "server.key"), "utf8"),
        socket: join(dir, "tls.sock")
      }
    })
  })
  afterAll(async () => {
    await server?.close()
  })

  /** A request as the admin over the plain listener. */
  const fetchAdmin = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }

  /** A request over TLS, trusting the CA, with a bearer token if given. */
  const secure = (path: string, token?: string) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = request(
        {
          socketPath: join(dir, "tls.sock"),
          path,
          ca,
          servername: "kube-apiserver",
          headers: token === undefined ? {} : { authorization: `Bearer ${token}` }
        },
        (response) => {
          let text = ""
          response.setEncoding("utf8")
          response.on("data", (chunk: string) => {
            text += chunk
          })
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }))
        }
      )
      req.on("error", reject)
      req.end()
    })

  const slicesPath = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
  const role = (verbs: Array<string>) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: "kubelan" },
    rules: [{ apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs }]
  })

  it("a token from the TokenRequest API lists what its Role allows, and is refused the rest with the real 403", async () => {
    expect((await fetchAdmin("POST", "/api/v1/namespaces/default/serviceaccounts", { metadata: { name: "kubelan" } })).status).toBe(201)
    expect((await fetchAdmin("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", role(["get", "list"]))).status).toBe(
      201
    )
    const binding = {
      metadata: { name: "kubelan" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "kubelan" },
      subjects: [{ kind: "ServiceAccount", name: "kubelan", namespace: "default" }]
    }
    expect((await fetchAdmin("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", binding)).status).toBe(201)
    const issued = await fetchAdmin("POST", "/api/v1/namespaces/default/serviceaccounts/kubelan/token", {
      spec: { expirationSeconds: 3600, boundObjectRef: { kind: "Pod", name: "kubelan-0", uid: "u-1" } }
    })
    expect(issued.status).toBe(201)
    const token = (issued.body.status as { token: string }).token

    expect((await secure(slicesPath, token)).status).toBe(200)
    const watch = await secure(`${slicesPath}?watch=true`, token)
    expect(watch.status).toBe(403)
    expect(watch.body).toMatchObject({
      kind: "Status",
      reason: "Forbidden",
      code: 403,
      details: { group: "discovery.k8s.io", kind: "endpointslices" },
      message:
        'endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:default:kubelan" cannot watch resource "endpointslices" in API group "discovery.k8s.io" in the namespace "default"'
    })
    expect((await secure("/api/v1/namespaces/default/pods", token)).status).toBe(403)
    // Discovery is every authenticated user's.
    expect((await secure("/apis/discovery.k8s.io/v1", token)).status).toBe(200)
  })

  it("no token is anonymous, a forged or orphaned one is 401", async () => {
    expect((await secure(slicesPath)).body).toMatchObject({ code: 403, message: expect.stringContaining('User "system:anonymous"') })
    expect((await secure(slicesPath, "e30.e30.forged")).body).toMatchObject({ code: 401, reason: "Unauthorized" })
    const token = server.issueToken("default", "kubelan")
    expect((await secure(slicesPath, token)).status).toBe(200)
    await fetchAdmin("DELETE", "/api/v1/namespaces/default/serviceaccounts/kubelan")
    expect((await secure(slicesPath, token)).body).toMatchObject({ code: 401 })
  })
})

describe("kubectl auth can-i", () => {
  const { kubectl } = kubectlAgainstKubeFake()

  it("answers from the same rules, as the ServiceAccount", async () => {
    const example = join(import.meta.dirname, "../../../deploy/k8s-example.yaml")
    expect((await kubectl(["apply", "-f", example])).exitCode).toBe(0)
    const canI = (verb: string, resource: string) =>
      kubectl(["auth", "can-i", verb, resource, "-n", "default", "--as=system:serviceaccount:default:kubelan"])
    // The shipped Role: list and watch the Service's EndpointSlices, nothing else.
    for (const verb of ["list", "watch"]) expect((await canI(verb, "endpointslices.discovery.k8s.io")).stdout.trim(), verb).toBe("yes")
    for (const verb of ["get", "create"]) expect((await canI(verb, "endpointslices.discovery.k8s.io")).stdout.trim(), verb).toBe("no")
    expect((await canI("list", "pods")).stdout.trim()).toBe("no")
    // The admin may do anything.
    expect((await kubectl(["auth", "can-i", "delete", "nodes"])).stdout.trim()).toBe("yes")
  })
})
