import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { CoreV1Api, DiscoveryV1Api, KubeConfig } from "@kubernetes/client-node"
import { normaliseObject, normaliseText } from "./Normalise.ts"
import type { Target } from "./Targets.ts"

/** One thing a user or kubelan does, and what it observes, made comparable across servers. */
export interface Check {
  readonly name: string
  run(target: Target): Promise<unknown>
}

const exampleManifest = fileURLToPath(new URL("../../../../deploy/k8s-example.yaml", import.meta.url))
const ns = "conformance"
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const kubectl = async (target: Target, args: ReadonlyArray<string>, input?: string) => {
  const result = await target.kubectl(args, input)
  return { exitCode: result.exitCode, stdout: normaliseText(result.stdout), stderr: normaliseText(result.stderr) }
}
const getJson = async (target: Target, args: ReadonlyArray<string>) => {
  const result = await target.kubectl(["get", ...args, "-o", "json"])
  if (result.exitCode !== 0) return { exitCode: result.exitCode, stderr: normaliseText(result.stderr) }
  return normaliseObject(JSON.parse(result.stdout))
}
/** Waits (≤ 30 s) for a controller's outcome, so that a slow controller is not a difference. */
const eventually = async (target: Target, args: ReadonlyArray<string>, until: (stdout: string) => boolean) => {
  for (let i = 0; i < 150; i++) {
    const result = await target.kubectl(args)
    if (result.exitCode === 0 && until(result.stdout)) return true
    await sleep(200)
  }
  return false
}
const resourceVersion = (body: unknown) => (body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion ?? ""
const cm = (name: string, data: Record<string, string> = {}, labels: Record<string, string> = {}) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, ...(Object.keys(labels).length === 0 ? {} : { labels }) },
  data
})
const cms = `/api/v1/namespaces/${ns}/configmaps`
/** A watch's events as (type, name, and for an ERROR its Status), with time to deliver what is due. */
const watchEvents = async (target: Target, query: string, millis = 1_500) =>
  (await target.stream(`${cms}?watch=1&${query}`, millis)).map((line) => {
    const event = JSON.parse(line) as {
      type: string
      object: { metadata?: { name?: string }; code?: number; reason?: string; message?: string }
    }
    return event.type === "ERROR"
      ? { type: event.type, code: event.object.code, reason: event.object.reason, message: normaliseText(event.object.message ?? "") }
      : { type: event.type, name: event.object.metadata?.name }
  })
const canI = (verb: string, resource: string, namespace = ns): Check => ({
  name: `auth can-i ${verb} ${resource} -n ${namespace}, as the kubelan ServiceAccount`,
  run: (target) => kubectl(target, ["auth", "can-i", verb, resource, "-n", namespace, `--as=system:serviceaccount:${ns}:kubelan`])
})
const clientNode = (target: Target) => {
  const config = new KubeConfig()
  config.loadFromFile(target.kubeconfig)
  return { core: config.makeApiClient(CoreV1Api), discovery: config.makeApiClient(DiscoveryV1Api) }
}
const apiError = (error: unknown) => {
  const { code, body } = error as { code?: number; body?: string }
  return { code, body: normaliseObject(typeof body === "string" ? JSON.parse(body) : body) }
}

export const checks: ReadonlyArray<Check> = [
  { name: "kubectl create namespace", run: (t) => kubectl(t, ["create", "namespace", ns]) },
  { name: "kubectl apply -f the shipped example: created", run: (t) => kubectl(t, ["apply", "-n", ns, "-f", exampleManifest]) },
  { name: "kubectl apply -f the shipped example again: unchanged", run: (t) => kubectl(t, ["apply", "-n", ns, "-f", exampleManifest]) },
  {
    name: "kubectl apply of a changed ConfigMap: configured",
    run: (t) => kubectl(t, ["apply", "-n", ns, "-f", "-"], readFileSync(exampleManifest, "utf8").replace(/vni: \d+/, "vni: 4242"))
  },
  ...["serviceaccount", "role", "rolebinding", "configmap", "service"].map(
    (kind): Check => ({
      name: `get ${kind} kubelan -o json (defaults the server fills in)`,
      run: (t) => getJson(t, [kind, "kubelan", "-n", ns])
    })
  ),
  {
    name: "get statefulset kubelan -o json: metadata and spec (defaults the server fills in)",
    run: async (t) => {
      const object = (await getJson(t, ["statefulset", "kubelan", "-n", ns])) as Record<string, unknown>
      return { metadata: object.metadata, spec: object.spec }
    }
  },
  {
    name: "the StatefulSet controller's first pod, as admission left it (kubelan-0 -o json: metadata and spec)",
    run: async (t) => {
      if (!(await eventually(t, ["get", "pod", "kubelan-0", "-n", ns, "-o", "name"], (out) => out !== ""))) return "no pod kubelan-0"
      const object = (await getJson(t, ["pod", "kubelan-0", "-n", ns])) as Record<string, unknown>
      return { metadata: object.metadata, spec: object.spec }
    }
  },
  {
    name: "the EndpointSlice controller's slice for the Service (no ready pod yet)",
    run: async (t) => {
      const selector = ["endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=kubelan"]
      if (!(await eventually(t, ["get", ...selector, "-o", "name"], (out) => out !== ""))) return "no slice"
      return getJson(t, selector)
    }
  },
  {
    name: "the ServiceAccount controller's default account in a new namespace",
    run: async (t) => {
      if (!(await eventually(t, ["get", "serviceaccount", "default", "-n", ns, "-o", "name"], (out) => out !== ""))) return "none"
      return getJson(t, ["serviceaccount", "default", "-n", ns])
    }
  },
  {
    name: "kubectl get statefulset,service,configmap,role (the table)",
    run: (t) => kubectl(t, ["get", "statefulset,service,configmap,role", "-n", ns])
  },
  { name: "kubectl get of a missing object: NotFound", run: (t) => kubectl(t, ["get", "configmap", "missing", "-n", ns]) },
  { name: "kubectl create of an existing object: AlreadyExists", run: (t) => kubectl(t, ["create", "configmap", "kubelan", "-n", ns]) },
  { name: "kubectl create with an invalid name: Invalid", run: (t) => kubectl(t, ["create", "configmap", "Not_A_Name", "-n", ns]) },
  {
    name: "kubectl apply of a Service with port 0: Invalid, with the field",
    run: (t) =>
      kubectl(
        t,
        ["apply", "-n", ns, "-f", "-"],
        JSON.stringify({
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "bad" },
          spec: { ports: [{ port: 0 }], selector: { app: "x" } }
        })
      )
  },
  {
    name: "a PUT with a stale resourceVersion: 409 Conflict",
    run: async (t) => {
      const created = await t.call("POST", cms, cm("stale", { a: "1" }))
      const stale = resourceVersion(created.body)
      await t.call("PUT", `${cms}/stale`, { ...cm("stale", { a: "2" }), metadata: { name: "stale", resourceVersion: stale } })
      const conflict = await t.call("PUT", `${cms}/stale`, {
        ...cm("stale", { a: "3" }),
        metadata: { name: "stale", resourceVersion: stale }
      })
      return { status: conflict.status, body: normaliseObject(conflict.body) }
    }
  },
  {
    name: "a POST of a ConfigMap whose body names another namespace: 400 BadRequest",
    run: async (t) => {
      const answer = await t.call("POST", cms, { ...cm("elsewhere"), metadata: { name: "elsewhere", namespace: "default" } })
      return { status: answer.status, body: normaliseObject(answer.body) }
    }
  },
  {
    name: "a GET of an unknown resource: 404",
    run: async (t) => {
      const answer = await t.call("GET", `/api/v1/namespaces/${ns}/widgets`)
      return { status: answer.status, body: normaliseObject(answer.body) }
    }
  },
  canI("list", "endpointslices.discovery.k8s.io"),
  canI("watch", "endpointslices.discovery.k8s.io"),
  canI("create", "events.events.k8s.io"),
  canI("patch", "events.events.k8s.io"),
  canI("create", "pods"),
  canI("delete", "endpointslices.discovery.k8s.io"),
  canI("list", "endpointslices.discovery.k8s.io", "default"),
  {
    name: "auth can-i --list, as the kubelan ServiceAccount",
    run: (t) => kubectl(t, ["auth", "can-i", "--list", "-n", ns, `--as=system:serviceaccount:${ns}:kubelan`])
  },
  {
    name: "watch from a list's resourceVersion: ADDED, MODIFIED, DELETED in order",
    run: async (t) => {
      const from = resourceVersion((await t.call("GET", cms)).body)
      await t.call("POST", cms, cm("w1"))
      await t.call("PATCH", `${cms}/w1`, { data: { k: "v" } }, "application/merge-patch+json")
      await t.call("DELETE", `${cms}/w1`)
      return watchEvents(t, `resourceVersion=${from}&fieldSelector=metadata.name%3Dw1`)
    }
  },
  {
    name: "watch with a label selector: an object leaving the selector is DELETED, one entering ADDED",
    run: async (t) => {
      const from = resourceVersion((await t.call("GET", cms)).body)
      await t.call("POST", cms, cm("w2", {}, { tier: "a" }))
      await t.call("PATCH", `${cms}/w2`, { metadata: { labels: { tier: "b" } } }, "application/merge-patch+json")
      await t.call("PATCH", `${cms}/w2`, { metadata: { labels: { tier: "a" } } }, "application/merge-patch+json")
      return watchEvents(t, `resourceVersion=${from}&labelSelector=tier%3Da`)
    }
  },
  {
    name: "watch resumed from the middle: only what came after",
    run: async (t) => {
      await t.call("POST", cms, cm("w3"))
      const middle = resourceVersion((await t.call("PATCH", `${cms}/w3`, { data: { n: "1" } }, "application/merge-patch+json")).body)
      await t.call("PATCH", `${cms}/w3`, { data: { n: "2" } }, "application/merge-patch+json")
      await t.call("DELETE", `${cms}/w3`)
      return watchEvents(t, `resourceVersion=${middle}&fieldSelector=metadata.name%3Dw3`)
    }
  },
  {
    name: "watch from a compacted resourceVersion: one ERROR event, 410 Expired",
    run: async (t) => {
      // Enough writes to pass kube-fake's short history; kube-apiserver's watch cache starts after them.
      for (let i = 0; i < 60; i++) await t.call("POST", cms, cm(`filler-${i}`))
      return watchEvents(t, "resourceVersion=2")
    }
  },
  {
    name: "watch with allowWatchBookmarks and timeoutSeconds: what arrives before the close",
    run: async (t) => {
      const from = resourceVersion((await t.call("GET", cms)).body)
      const events = await watchEvents(t, `resourceVersion=${from}&allowWatchBookmarks=true&timeoutSeconds=3`, 8_000)
      return events.map((event) => event.type)
    }
  },
  {
    name: "list with limit and continue: pages in name order",
    run: async (t) => {
      const first = (await t.call("GET", `${cms}?limit=2&labelSelector=`)).body as {
        items: Array<{ metadata: { name: string } }>
        metadata: { continue?: string }
      }
      const token = first.metadata.continue ?? ""
      const second = (await t.call("GET", `${cms}?limit=2&continue=${encodeURIComponent(token)}`)).body as {
        items: Array<{ metadata: { name: string } }>
      }
      return {
        first: first.items.map((item) => item.metadata.name),
        hasContinue: token !== "",
        second: second.items.map((item) => item.metadata.name)
      }
    }
  },
  {
    name: "kubectl get -w --output-watch-events: what a user sees while a ConfigMap is made, changed and deleted",
    run: async (t) => {
      const watching = t.kubectl(["get", "configmap", "seen", "-n", ns, "-w", "--output-watch-events", "--request-timeout=6s"])
      await sleep(1_500)
      await t.call("POST", cms, cm("seen"))
      await t.call("PATCH", `${cms}/seen`, { data: { k: "v" } }, "application/merge-patch+json")
      await t.call("DELETE", `${cms}/seen`)
      const result = await watching
      return normaliseText(result.stdout)
    }
  },
  {
    name: "kubectl apply --server-side: serverside-applied",
    run: (t) => kubectl(t, ["apply", "--server-side", "-n", ns, "-f", "-"], JSON.stringify(cm("ssa", { owner: "first" })))
  },
  {
    name: "kubectl apply --server-side by another manager on the same field: a conflict",
    run: (t) =>
      kubectl(t, ["apply", "--server-side", "--field-manager=other", "-n", ns, "-f", "-"], JSON.stringify(cm("ssa", { owner: "second" })))
  },
  {
    name: "kubectl create --dry-run=server -o yaml: what would be made, nothing made",
    run: async (t) => {
      const dry = await t.kubectl(["create", "configmap", "dry", "-n", ns, "--from-literal=k=v", "--dry-run=server", "-o", "json"])
      const after = await kubectl(t, ["get", "configmap", "dry", "-n", ns])
      return { made: dry.exitCode === 0 ? normaliseObject(JSON.parse(dry.stdout)) : dry.stderr, after }
    }
  },
  { name: "kubectl delete --wait of a ConfigMap", run: (t) => kubectl(t, ["delete", "configmap", "ssa", "-n", ns, "--wait"]) },
  {
    name: "an events.k8s.io Event with a series, as kubelan records one: get events -o wide and describe's count",
    run: async (t) => {
      const events = `/apis/events.k8s.io/v1/namespaces/${ns}/events`
      const micro = (millis: number) => new Date(millis).toISOString().replace("Z", "000Z")
      const created = await t.call("POST", events, {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { name: "lan-0.series" },
        eventTime: micro(Date.now() - 60_000),
        reportingController: "kubelan.io/agent",
        reportingInstance: "lan-0",
        action: "Run",
        reason: "HookFailed",
        type: "Warning",
        note: "change hook failed",
        regarding: { apiVersion: "v1", kind: "Pod", namespace: ns, name: "lan-0" }
      })
      const patched = await t.call(
        "PATCH",
        `${events}/lan-0.series`,
        { series: { count: 3, lastObservedTime: micro(Date.now()) } },
        "application/merge-patch+json"
      )
      const table = await kubectl(t, ["get", "events", "-n", ns, "--field-selector", "involvedObject.name=lan-0", "-o", "wide"])
      return { created: created.status, patched: patched.status, table }
    }
  },
  {
    name: "client-node: read a missing ConfigMap (ApiException 404 and its Status)",
    run: async (t) => {
      try {
        await clientNode(t).core.readNamespacedConfigMap({ name: "missing", namespace: ns })
        return "found"
      } catch (error) {
        return apiError(error)
      }
    }
  },
  {
    name: "client-node: list EndpointSlices by the service-name label, as kubelan's backend asks",
    run: async (t) => {
      const list = await clientNode(t).discovery.listNamespacedEndpointSlice({
        namespace: ns,
        labelSelector: "kubernetes.io/service-name=kubelan"
      })
      return { kind: list.kind, apiVersion: list.apiVersion, names: list.items.map((slice) => slice.metadata?.generateName) }
    }
  },
  {
    name: "client-node: create a ConfigMap that exists (ApiException 409 and its Status)",
    run: async (t) => {
      try {
        await clientNode(t).core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "kubelan" } } })
        return "created"
      } catch (error) {
        return apiError(error)
      }
    }
  },
  {
    name: "kubectl api-resources: the kinds kubelan and its scenarios use",
    run: async (t) => {
      const result = await t.kubectl(["api-resources", "--no-headers"])
      const used = new Set([
        "pods",
        "services",
        "configmaps",
        "serviceaccounts",
        "namespaces",
        "nodes",
        "events",
        "endpointslices",
        "statefulsets",
        "deployments",
        "replicasets",
        "roles",
        "rolebindings",
        "clusterroles",
        "clusterrolebindings",
        "networkpolicies"
      ])
      return result.stdout
        .split("\n")
        .filter((line) => used.has(line.split(/\s+/)[0] ?? ""))
        .map((line) => line.replace(/\s+/g, " "))
        .sort()
    }
  },
  {
    name: "kubectl explain statefulset.spec.podManagementPolicy",
    run: (t) => kubectl(t, ["explain", "statefulset.spec.podManagementPolicy"])
  },
  {
    name: "kubectl delete -f the shipped example --wait: every kind deleted",
    run: (t) => kubectl(t, ["delete", "-n", ns, "-f", exampleManifest, "--wait"])
  },
  {
    name: "garbage collection: the StatefulSet's pods and ControllerRevisions go with it",
    run: async (t) =>
      (await eventually(t, ["get", "pods,controllerrevisions", "-n", ns, "-o", "name"], (out) => out.trim() === "")) ? "gone" : "left"
  },
  { name: "kubectl delete namespace --wait", run: (t) => kubectl(t, ["delete", "namespace", ns, "--wait", "--timeout=60s"]) },
  { name: "kubectl get namespace after its deletion: NotFound", run: (t) => kubectl(t, ["get", "namespace", ns]) }
]
