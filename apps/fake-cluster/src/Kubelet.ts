import { createWriteStream, existsSync, mkdirSync, rmSync, type WriteStream } from "node:fs"
import { join } from "node:path"
import { isRecord, type KubeObject, type Store } from "@kubelan/kube-fake"
import { execa } from "execa"
import { kind, specOf, statusOf, tryGet, watchKind } from "./Api.ts"
import { type AddressPool, createSandbox } from "./Network.ts"
import { agentBundle, agentNodeFlags, paths, podDir, podNetns, podNetwork } from "./Paths.ts"
import { removeNetns, sh } from "./Shell.ts"
import { writeConfigMapVolume } from "./Volumes.ts"

interface Container {
  name: string
  image?: string
  args?: Array<string>
  env?: Array<{
    name: string
    value?: string
    valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { name: string; key: string } }
  }>
  ports?: Array<{ name?: string; containerPort: number }>
  volumeMounts?: Array<{ name: string; mountPath: string }>
  readinessProbe?: Probe
  livenessProbe?: Probe
}
interface Probe {
  httpGet?: { path?: string; port: number | string }
  initialDelaySeconds?: number
  periodSeconds?: number
  timeoutSeconds?: number
  failureThreshold?: number
}

const spawnAgent = (netns: string, args: ReadonlyArray<string>, env: Record<string, string>) =>
  execa("ip", ["netns", "exec", netns, process.execPath, ...agentNodeFlags, agentBundle, ...args], {
    env,
    extendEnv: false,
    reject: false,
    buffer: false,
    stdin: "ignore"
  })

interface ProcessState {
  child: ReturnType<typeof spawnAgent> | undefined
  restarts: number
  ready: boolean
  startedAt: string
  livenessFailures: number
  readinessFailures: number
}

interface RunningPod {
  uid: string
  namespace: string
  name: string
  netns: string
  ip: string
  dir: string
  /** Volume name → host directory. */
  volumes: Map<string, string>
  /** Only the `kubelan` container runs a process; the others are the namespace itself. */
  agent: ProcessState | undefined
  timers: Array<NodeJS.Timeout>
  terminating: boolean
  log: WriteStream
}

/** The container that runs the agent: named kubelan, or from a kubelan image. */
export const isAgentContainer = (container: Container) => container.name === "kubelan" || /(^|\/)kubelan(:|@|$)/.test(container.image ?? "")

const fieldValue = (pod: KubeObject, ip: string, path: string): string => {
  const labelMatch = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path)
  if (labelMatch) return pod.metadata[labelMatch[1] as "labels" | "annotations"]?.[labelMatch[2] as string] ?? ""
  switch (path) {
    case "metadata.name":
      return pod.metadata.name ?? ""
    case "metadata.namespace":
      return pod.metadata.namespace ?? ""
    case "metadata.uid":
      return pod.metadata.uid ?? ""
    case "status.podIP":
      return ip
    case "status.hostIP":
      return podNetwork.gateway
    case "spec.nodeName":
      return "kubelan-sim"
    case "spec.serviceAccountName":
      return String(specOf(pod).serviceAccountName ?? "default")
    default:
      return ""
  }
}

/** Runs pods as network namespaces on the node bridge, the `kubelan` container as the real agent. */
export class Kubelet {
  private readonly pods = new Map<string, RunningPod>()
  private stopWatching: Array<() => void> = []
  private vethCounter = 0

  private readonly store: Store
  private readonly pool: AddressPool

  constructor(store: Store, pool: AddressPool) {
    this.store = store
    this.pool = pool
  }

  start() {
    mkdirSync(paths.pods, { recursive: true })
    this.stopWatching.push(
      watchKind(this.store, "pods", (event) => {
        const pod = event.object
        const uid = pod.metadata.uid as string
        if (event.type === "DELETED") void this.teardown(uid)
        else if (pod.metadata.deletionTimestamp) void this.terminate(pod)
        else if (!this.pods.has(uid)) void this.run(pod)
      }),
      watchKind(this.store, "configmaps", (event) => {
        if (event.type !== "DELETED") this.refreshConfigMap(event.object)
      })
    )
  }

  async stop() {
    for (const stop of this.stopWatching) stop()
    this.stopWatching = []
    await Promise.all([...this.pods.keys()].map((uid) => this.teardown(uid)))
  }

  private async run(pod: KubeObject) {
    const namespace = pod.metadata.namespace as string
    const name = pod.metadata.name as string
    const uid = pod.metadata.uid as string
    const dir = podDir(uid)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    const running: RunningPod = {
      uid,
      namespace,
      name,
      netns: podNetns(uid),
      ip: this.pool.allocate(),
      dir,
      volumes: new Map(),
      agent: undefined,
      timers: [],
      terminating: false,
      log: createWriteStream(join(dir, "kubelan.log"), { flags: "a" })
    }
    this.pods.set(uid, running)
    try {
      await createSandbox(running.netns, this.vethCounter++, running.ip)
      for (const volume of (specOf(pod).volumes ?? []) as Array<{ name: string; configMap?: { name: string } }>) {
        if (volume.configMap === undefined) continue
        const host = join(dir, "volumes", volume.name)
        const configMap = tryGet(this.store, "configmaps", namespace, volume.configMap.name)
        writeConfigMapVolume(host, (configMap?.data ?? {}) as Record<string, string>)
        running.volumes.set(volume.name, host)
      }
      const containers = (specOf(pod).containers ?? []) as Array<Container>
      const agentContainer = containers.find(isAgentContainer)
      if (agentContainer !== undefined) {
        running.agent = {
          child: undefined,
          restarts: 0,
          ready: agentContainer.readinessProbe === undefined,
          startedAt: new Date().toISOString(),
          livenessFailures: 0,
          readinessFailures: 0
        }
        this.startAgent(pod, running, agentContainer)
        this.scheduleProbes(pod, running, agentContainer)
      }
      this.reportStatus(running)
    } catch (error) {
      running.log.write(`kubelan-sim: could not start pod: ${String(error)}\n`)
      process.stderr.write(`kubelet: ${namespace}/${name}: ${String(error)}\n`)
    }
  }

  private agentArgs(running: RunningPod, container: Container) {
    const args = [...(container.args ?? [])]
    // The image's default config location; the simulator's volume stands in for the mount.
    const mount = (container.volumeMounts ?? []).find((volumeMount) => volumeMount.mountPath === "/run/config")
    const host = mount === undefined ? undefined : running.volumes.get(mount.name)
    if (host !== undefined && !args.includes("--config")) args.push("--config", join(host, "kubelan.yaml"))
    return args
  }

  private agentEnv(pod: KubeObject, running: RunningPod, container: Container) {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      HOSTNAME: pod.metadata.name as string,
      KUBECONFIG: paths.podKubeconfig
    }
    for (const variable of container.env ?? []) {
      if (variable.value !== undefined) env[variable.name] = variable.value
      else if (variable.valueFrom?.fieldRef) env[variable.name] = fieldValue(pod, running.ip, variable.valueFrom.fieldRef.fieldPath)
      else if (variable.valueFrom?.configMapKeyRef) {
        const configMap = tryGet(this.store, "configmaps", running.namespace, variable.valueFrom.configMapKeyRef.name)
        const value = (configMap?.data as Record<string, string> | undefined)?.[variable.valueFrom.configMapKeyRef.key]
        if (value !== undefined) env[variable.name] = value
      }
    }
    return env
  }

  private startAgent(pod: KubeObject, running: RunningPod, container: Container) {
    const state = running.agent as ProcessState
    const child = spawnAgent(running.netns, this.agentArgs(running, container), this.agentEnv(pod, running, container))
    state.child = child
    state.startedAt = new Date().toISOString()
    running.log.write(`kubelan-sim: ${state.startedAt} starting container kubelan\n`)
    child.stdout?.pipe(running.log, { end: false })
    child.stderr?.pipe(running.log, { end: false })
    void child.then((result) => {
      if (state.child !== child || running.terminating || !this.pods.has(running.uid)) return
      // restartPolicy Always, with the kubelet's growing back-off (shortened here).
      state.child = undefined
      state.ready = false
      state.restarts += 1
      running.log.write(`kubelan-sim: container kubelan exited (${result.exitCode ?? result.signal}); restart ${state.restarts}\n`)
      this.reportStatus(running)
      const delay = Math.min(10_000, 500 * 2 ** Math.min(state.restarts - 1, 5))
      running.timers.push(setTimeout(() => !running.terminating && this.startAgent(pod, running, container), delay))
    })
  }

  private async probe(running: RunningPod, container: Container, probe: Probe) {
    const port =
      typeof probe.httpGet?.port === "number"
        ? probe.httpGet.port
        : (container.ports ?? []).find((candidate) => candidate.name === probe.httpGet?.port)?.containerPort
    if (port === undefined) return false
    const timeout = String(probe.timeoutSeconds ?? 1)
    const result = await sh(
      "ip",
      [
        "netns",
        "exec",
        running.netns,
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-m",
        timeout,
        `http://${running.ip}:${port}${probe.httpGet?.path ?? "/"}`
      ],
      { allowFailure: true }
    )
    const status = Number(result.stdout)
    return status >= 200 && status < 400
  }

  private scheduleProbes(pod: KubeObject, running: RunningPod, container: Container) {
    const state = running.agent as ProcessState
    const every = (probe: Probe, check: () => Promise<void>) => {
      const period = (probe.periodSeconds ?? 10) * 1000
      const loop = async () => {
        if (running.terminating || !this.pods.has(running.uid)) return
        await check()
        running.timers.push(setTimeout(loop, period))
      }
      running.timers.push(setTimeout(loop, (probe.initialDelaySeconds ?? 0) * 1000 + 200))
    }
    const readiness = container.readinessProbe
    if (readiness?.httpGet)
      every(readiness, async () => {
        const ok = state.child !== undefined && (await this.probe(running, container, readiness))
        state.readinessFailures = ok ? 0 : state.readinessFailures + 1
        const ready = ok ? true : state.readinessFailures >= (readiness.failureThreshold ?? 3) ? false : state.ready
        if (ready !== state.ready) {
          state.ready = ready
          this.reportStatus(running)
        }
      })
    const liveness = container.livenessProbe
    if (liveness?.httpGet)
      every(liveness, async () => {
        if (state.child === undefined) return
        const ok = await this.probe(running, container, liveness)
        state.livenessFailures = ok ? 0 : state.livenessFailures + 1
        if (state.livenessFailures >= (liveness.failureThreshold ?? 3)) {
          state.livenessFailures = 0
          running.log.write("kubelan-sim: liveness probe failed; restarting container kubelan\n")
          state.child.kill("SIGTERM")
          setTimeout(() => state.child?.kill("SIGKILL"), 5000).unref()
        }
      })
    void pod
  }

  private reportStatus(running: RunningPod) {
    const pod = tryGet(this.store, "pods", running.namespace, running.name)
    if (pod === undefined || pod.metadata.uid !== running.uid) return
    const containers = (specOf(pod).containers ?? []) as Array<Container>
    const statuses = containers.map((container) => {
      const agent = isAgentContainer(container) ? running.agent : undefined
      const up = agent === undefined || agent.child !== undefined
      return {
        name: container.name,
        image: container.image ?? "",
        imageID: "",
        containerID: `kubelan-sim://${running.uid}/${container.name}`,
        ready: agent === undefined ? true : up && agent.ready,
        started: up,
        restartCount: agent?.restarts ?? 0,
        state: up ? { running: { startedAt: agent?.startedAt ?? new Date().toISOString() } } : { waiting: { reason: "CrashLoopBackOff" } }
      }
    })
    const ready = statuses.every((status) => status.ready)
    const condition = (type: string, status: boolean) => ({
      type,
      status: status ? "True" : "False",
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z")
    })
    const previous = statusOf(pod)
    const keep = (type: string, status: boolean) => {
      const old = ((previous.conditions ?? []) as Array<{ type: string; status: string; lastTransitionTime: string }>).find(
        (candidate) => candidate.type === type
      )
      return old !== undefined && old.status === (status ? "True" : "False") ? old : condition(type, status)
    }
    const status = {
      phase: "Running",
      hostIP: podNetwork.gateway,
      podIP: running.ip,
      podIPs: [{ ip: running.ip }],
      startTime: previous.startTime ?? new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      conditions: [keep("PodScheduled", true), keep("Initialized", true), keep("ContainersReady", ready), keep("Ready", ready)],
      containerStatuses: statuses
    }
    this.store.update(kind("pods"), running.namespace, running.name, { ...pod, status }, "status")
  }

  private refreshConfigMap(configMap: KubeObject) {
    for (const running of this.pods.values()) {
      if (running.namespace !== configMap.metadata.namespace) continue
      const pod = tryGet(this.store, "pods", running.namespace, running.name)
      for (const volume of (pod === undefined ? [] : (specOf(pod).volumes ?? [])) as Array<{
        name: string
        configMap?: { name: string }
      }>) {
        const host = running.volumes.get(volume.name)
        if (volume.configMap?.name === configMap.metadata.name && host !== undefined)
          writeConfigMapVolume(host, (isRecord(configMap.data) ? configMap.data : {}) as Record<string, string>)
      }
    }
  }

  /** Graceful deletion: SIGTERM to the agent, SIGKILL after the grace period, then the pod goes. */
  private async terminate(pod: KubeObject) {
    const running = this.pods.get(pod.metadata.uid as string)
    if (running === undefined) {
      this.forceDelete(pod)
      return
    }
    if (running.terminating) return
    running.terminating = true
    const grace = Number((pod.metadata as Record<string, unknown>).deletionGracePeriodSeconds ?? 30)
    const child = running.agent?.child
    if (child !== undefined) {
      child.kill("SIGTERM")
      const killer = setTimeout(() => child.kill("SIGKILL"), grace * 1000)
      await child
      clearTimeout(killer)
    }
    await this.teardown(running.uid)
    this.forceDelete(pod)
  }

  private forceDelete(pod: KubeObject) {
    try {
      this.store.delete(kind("pods"), pod.metadata.namespace, pod.metadata.name as string, { gracePeriodSeconds: 0 })
    } catch {
      // already gone
    }
  }

  private async teardown(uid: string) {
    const running = this.pods.get(uid)
    if (running === undefined) return
    this.pods.delete(uid)
    running.terminating = true
    for (const timer of running.timers) clearTimeout(timer)
    running.agent?.child?.kill("SIGKILL")
    await removeNetns(running.netns)
    this.pool.release(running.ip)
    running.log.end()
    if (existsSync(running.dir)) rmSync(join(running.dir, "volumes"), { recursive: true, force: true })
  }
}
