import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type KubeFakeServer, startKubeFake, writeKubeconfig } from "@kubelan/kube-fake"
import { execa } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { v1beta1Follower } from "../src/index.ts"

/**
 * kube-fake's discovery.k8s.io/v1beta1 EndpointSlices as a client of the original kubelan's age
 * reads them: client-go v0.19's shared informer on every slice in the cluster (the original's
 * watch), built by scripts/follower-build. Written as v1, they reach it as v1beta1, topology and all.
 */
let server: KubeFakeServer
let dir = ""
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kubelan-follower-"))
  server = await startKubeFake({})
})
afterAll(async () => {
  await server?.close()
  rmSync(dir, { recursive: true, force: true })
})

const slices = (namespace: string) => `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`
const api = async (method: string, path: string, body?: unknown) => {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}
const slice = (name: string, service: string, endpoints: Array<Record<string, unknown>>, resourceVersion?: string) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name, labels: { "kubernetes.io/service-name": service }, ...(resourceVersion ? { resourceVersion } : {}) },
  addressType: "IPv4",
  endpoints
})

describe("client-go v0.19's EndpointSlice informer (discovery.k8s.io/v1beta1) against kube-fake", () => {
  it("follows slices written as v1 in every namespace: adds, ready changes, node topology and deletes", async () => {
    const kubeconfig = join(dir, "kubeconfig")
    writeKubeconfig(kubeconfig, server.url)
    await api("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "other" } })
    const first = await api("POST", slices("default"), slice("lan-1", "lan", [{ addresses: ["10.0.0.1"], nodeName: "node-0" }]))
    expect(first.status).toBe(201)
    const follower = execa(v1beta1Follower(), [kubeconfig], { reject: false, buffer: false })
    const lines: Array<Record<string, Array<string>>> = []
    follower.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      for (const line of chunk.split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line))
    })
    let stderr = ""
    follower.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    const sees = async (what: Record<string, Array<string>>) => {
      const deadline = Date.now() + 15_000
      while (JSON.stringify(lines.at(-1)) !== JSON.stringify(what)) {
        if (Date.now() > deadline)
          throw new Error(`the follower never saw ${JSON.stringify(what)}; last: ${JSON.stringify(lines.at(-1))}\n${stderr}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    try {
      await sees({ "default/lan": ["10.0.0.1@node-0"] })
      const second = await api(
        "PUT",
        `${slices("default")}/lan-1`,
        slice(
          "lan-1",
          "lan",
          [
            { addresses: ["10.0.0.1"], nodeName: "node-0" },
            { addresses: ["10.0.0.2"], nodeName: "node-1", conditions: { ready: false } },
            { addresses: ["10.0.0.3"], nodeName: "node-1", conditions: { ready: true } }
          ],
          first.body.metadata.resourceVersion
        )
      )
      expect(second.status).toBe(200)
      await sees({ "default/lan": ["10.0.0.1@node-0", "10.0.0.3@node-1"] })
      expect((await api("POST", slices("other"), slice("b-1", "b", [{ addresses: ["10.1.0.1"] }]))).status).toBe(201)
      await sees({ "default/lan": ["10.0.0.1@node-0", "10.0.0.3@node-1"], "other/b": ["10.1.0.1@"] })
      expect((await api("DELETE", `${slices("default")}/lan-1`)).status).toBe(200)
      await sees({ "other/b": ["10.1.0.1@"] })
    } finally {
      follower.kill("SIGKILL")
      await follower
    }
  })
})
