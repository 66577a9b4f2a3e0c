// The simulator's background process, started by `kubelan-sim up`: the cluster (API, fabric and
// nodes, controllers, kubelets) until SIGTERM, which stops all of it and removes what it made.
//   node daemon.ts [--listen HOST:PORT] [--nodes N] [--runtime image|process] [--control-plane fake|real]
import { clearReady, markReady, startCluster } from "./Cluster.ts"
import type { ContainerRuntime } from "./kubelet/Image.ts"
import type { ControlPlaneKind } from "./real/ControlPlaneKind.ts"

const log = (message: string) => process.stdout.write(`${new Date().toISOString()} ${message}\n`)
const option = (flag: string) => {
  const index = process.argv.indexOf(flag)
  return index > 0 ? process.argv[index + 1] : undefined
}
const nodes = Number(option("--nodes") ?? 1)
const cluster = await startCluster({
  listen: option("--listen") ?? "127.0.0.1:6443",
  nodes: Array.from({ length: nodes }, () => ({})),
  log,
  runtime: option("--runtime") as ContainerRuntime | undefined,
  controlPlane: option("--control-plane") as ControlPlaneKind | undefined
}).catch((error: unknown) => {
  // What stopped it, in one line for `up` to show; the cluster has already undone what it made.
  log(`could not start: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
})
markReady()
log("ready")

let stopping = false
const shutdown = async () => {
  if (stopping) return
  stopping = true
  log("stopping: pods, network, API server")
  await cluster.stop()
  clearReady()
  log("stopped")
  process.exit(0)
}
process.on("SIGTERM", () => void shutdown())
process.on("SIGINT", () => void shutdown())
