import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import type { Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type ControlPlane, relayToLoopback, startControlPlane } from "@kubelan/kube-real"
import {
  type AgentProcess,
  eventually,
  fdbDestinations,
  inNetns,
  makePodNetwork,
  type PodNetwork,
  ping,
  startAgent
} from "@kubelan/testkit"
import { execa } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseAllDocuments } from "yaml"
import { forwarderScript } from "../src/Paths.ts"

/**
 * The agent in-cluster against the real kube-apiserver (issue 13): the shipped ServiceAccount,
 * Role, RoleBinding, ConfigMap and Service applied unchanged with kubectl, pods whose
 * EndpointSlices the real EndpointSlice controller writes, and agents that find the API as a pod
 * does: KUBERNETES_SERVICE_HOST/PORT and a pod-bound token under
 * /var/run/secrets/kubernetes.io/serviceaccount. No KUBECONFIG, no other permission.
 */
const example = readFileSync(new URL("../../../deploy/k8s-example.yaml", import.meta.url), "utf8")
const documents = parseAllDocuments(example).map((document) => document.toJSON() as { kind: string; data?: Record<string, string> })
// Everything but the StatefulSet: its pods are made here, bound to a node, as the kubelet would run them.
const shipped = documents.filter((document) => document.kind !== "StatefulSet")
const agentConfig = documents.find((document) => document.kind === "ConfigMap")?.data?.["kubelan.yaml"] as string

let cp: ControlPlane | undefined
let net: PodNetwork | undefined
let relay: Server | undefined
const forwarders: Array<{ kill(signal: NodeJS.Signals): void } & PromiseLike<unknown>> = []
const agents: Array<AgentProcess> = []
let dir = ""

const kubectl = (...args: Array<string>) =>
  execa("kubectl", ["--kubeconfig", cp?.kubeconfig as string, ...args], { reject: false, all: true })

/** A pod bound to the node, Running and Ready at the pod network's address, as its kubelet reports it. */
const runPod = async (name: string, ip: string) => {
  const created = await cp?.call("POST", "/api/v1/namespaces/default/pods", {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { app: "kubelan" } },
    spec: { serviceAccountName: "kubelan", nodeName: "node-1", containers: [{ name: "kubelan", image: "ghcr.io/kubelan/kubelan:latest" }] }
  })
  expect(created?.status, JSON.stringify(created?.body)).toBe(201)
  const pod = created?.body as { metadata: { uid: string }; status: unknown }
  const now = new Date().toISOString()
  const status = await cp?.call("PUT", `/api/v1/namespaces/default/pods/${name}/status`, {
    ...pod,
    status: {
      phase: "Running",
      podIP: ip,
      podIPs: [{ ip }],
      hostIP: "10.98.0.1",
      conditions: [
        { type: "Ready", status: "True", lastTransitionTime: now },
        { type: "ContainersReady", status: "True", lastTransitionTime: now }
      ]
    }
  })
  expect(status?.status, JSON.stringify(status?.body)).toBe(200)
  return pod.metadata.uid
}

/** The agent of a pod: the API through a forwarder on the pod's loopback, its token bound to the pod. */
const startPodAgent = async (index: number, name: string, uid: string) => {
  const pod = net?.pods[index]
  if (pod === undefined || cp === undefined) throw new Error("no pod network")
  const forwarder = execa(
    "ip",
    ["netns", "exec", pod.netns, process.execPath, forwarderScript, join(dir, "api.sock"), "127.0.0.1", "443"],
    {
      reject: false,
      buffer: false
    }
  )
  forwarders.push(forwarder)
  await new Promise<void>((resolve) => forwarder.stdout?.setEncoding("utf8").once("data", () => resolve()))
  const account = join(dir, name)
  mkdirSync(account)
  writeFileSync(join(account, "token"), await cp.token("default", "kubelan", { pod: { name, uid } }))
  writeFileSync(join(account, "ca.crt"), cp.caCert)
  writeFileSync(join(account, "namespace"), "default")
  const agent = startAgent({
    netns: pod.netns,
    config: agentConfig,
    serviceAccountDir: account,
    env: {
      KUBERNETES_SERVICE_HOST: "127.0.0.1",
      KUBERNETES_SERVICE_PORT: "443",
      KL_IP: pod.ip,
      KL_NAMESPACE: "default",
      KL_POD_NAME: name,
      KL_POD_UID: uid
    }
  })
  agents.push(agent)
  return agent
}

describe("the agent in-cluster against kube-apiserver v1.32.0, with exactly the shipped Role", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "kubelan-incluster-"))
    ;[cp, net] = await Promise.all([startControlPlane({ controllers: true }), makePodNetwork({ purpose: "incluster", pods: 3 })])
    relay = await relayToLoopback(join(dir, "api.sock"), cp.port)
    const applied = await execa("kubectl", ["--kubeconfig", cp.kubeconfig, "apply", "-f", "-"], {
      input: shipped.map((document) => JSON.stringify(document)).join("\n"),
      reject: false,
      all: true
    })
    expect(applied.exitCode, applied.all).toBe(0)
    const node = await cp.call("POST", "/api/v1/nodes", { apiVersion: "v1", kind: "Node", metadata: { name: "node-1" } })
    expect(node.status, JSON.stringify(node.body)).toBe(201)
  }, 180_000)

  afterAll(async () => {
    for (const agent of agents) await agent.kill("SIGKILL")
    for (const forwarder of forwarders) forwarder.kill("SIGKILL")
    await Promise.allSettled(forwarders)
    relay?.close()
    await cp?.stop()
    await net?.destroy()
    if (dir !== "") rmSync(dir, { recursive: true, force: true })
  })

  it("the shipped Role grants what the agent uses and nothing beyond its namespace", async () => {
    const as = ["--as", "system:serviceaccount:default:kubelan"]
    const can = async (...args: Array<string>) => (await kubectl("auth", "can-i", ...as, ...args)).stdout.trim()
    expect(await can("list", "endpointslices.discovery.k8s.io")).toBe("yes")
    expect(await can("watch", "endpointslices.discovery.k8s.io")).toBe("yes")
    expect(await can("create", "events.events.k8s.io")).toBe("yes")
    expect(await can("list", "endpointslices.discovery.k8s.io", "-n", "kube-system")).toBe("no")
    expect(await can("get", "pods")).toBe("no")
    expect(await can("list", "endpointslices.discovery.k8s.io", "--all-namespaces")).toBe("no")
  })

  it("agents follow the real EndpointSlice controller's slices, reach each other, and record Events about their pods", async () => {
    const names = ["kubelan-0", "kubelan-1", "kubelan-2"]
    const uids: Array<string> = []
    for (const [index, name] of names.entries()) uids.push(await runPod(name, net?.pods[index]?.ip as string))
    const running = await Promise.all(names.map((name, index) => startPodAgent(index, name, uids[index] as string)))
    for (const agent of running) await agent.waitReady(60_000)
    const ips = (net?.pods ?? []).map((pod) => pod.ip)
    for (const [index, pod] of (net?.pods ?? []).entries()) {
      const others = ips.filter((_, other) => other !== index).sort()
      await eventually(async () => ((await fdbDestinations(pod.netns, "kubelan")).join(" ") === others.join(" ") ? true : undefined), {
        timeoutMillis: 30_000,
        what: `${names[index]}'s FDB to hold ${others.join(" ")}`
      })
    }
    // The ConfigMap's addresses: kubelan-0 is 192.168.69.1, kubelan-2 192.168.69.3.
    await ping(net?.pods[0]?.netns as string, "192.168.69.3")
    // A reload the agent refuses: the Event about it reaches the pod through the Role's
    // events.k8s.io rule (kubectl describe pod shows it).
    running[0]?.writeConfig(`${agentConfig}\nhooks: {timeout: -1s}\n`)
    await eventually(
      async () => {
        const events = await kubectl("get", "events", "--field-selector", "involvedObject.name=kubelan-0", "-o", "json")
        const items = (JSON.parse(events.stdout) as { items: Array<{ reason?: string; reportingComponent?: string }> }).items
        return items.some((event) => event.reason === "ConfigRejected" && event.reportingComponent === "kubelan.io/agent")
          ? true
          : undefined
      },
      { timeoutMillis: 20_000, what: "the ConfigRejected Event about kubelan-0" }
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n--- kubelan-0 ---\n${running[0]?.output()}`)
    })
    // A pod gone: the controller rewrites the slice, and the others drop it.
    const deleted = await cp?.call("DELETE", "/api/v1/namespaces/default/pods/kubelan-1?gracePeriodSeconds=0")
    expect(deleted?.status).toBe(200)
    await eventually(
      async () =>
        (await fdbDestinations(net?.pods[0]?.netns as string, "kubelan")).join(" ") === (net?.pods[2]?.ip as string) ? true : undefined,
      { timeoutMillis: 30_000, what: "kubelan-0 to drop kubelan-1" }
    )
    for (const agent of running) {
      expect(agent.output()).not.toMatch(/forbidden/i)
      expect(agent.output()).not.toMatch(/\b401\b|Unauthorized/)
    }
    // In the pod's mount namespace only: the host has no ServiceAccount directory of its own.
    const host = await inNetns(net?.pods[0]?.netns as string, "ls", ["/run/secrets/kubernetes.io/serviceaccount"], { allowFailure: true })
    expect(host.stdout).not.toContain("token")
  })
})
