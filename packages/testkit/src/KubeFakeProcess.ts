import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { eventually } from "@kubelan/netlink/testing"
import { execa } from "execa"

const cli = fileURLToPath(new URL("../../kube-fake/src/cli.ts", import.meta.url))

export interface KubeFakeProcess {
  /** For the agent: a kubeconfig whose server is 127.0.0.1 inside the namespace. */
  readonly kubeconfig: string
  readonly socket: string
  /** Calls the API over the Unix socket, from outside the namespace. */
  api(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: any }>
  fault(request: Record<string, unknown>): Promise<void>
  /**
   * Stops the server and starts a new, empty one at the same addresses: what an API server
   * restored from an empty or older etcd looks like to a client (resourceVersions start over).
   */
  restart(): Promise<void>
  /** Per-client traffic (kube-fake's request log). */
  clients(): Promise<
    Record<string, { requests: number; bytesSent: number; watchEvents: number; eventsByKind: Record<string, number>; paths: Array<string> }>
  >
  stop(): Promise<void>
}

/** `kube-fake serve` inside a network namespace, listening on its loopback and on a Unix socket. */
export const startKubeFakeInNetns = async (
  netns: string,
  options: { history?: number; bookmarkSeconds?: number } = {}
): Promise<KubeFakeProcess> => {
  const dir = mkdtempSync(join(tmpdir(), "kube-fake-"))
  const socket = join(dir, "api.sock")
  const kubeconfig = join(dir, "kubeconfig")
  const spawn = () =>
    execa(
      "ip",
      [
        "netns",
        "exec",
        netns,
        process.execPath,
        cli,
        "serve",
        "--listen",
        "127.0.0.1:6443",
        "--socket",
        socket,
        "--kubeconfig",
        kubeconfig,
        "--history",
        String(options.history ?? 1000),
        "--bookmark-seconds",
        String(options.bookmarkSeconds ?? 1)
      ],
      { reject: false, all: true, buffer: false }
    )
  let output = ""
  const serve = async () => {
    const started = spawn()
    started.all?.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk
    })
    await eventually(async () => (existsSync(socket) && existsSync(kubeconfig) && (await healthy()) ? true : undefined), {
      what: `kube-fake in ${netns}: ${output}`
    })
    // Wrapped: a subprocess is a promise of its exit, which an async function would wait for.
    return { started }
  }
  const call = (method: string, path: string, body?: unknown, contentType = "application/json") =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = request(
        { socketPath: socket, path, method, headers: { "content-type": contentType, "user-agent": "kubelan-test" } },
        (response) => {
          let text = ""
          response.setEncoding("utf8")
          response.on("data", (chunk: string) => {
            text += chunk
          })
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text === "" ? undefined : JSON.parse(text) }))
        }
      )
      req.on("error", reject)
      req.end(body === undefined ? undefined : JSON.stringify(body))
    })
  const healthy = () =>
    call("GET", "/version").then(
      (answer) => answer.status === 200,
      () => false
    )
  let { started: child } = await serve()
  const stop = async () => {
    child.kill("SIGTERM")
    await child
  }
  return {
    kubeconfig,
    socket,
    api: call,
    restart: async () => {
      await stop()
      rmSync(socket, { force: true })
      child = (await serve()).started
    },
    fault: async (faultRequest) => {
      await call("POST", "/_fake/faults", faultRequest)
    },
    clients: async () => (await call("GET", "/_fake/clients")).body,
    stop
  }
}

/** An EndpointSlice as the EndpointSlice controller writes one. */
export const endpointSlice = (
  service: string,
  name: string,
  addresses: ReadonlyArray<string>,
  options: { addressType?: string; conditions?: Record<string, unknown> } = {}
) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: {
    name,
    labels: { "kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" }
  },
  addressType: options.addressType ?? "IPv4",
  endpoints: addresses.map((address) => ({
    addresses: [address],
    conditions: options.conditions ?? { ready: true, serving: true, terminating: false }
  }))
})
