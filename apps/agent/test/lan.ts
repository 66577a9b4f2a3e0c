import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type AgentProcess, type Pod, type PodNetwork, startAgent } from "@kubelan/testkit"

/** The overlay address the demo's `up` hook gives pod N: 192.168.69.<N+1>, from HOSTNAME's ordinal. */
export const overlayAddress = (pod: Pod) => `192.168.69.${pod.index + 1}`

export const upHookAssigningAddress = (log: string) =>
  `['sh', '-c', 'ip addr add 192.168.69.$(( \${HOSTNAME##*-} + 1 ))/24 dev $IFACE && echo "up $IFACE" >> ${log}']`

export interface LanOptions {
  readonly members: ReadonlyArray<string>
  readonly service?: string
  readonly extra?: string
  readonly up?: string
  readonly change?: string
  /** The resync period; 1s unless a test needs the kernel's events to do the work alone. */
  readonly resync?: string
}

/** A static-membership config like a user would write. */
export const lanConfig = (options: LanOptions) => {
  const service = options.service ?? "default/lan"
  return [
    `services: [${service}]`,
    `resync_interval: ${options.resync ?? "1s"}`,
    "hooks:",
    `  up: ${options.up ?? "[]"}`,
    `  change: ${options.change ?? "[]"}`,
    "  timeout: 5s",
    "discovery:",
    "  backend: static",
    "  static:",
    `    ${service}: [${options.members.map((member) => `"${member}"`).join(", ")}]`,
    options.extra ?? ""
  ].join("\n")
}

export interface Lan {
  readonly agents: Array<AgentProcess>
  /** A scratch directory for hook output. */
  readonly dir: string
  upLog(pod: Pod): string
  start(pod: Pod, config?: string): AgentProcess
  stopAll(): Promise<void>
}

/** Starts one agent per pod, every pod a member, each with the address-assigning `up` hook. */
export const startLan = async (
  net: PodNetwork,
  options: { extra?: string; change?: (pod: Pod) => string; resync?: string } = {}
): Promise<Lan> => {
  const dir = mkdtempSync(join(tmpdir(), "kubelan-lan-"))
  const agents: Array<AgentProcess> = []
  const upLog = (pod: Pod) => join(dir, `up-${pod.index}.log`)
  const start = (pod: Pod, config?: string) => {
    const agent = startAgent({
      netns: pod.netns,
      env: { HOSTNAME: `lan-${pod.index}` },
      config:
        config ??
        lanConfig({
          members: net.pods.map((p) => p.ip),
          up: upHookAssigningAddress(upLog(pod)),
          ...(options.change ? { change: options.change(pod) } : {}),
          ...(options.extra ? { extra: options.extra } : {}),
          ...(options.resync ? { resync: options.resync } : {})
        })
    })
    agents[pod.index] = agent
    return agent
  }
  for (const pod of net.pods) start(pod)
  await Promise.all(agents.map((agent) => agent.waitReady()))
  return {
    agents,
    dir,
    upLog,
    start,
    stopAll: async () => {
      await Promise.all(agents.map((agent) => agent.kill("SIGKILL")))
    }
  }
}
