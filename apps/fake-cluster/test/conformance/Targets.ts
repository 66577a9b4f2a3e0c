import { mkdtempSync, rmSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startKubeFake, writeKubeconfig } from "@kubelan/kube-fake"
import { type Answer, callJson, type Endpoint, startControlPlane } from "@kubelan/kube-real"
import { execa } from "execa"
import { startDeploymentController } from "../../src/controllers/Deployments.ts"
import { startEndpointSliceController } from "../../src/controllers/EndpointSlices.ts"
import { startGarbageCollector } from "../../src/controllers/GarbageCollector.ts"
import { startReplicaSetController } from "../../src/controllers/ReplicaSets.ts"
import { startRootCaPublisher } from "../../src/controllers/RootCaPublisher.ts"
import { startServiceAccountController } from "../../src/controllers/ServiceAccounts.ts"
import { startStatefulSetController } from "../../src/controllers/StatefulSets.ts"

/** One API server as kubectl and a plain HTTP client reach it, with the controllers a cluster runs beside it. */
export interface Target {
  readonly name: "kube-fake" | "kube-apiserver"
  readonly kubeconfig: string
  kubectl(
    args: ReadonlyArray<string>,
    input?: string
  ): Promise<{ readonly exitCode: number; readonly stdout: string; readonly stderr: string }>
  call(method: string, path: string, body?: unknown, contentType?: string): Promise<Answer>
  /** The lines of a streamed response (a watch) until it ends or `millis` pass. */
  stream(path: string, millis: number): Promise<ReadonlyArray<string>>
  stop(): Promise<void>
}

const kubectlIn = (dir: string, kubeconfig: string) => async (args: ReadonlyArray<string>, input?: string) => {
  const result = await execa("kubectl", ["--kubeconfig", kubeconfig, "--cache-dir", join(dir, "cache"), ...args], {
    reject: false,
    timeout: 60_000,
    ...(input === undefined ? { stdin: "ignore" as const } : { input })
  })
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr }
}

const streamLines = (transport: Endpoint, path: string, millis: number) =>
  new Promise<ReadonlyArray<string>>((resolve, reject) => {
    const url = new URL(transport.url + path)
    const controller = new AbortController()
    let data = ""
    const done = () => resolve(data.split("\n").filter((line) => line !== ""))
    const timer = setTimeout(() => {
      controller.abort()
      done()
    }, millis)
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      url,
      { signal: controller.signal, ...(transport.ca === undefined ? {} : { ca: transport.ca }), headers: transport.headers },
      (response) => {
        response.setEncoding("utf8")
        response.on("data", (chunk) => {
          data += chunk
        })
        response.on("end", () => {
          clearTimeout(timer)
          done()
        })
        response.on("error", () => {})
      }
    )
    req.on("error", (error) => {
      if (!controller.signal.aborted) {
        clearTimeout(timer)
        reject(error)
      }
    })
    req.end()
  })

/**
 * kube-fake as kubelan-sim runs it: the API and the sim's controllers (StatefulSet, ReplicaSet,
 * Deployment, EndpointSlice, ServiceAccount, root CA publisher, garbage collector); no scheduler and no kubelet, as
 * the real control plane below has none. History is short so that compaction can be reached.
 */
export const startKubeFakeTarget = async (history: number): Promise<Target> => {
  const dir = mkdtempSync(join(tmpdir(), "conformance-kube-fake-"))
  const server = await startKubeFake({ history, gracefulPodDeletion: true })
  const stops = [
    startServiceAccountController(server.store),
    startRootCaPublisher(server.store, "-----BEGIN CERTIFICATE-----\n(kube-fake serves plain HTTP here)\n-----END CERTIFICATE-----\n"),
    startEndpointSliceController(server.store),
    startStatefulSetController(server.store),
    startDeploymentController(server.store),
    startReplicaSetController(server.store),
    startGarbageCollector(server.store)
  ]
  const kubeconfig = join(dir, "kubeconfig")
  writeKubeconfig(kubeconfig, server.url)
  const transport: Endpoint = { url: server.url, headers: {} }
  return {
    name: "kube-fake",
    kubeconfig,
    kubectl: kubectlIn(dir, kubeconfig),
    call: (method, path, body, contentType) => callJson(transport, method, path, body, contentType),
    stream: (path, millis) => streamLines(transport, path, millis),
    stop: async () => {
      for (const stop of stops) stop()
      await server.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** etcd, kube-apiserver and kube-controller-manager v1.32.0, built from their Go modules. */
export const startKubeApiserverTarget = async (): Promise<Target> => {
  const plane = await startControlPlane()
  const transport: Endpoint = { url: plane.url, headers: { authorization: `Bearer ${plane.adminToken}` }, ca: plane.caCert }
  return {
    name: "kube-apiserver",
    kubeconfig: plane.kubeconfig,
    kubectl: kubectlIn(plane.dir, plane.kubeconfig),
    call: (method, path, body, contentType) => callJson(transport, method, path, body, contentType),
    stream: (path, millis) => streamLines(transport, path, millis),
    stop: () => plane.stop()
  }
}
