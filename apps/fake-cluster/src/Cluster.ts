import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { ApiError, type KubeFakeServer, type KubeObject, type Store, startKubeFake, writeKubeconfig } from "@kubelan/kube-fake"
import { type Endpoint, kubernetesVersion } from "@kubelan/kube-real"
import { execa } from "execa"
import { startDeploymentController } from "./controllers/Deployments.ts"
import { startEndpointSliceController } from "./controllers/EndpointSlices.ts"
import { startGarbageCollector } from "./controllers/GarbageCollector.ts"
import { startReplicaSetController } from "./controllers/ReplicaSets.ts"
import { startRootCaPublisher } from "./controllers/RootCaPublisher.ts"
import { startScheduler } from "./controllers/Scheduler.ts"
import { startServiceAccountController } from "./controllers/ServiceAccounts.ts"
import { startStatefulSetController } from "./controllers/StatefulSets.ts"
import { type ContainerRuntime, chooseRuntime } from "./kubelet/Image.ts"
import { type ApiAccess, Kubelet } from "./kubelet/Kubelet.ts"
import { apiAddress, apiPort, maxNodes, nodeName, phantomAddress, phantomCapacity } from "./network/Addressing.ts"
import { AddressPool } from "./network/AddressPool.ts"
import { createFabric, type Fabric, type LinkSettings } from "./network/Fabric.ts"
import { raiseHostLimits, releaseHostLimits } from "./network/HostLimits.ts"
import { startNetworkPolicyController } from "./network/NetworkPolicies.ts"
import { forwarderScript, netnsPrefix, paths, stateDir } from "./Paths.ts"
import { makeClusterPki } from "./Pki.ts"
import type { ControlPlaneKind } from "./real/ControlPlaneKind.ts"
import { startKubeletServer } from "./real/KubeletServer.ts"
import { type RealApi, startRealApi } from "./real/RealControlPlane.ts"

export interface ClusterOptions {
  /** Where kubectl reaches the API (`HOST:PORT`; port 0 picks one). */
  readonly listen: string
  /** One entry per node, with its uplink's settings. */
  readonly nodes: ReadonlyArray<LinkSettings>
  /** Changes kept for watch resumption. */
  readonly history?: number
  readonly log?: (message: string) => void
  /** How the kubelan container runs; by default from the image when it holds the current build, else as a process. */
  readonly runtime?: ContainerRuntime | undefined
  /** kube-fake with the simulator's controllers (default), or the real kube-apiserver and kube-controller-manager. */
  readonly controlPlane?: ControlPlaneKind | undefined
}

/** A running simulator: the API, the network, the controllers and a kubelet per node. */
export interface Cluster {
  /** kube-fake; undefined with the real control plane. */
  readonly server: KubeFakeServer | undefined
  /** The cluster's objects: kube-fake's own, or a mirror of kube-apiserver's whose writes go to it. */
  readonly store: Store
  readonly controlPlane: ControlPlaneKind
  /** kube-apiserver as its administrator, with the real control plane. */
  readonly realApi: Endpoint | undefined
  readonly fabric: Fabric
  readonly kubelets: ReadonlyArray<Kubelet>
  /** How the kubelan containers run. */
  readonly runtime: ContainerRuntime
  /** A node's uplink settings; an MTU change reaches its running pods as a CNI plugin would do it. */
  setNodeLink(node: string, settings: LinkSettings): Promise<void>
  stop(): Promise<void>
}

export const startCluster = async (options: ClusterOptions): Promise<Cluster> => {
  const log = options.log ?? (() => {})
  if (options.nodes.length < 1 || options.nodes.length > maxNodes) throw new Error(`--nodes must be 1..${maxNodes}`)
  // Before anything is made: asking for an image that cannot be used is an error, not a fallback.
  const { runtime, note } = await chooseRuntime(options.runtime)
  mkdirSync(stateDir, { recursive: true })
  writeFileSync(paths.runtime, `${runtime}\n`)
  log(`containers: kubelan ${runtime === "image" ? `from the image ${note} (podman, runc)` : `as a process (${note})`}`)
  const real = options.controlPlane === "real"
  const kubelets: Array<Kubelet> = []
  // As the API server proxies them to the kubelet that runs the pod.
  const kubeletOf = (pod: KubeObject) => {
    const kubelet = kubelets.find((candidate) => candidate.runs(pod.metadata.uid as string))
    if (kubelet === undefined) throw new ApiError(400, "BadRequest", `pod ${pod.metadata.name} is not running on any node yet`)
    return kubelet
  }
  const stops: Array<() => void> = []
  let server: KubeFakeServer | undefined
  let realApi: RealApi | undefined
  let fabric: Fabric | undefined
  let forwarder: { kill: (signal: NodeJS.Signals) => void } | undefined
  let stopping: Promise<void> | undefined
  // Once: a second call (a runner's cleanup after a failed stop) waits for the first.
  const stop = () => {
    stopping ??= (async () => {
      for (const halt of stops.splice(0)) halt()
      try {
        await Promise.all(kubelets.map((kubelet) => kubelet.stop()))
        forwarder?.kill("SIGKILL")
        await fabric?.destroy()
        await server?.close()
        await realApi?.stop()
      } finally {
        releaseHostLimits()
      }
    })()
    return stopping
  }
  try {
    raiseHostLimits()
    let store: Store
    let caCert: string
    let token: (node: string) => ApiAccess["token"]
    let serving: { address: string; port: number } | undefined
    if (real) {
      const port = Number(options.listen.split(":").pop())
      realApi = await startRealApi({ port, nodes: options.nodes.map((_, index) => nodeName(index)), log })
      store = realApi.store
      caCert = realApi.controlPlane.caCert
      const started = realApi
      token = (node) => (namespace, serviceAccount, pod, seconds) => started.token(node, namespace, serviceAccount, pod, seconds)
      log(`kube-apiserver ${kubernetesVersion} on ${realApi.controlPlane.url}, kube-controller-manager running its controllers`)
      const server = await startKubeletServer(join(stateDir, "kubelet-pki"), store, () => kubelets)
      stops.push(server.close)
      serving = { address: "127.0.0.1", port: server.port }
    } else {
      const pki = await makeClusterPki(paths.pki, apiAddress)
      const fake = await startKubeFake({
        pods: {
          logs: (pod, asked) => kubeletOf(pod).logs(pod, asked),
          exec: (pod, asked) => kubeletOf(pod).exec(pod, asked)
        },
        listen: options.listen,
        socket: paths.socket,
        tls: { cert: pki.serverCert, key: pki.serverKey, socket: paths.tlsSocket },
        gracefulPodDeletion: true,
        history: options.history ?? 20_000
      })
      server = fake
      store = fake.store
      caCert = pki.caCert
      token = () => async (namespace, serviceAccount, pod, seconds) => {
        try {
          return fake.issueToken(namespace, serviceAccount, { pod, seconds })
        } catch {
          // No such ServiceAccount: the pod gets the CA and no token, and says so when it tries.
          return undefined
        }
      }
      writeKubeconfig(paths.kubeconfig, fake.url)
      log(`api server on ${fake.url} and unix:${paths.socket}`)
    }
    fabric = await createFabric(netnsPrefix, options.nodes)
    // Pods reach the API as in a cluster: https://kubernetes.default.svc, its CA, their token.
    const started = execa(
      "ip",
      ["netns", "exec", fabric.netns, process.execPath, forwarderScript, paths.tlsSocket, apiAddress, String(apiPort)],
      {
        reject: false,
        buffer: false
      }
    )
    forwarder = started
    await new Promise<void>((resolve, reject) => {
      started.stdout?.setEncoding("utf8").once("data", () => resolve())
      void started.then((result) => reject(new Error(`the API forwarder exited: ${String(result.stderr)}`)))
    })
    for (const node of fabric.nodes) log(`${node.name}: ${node.netns}, pods ${node.subnet.cidr}, uplink ${node.internalIP} mtu ${node.mtu}`)
    log(`fabric ${fabric.netns}: routes between pod subnets; API for pods on https://${apiAddress}:${apiPort}`)
    const phantoms = new AddressPool("the phantom range", phantomCapacity, phantomAddress)
    for (const node of fabric.nodes) {
      const kubelet = new Kubelet(
        realApi === undefined ? store : await realApi.nodeStore(node.name),
        node,
        {
          pods: new AddressPool(
            `the pod subnet of ${node.name}`,
            node.subnet.last - node.subnet.first + 1,
            (i) => `${node.subnet.base}${node.subnet.first + i}`
          ),
          phantoms
        },
        { host: apiAddress, port: apiPort, caCert, token: token(node.name) },
        runtime,
        serving
      )
      kubelet.start()
      kubelets.push(kubelet)
    }
    // With the real control plane, kube-controller-manager runs the workload, EndpointSlice,
    // ServiceAccount, root CA and garbage collection controllers; scheduling and network policy stay ours.
    stops.push(
      startScheduler(store),
      startNetworkPolicyController(store, () => kubelets),
      ...(real
        ? []
        : [
            startServiceAccountController(store),
            startRootCaPublisher(store, caCert),
            startEndpointSliceController(store),
            startStatefulSetController(store),
            startDeploymentController(store),
            startReplicaSetController(store),
            startGarbageCollector(store)
          ])
    )
  } catch (error) {
    await stop()
    throw error
  }
  const network = fabric
  return {
    server,
    store: realApi?.store ?? (server as KubeFakeServer).store,
    controlPlane: real ? "real" : "fake",
    realApi: realApi?.admin,
    fabric: network,
    kubelets,
    runtime,
    setNodeLink: async (name, settings) => {
      const index = network.nodes.findIndex((node) => node.name === name)
      const node = network.nodes[index]
      if (node === undefined)
        throw new Error(`no node ${name} (the nodes are ${network.nodes.map((candidate) => candidate.name).join(", ")})`)
      await network.setLink(node, settings)
      if (settings.mtu !== undefined) await kubelets[index]?.setMtu(settings.mtu)
    },
    stop
  }
}

/** Marks the simulator as up for the CLI; cleared when it stops. */
export const markReady = () => {
  writeFileSync(paths.pid, String(process.pid))
  writeFileSync(paths.ready, new Date().toISOString())
}

export const clearReady = () => {
  rmSync(paths.ready, { force: true })
  rmSync(paths.pid, { force: true })
}
