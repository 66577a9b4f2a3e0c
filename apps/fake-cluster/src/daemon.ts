// The simulator's background process, started by `kubelan-sim up`: kube-fake, the node network
// and its API forwarder, the controllers and the kubelet. SIGTERM stops all of it and removes
// what it made.   node daemon.ts [--listen HOST:PORT]
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { startKubeFake, writeKubeconfig } from "@kubelan/kube-fake"
import { execa } from "execa"
import { startDeploymentController } from "./controllers/Deployments.ts"
import { startEndpointSliceController } from "./controllers/EndpointSlices.ts"
import { startGarbageCollector } from "./controllers/GarbageCollector.ts"
import { startStatefulSetController } from "./controllers/StatefulSets.ts"
import { Kubelet } from "./Kubelet.ts"
import { AddressPool, createNode } from "./Network.ts"
import { apiPortForPods, forwarderScript, nodeNetns, paths, podNetwork, stateDir } from "./Paths.ts"
import { removeNetns } from "./Shell.ts"

const log = (message: string) => process.stdout.write(`${new Date().toISOString()} ${message}\n`)
const listenIndex = process.argv.indexOf("--listen")
const listen = listenIndex > 0 ? (process.argv[listenIndex + 1] as string) : "127.0.0.1:6443"

mkdirSync(stateDir, { recursive: true })
const server = await startKubeFake({ listen, socket: paths.socket, gracefulPodDeletion: true })
writeKubeconfig(paths.kubeconfig, server.url)
writeKubeconfig(paths.podKubeconfig, `http://${podNetwork.gateway}:${apiPortForPods}`)
log(`api server on ${server.url} and unix:${paths.socket}`)

await createNode()
const forwarder = execa(
  "ip",
  ["netns", "exec", nodeNetns, process.execPath, forwarderScript, paths.socket, podNetwork.gateway, String(apiPortForPods)],
  {
    reject: false,
    buffer: false
  }
)
await new Promise<void>((resolve, reject) => {
  forwarder.stdout?.setEncoding("utf8").once("data", () => resolve())
  void forwarder.then((result) => reject(new Error(`the API forwarder exited: ${String(result.stderr)}`)))
})
log(
  `node ${nodeNetns}: bridge br0 ${podNetwork.gateway}/${podNetwork.prefixLength}, API for pods on ${podNetwork.gateway}:${apiPortForPods}`
)

const kubelet = new Kubelet(server.store, new AddressPool())
kubelet.start()
const stops = [
  startEndpointSliceController(server.store),
  startStatefulSetController(server.store),
  startDeploymentController(server.store),
  startGarbageCollector(server.store)
]
writeFileSync(paths.pid, String(process.pid))
writeFileSync(paths.ready, new Date().toISOString())
log("ready")

let stopping = false
const shutdown = async () => {
  if (stopping) return
  stopping = true
  log("stopping: pods, node network, API server")
  for (const stop of stops) stop()
  await kubelet.stop()
  forwarder.kill("SIGKILL")
  await removeNetns(nodeNetns)
  await server.close()
  rmSync(paths.ready, { force: true })
  rmSync(paths.pid, { force: true })
  log("stopped")
  process.exit(0)
}
process.on("SIGTERM", () => void shutdown())
process.on("SIGINT", () => void shutdown())
