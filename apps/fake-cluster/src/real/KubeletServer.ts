import { readFileSync } from "node:fs"
import { createServer, type Server } from "node:https"
import type { AddressInfo } from "node:net"
import {
  ApiError,
  execOptions,
  type KubeObject,
  logOptions,
  refuseUpgrade,
  runExecSession,
  type Store,
  speaksChannelProtocol
} from "@kubelan/kube-fake"
import { makeServingPki } from "@kubelan/kube-real"
import { tryGet } from "../Api.ts"
import type { Kubelet } from "../kubelet/Kubelet.ts"

/**
 * The kubelet's server, where kube-apiserver sends `kubectl logs` (`/containerLogs/NS/POD/C`)
 * and `kubectl exec` (`/exec/NS/POD/C`, a WebSocket passed through): one for every node of
 * this machine, on loopback, which the nodes report as their ExternalIP and kubelet port. It
 * answers whoever reaches that port, so it listens nowhere else.
 */
export const startKubeletServer = async (dir: string, store: Store, kubelets: () => ReadonlyArray<Kubelet>) => {
  const pki = await makeServingPki(dir)
  // The apiserver's parameters as the kubelet reads them: input/output/error for stdin/stdout/stderr, the container in the path.
  const asked = (url: URL) => {
    const [, verb = "", namespace = "", name = "", container = ""] = url.pathname.split("/").map(decodeURIComponent)
    const pod = tryGet(store, "pods", namespace, name)
    if (pod === undefined) throw new ApiError(404, "NotFound", `pod ${namespace}/${name} is not known to this node`)
    const query = new URLSearchParams(url.searchParams)
    query.set("container", container)
    for (const [from, to] of [
      ["input", "stdin"],
      ["output", "stdout"],
      ["error", "stderr"]
    ] as const)
      if (url.searchParams.has(from)) query.set(to, url.searchParams.get(from) as string)
    return { verb, pod, query }
  }
  const kubeletOf = (pod: KubeObject) => {
    const kubelet = kubelets().find((candidate) => candidate.runs(pod.metadata.uid as string))
    if (kubelet === undefined) throw new ApiError(400, "BadRequest", `pod ${pod.metadata.name} is not running on any node yet`)
    return kubelet
  }
  const server: Server = createServer(
    { cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile) },
    (request, response) => {
      void (async () => {
        try {
          const { verb, pod, query } = asked(new URL(request.url ?? "/", "https://kubelet"))
          if (verb !== "containerLogs" || request.method !== "GET") throw new ApiError(404, "NotFound", `no ${request.method} ${verb} here`)
          const write = await kubeletOf(pod).logs(pod, logOptions(pod, query))
          const abort = new AbortController()
          request.on("close", () => abort.abort())
          response.writeHead(200, { "content-type": "text/plain", "transfer-encoding": "chunked" })
          response.flushHeaders()
          await write(response, abort.signal)
          response.end()
        } catch (error) {
          // As the kubelet's http.Error: the message alone, which kube-apiserver turns into the Status kubectl shows.
          const failure = error instanceof ApiError ? error : new ApiError(500, "InternalError", String(error))
          if (!response.headersSent) response.writeHead(failure.code, { "content-type": "text/plain; charset=utf-8" })
          response.end(`${failure.message}\n`)
        }
      })()
    }
  )
  server.on("upgrade", (request, socket, head) => {
    try {
      const { verb, pod, query } = asked(new URL(request.url ?? "/", "https://kubelet"))
      if (verb !== "exec") throw new ApiError(404, "NotFound", `no upgrade to ${verb} here`)
      const options = execOptions(pod, query)
      if (!speaksChannelProtocol(request))
        throw new ApiError(400, "BadRequest", "this kubelet runs exec over WebSocket (v5.channel.k8s.io or v4.channel.k8s.io)")
      runExecSession(request, socket, head, options, (started) => kubeletOf(pod).exec(pod, started))
    } catch (error) {
      refuseUpgrade(socket, error instanceof ApiError ? error : new ApiError(500, "InternalError", String(error)))
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  return { port: (server.address() as AddressInfo).port, close: () => server.close() }
}
