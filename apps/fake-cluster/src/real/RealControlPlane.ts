import { randomBytes } from "node:crypto"
import { copyFileSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import { request } from "node:https"
import type { Server } from "node:net"
import { join } from "node:path"
import { type ControlPlane, callJson, type Endpoint, relayToLoopback, requestToken, startControlPlane } from "@kubelan/kube-real"
import { apiAddress } from "../network/Addressing.ts"
import { paths, stateDir } from "../Paths.ts"
import { type Mirrored, startMirror } from "./Mirror.ts"
import { ReplicaStore } from "./ReplicaStore.ts"

/** What the whole cluster's components read (the scheduler, network policies, scenarios). */
const clusterKinds: ReadonlyArray<Mirrored> = [
  "namespaces",
  "nodes",
  "pods",
  "services",
  "endpointslices",
  "networkpolicies",
  "statefulsets",
  "deployments",
  "configmaps",
  "serviceaccounts"
].map((resource) => ({ resource }))

/** A kubelet's view: its own pods, and what their volumes and admission name. */
const nodeKinds = (node: string): ReadonlyArray<Mirrored> => [
  { resource: "namespaces" },
  { resource: "nodes", fieldSelector: `metadata.name=${node}` },
  { resource: "pods", fieldSelector: `spec.nodeName=${node}` },
  { resource: "configmaps" },
  { resource: "serviceaccounts" }
]

const leaseSeconds = 40

/** Plain HTTP on a Unix socket, sent on to kube-apiserver with the administrator's token. */
const serveAsAdministrator = (socketPath: string, controlPlane: ControlPlane) =>
  new Promise<Server>((resolve, reject) => {
    rmSync(socketPath, { force: true })
    const server = createServer((incoming, outgoing) => {
      const upstream = request(
        new URL(controlPlane.url + (incoming.url ?? "/")),
        {
          method: incoming.method,
          headers: { ...incoming.headers, host: new URL(controlPlane.url).host, authorization: `Bearer ${controlPlane.adminToken}` },
          ca: controlPlane.caCert
        },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(outgoing)
        }
      )
      upstream.on("error", (error) => {
        outgoing.writeHead(502, { "content-type": "text/plain" })
        outgoing.end(error.message)
      })
      incoming.pipe(upstream)
    })
    server.once("error", reject)
    server.listen(socketPath, () => resolve(server))
  })
const microTime = () => new Date().toISOString().replace(/(\.\d{3})Z$/, "$1000Z")

export interface RealApi {
  readonly controlPlane: ControlPlane
  /** kube-apiserver as its administrator. */
  readonly admin: Endpoint
  /** The cluster as the scheduler and the scenarios see it, writing as the administrator. */
  readonly store: ReplicaStore
  /** A node's kubelet store: its view of the cluster, writing as `system:node:NAME`. */
  nodeStore(node: string): Promise<ReplicaStore>
  /** A pod's ServiceAccount token from the TokenRequest API, asked for by its node. */
  token(node: string, namespace: string, account: string, pod: { name: string; uid: string }, seconds: number): Promise<string | undefined>
  stop(): Promise<void>
}

/**
 * kube-apiserver and kube-controller-manager (the real StatefulSet, EndpointSlice, garbage
 * collector, ServiceAccount and root CA controllers) in place of kube-fake and the simulator's
 * controllers. Nodes authenticate with their own tokens as `system:node:NAME` (Node authorizer,
 * NodeRestriction admission), renew their Leases, and the kubelets read the cluster through
 * mirrors; kubectl gets the administrator's kubeconfig.
 */
export const startRealApi = async (options: {
  readonly port: number
  readonly nodes: ReadonlyArray<string>
  readonly log: (message: string) => void
}): Promise<RealApi> => {
  const nodeTokens = new Map(options.nodes.map((node) => [node, randomBytes(24).toString("hex")]))
  const controlPlane = await startControlPlane({
    dir: join(stateDir, "kube"),
    controllers: true,
    addresses: [apiAddress],
    port: options.port,
    users: [...nodeTokens].map(([node, token]) => ({ token, name: `system:node:${node}`, groups: ["system:nodes"] })),
    apiserverArgs: [
      "--enable-admission-plugins=NodeRestriction",
      // The kubelets' server is on this machine's loopback, which each node reports as its ExternalIP.
      "--kubelet-preferred-address-types=ExternalIP",
      // kubectl's exec WebSocket passed through to the kubelet as it came, rather than turned into SPDY.
      "--feature-gates=TranslateStreamCloseWebsocketRequests=false"
    ],
    controllerArgs: ["--kube-api-qps=500", "--kube-api-burst=1000"],
    log: options.log
  })
  const stops: Array<() => void> = []
  let relay: Server | undefined
  let adminSocket: Server | undefined
  const stop = async () => {
    for (const halt of stops.splice(0)) halt()
    relay?.close()
    adminSocket?.close()
    await controlPlane.stop()
  }
  try {
    copyFileSync(controlPlane.kubeconfig, paths.kubeconfig)
    // Pods reach the API at the fabric's address; the forwarder there relays to this socket.
    relay = await relayToLoopback(paths.tlsSocket, controlPlane.port)
    // The CLI's own socket (status, logs, exec), as kube-fake serves it: as the administrator.
    adminSocket = await serveAsAdministrator(paths.socket, controlPlane)
    const report = (message: string) => options.log(`to kube-apiserver: ${message}`)
    const endpoint = (token: string): Endpoint => ({
      url: controlPlane.url,
      headers: { authorization: `Bearer ${token}`, "user-agent": "kubelan-sim" },
      ca: controlPlane.caCert
    })
    const admin = endpoint(controlPlane.adminToken)
    const store = new ReplicaStore(admin, report)
    const mirror = startMirror(admin, store, clusterKinds, options.log)
    stops.push(mirror.stop)
    await mirror.synced
    const nodeEndpoint = (node: string) => endpoint(nodeTokens.get(node) as string)
    // The node's heartbeat: without it the node lifecycle controller would mark it NotReady and its pods not ready.
    for (const node of options.nodes) {
      const renew = async () => {
        const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node}`
        const spec = { holderIdentity: node, leaseDurationSeconds: leaseSeconds, renewTime: microTime() }
        const renewed = await callJson(nodeEndpoint(node), "PATCH", path, { spec }, "application/merge-patch+json").catch(() => undefined)
        if (renewed?.status === 404)
          await callJson(nodeEndpoint(node), "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: node, namespace: "kube-node-lease" },
            spec
          }).catch(() => undefined)
      }
      void renew()
      const timer = setInterval(() => void renew(), 10_000)
      stops.push(() => clearInterval(timer))
    }
    return {
      controlPlane,
      admin,
      store,
      nodeStore: async (node) => {
        // Read as the administrator (a real kubelet watches each object its pods name); written as the node.
        const nodeStore = new ReplicaStore(nodeEndpoint(node), report)
        const nodeMirror = startMirror(admin, nodeStore, nodeKinds(node), options.log)
        stops.push(nodeMirror.stop)
        await nodeMirror.synced
        return nodeStore
      },
      token: async (node, namespace, account, pod, seconds) => {
        const answer = await requestToken(nodeEndpoint(node), namespace, account, { seconds, pod }).catch(() => undefined)
        if (answer?.token === undefined)
          report(`TokenRequest for ${namespace}/${account} (pod ${pod.name}): HTTP ${answer?.status ?? "unreachable"}`)
        return answer?.token
      },
      stop
    }
  } catch (error) {
    await stop()
    throw error
  }
}
