import { readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/** Where the simulator keeps its state, and the names of what it makes in the kernel. */
export const stateDir = process.env.KUBELAN_SIM_STATE ?? "/run/kubelan-sim"
export const paths = {
  pid: `${stateDir}/daemon.pid`,
  log: `${stateDir}/daemon.log`,
  ready: `${stateDir}/ready`,
  socket: `${stateDir}/api.sock`,
  /** The API over TLS, where pods' requests arrive (through the fabric's relay) and are authenticated. */
  tlsSocket: `${stateDir}/api-tls.sock`,
  pki: `${stateDir}/pki`,
  kubeconfig: `${stateDir}/kubeconfig`,
  pods: `${stateDir}/pods`,
  /** How the kubelan containers run (image or process), for `status`. */
  runtime: `${stateDir}/runtime`
}

/** Every namespace the simulator makes starts with this; `down` removes all of them. */
export const netnsPrefix = process.env.KUBELAN_SIM_PREFIX ?? "klsim-"

export const agentBundle = fileURLToPath(new URL("../../agent/dist/kubelan.mjs", import.meta.url))

/**
 * Where a pod's namespace and files are: named by its UID, never by its name, so nothing a
 * client writes in a manifest becomes part of a path the kubelet touches as root.
 */
export const podNetns = (uid: string) => `${netnsPrefix}p-${uid}`
export const podDir = (uid: string) => join(paths.pods, uid)
export const daemonScript = fileURLToPath(new URL("./daemon.ts", import.meta.url))
export const forwarderScript = fileURLToPath(new URL("./forwarder.ts", import.meta.url))

const agentPackage = JSON.parse(readFileSync(new URL("../../agent/package.json", import.meta.url), "utf8")) as {
  kubelan: { nodeFlags: Array<string>; nodeEnv: Record<string, string> }
}
/** The node options and environment the image runs the agent with: one definition, in the agent's package.json. */
export const agentNodeFlags: ReadonlyArray<string> = agentPackage.kubelan.nodeFlags
export const agentNodeEnv: Readonly<Record<string, string>> = agentPackage.kubelan.nodeEnv
