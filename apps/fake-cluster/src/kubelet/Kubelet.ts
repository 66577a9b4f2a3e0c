import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, existsSync, mkdirSync, rmSync, type WriteStream, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import type { Writable } from "node:stream"
import { ApiError, type ExecOptions, type ExecProcess, isRecord, type KubeObject, type LogOptions, type Store } from "@kubelan/kube-fake"
import { kind, specOf, statusOf, tryGet, watchKind } from "../Api.ts"
import { EventRecorder, type EventType } from "../Events.ts"
import type { AddressPool } from "../network/AddressPool.ts"
import type { NodeNetwork } from "../network/Fabric.ts"
import { createSandbox, setSandboxMtu, setSandboxPartitioned } from "../network/Sandbox.ts"
import { agentBundle, agentNodeEnv, agentNodeFlags, paths, podDir, podNetns } from "../Paths.ts"
import { isPhantom } from "../Phantoms.ts"
import { removeNetns } from "../Shell.ts"
import { ContainerLog, writeLog } from "./ContainerLogs.ts"
import { containerPidFile, containerProcess, execArgv, podContainers, type Runtime, runtimeOf } from "./Containers.ts"
import { processEnvironment, startExec } from "./Exec.ts"
import { type ContainerRuntime, containerName, podmanProcessEnv, podmanRunArgv, removeContainer, signalContainer } from "./Image.ts"
import { Prober } from "./Prober.ts"
import { volumeMode, writeConfigMapVolume } from "./Volumes.ts"

interface Container {
  name: string
  image?: string
  command?: Array<string>
  args?: Array<string>
  env?: Array<{
    name: string
    value?: string
    valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { name: string; key: string } }
  }>
  ports?: Array<{ name?: string; containerPort: number }>
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>
  readinessProbe?: Probe
  livenessProbe?: Probe
  startupProbe?: Probe
  /** On an init container, `Always` makes it a native sidecar: it keeps running beside the app. */
  restartPolicy?: string
  terminationMessagePolicy?: string
  securityContext?: {
    capabilities?: { add?: Array<string>; drop?: Array<string> }
    readOnlyRootFilesystem?: boolean
    runAsUser?: number
    runAsGroup?: number
  }
}
interface Volume {
  name: string
  configMap?: { name: string; defaultMode?: number }
  emptyDir?: Record<string, unknown>
  projected?: { defaultMode?: number; sources?: Array<ProjectedSource> }
}
interface ProjectedSource {
  serviceAccountToken?: { path: string; expirationSeconds?: number }
  configMap?: { name: string; items?: Array<{ key: string; path: string }> }
  downwardAPI?: { items?: Array<{ path: string; fieldRef?: { fieldPath: string } }> }
}
interface Probe {
  httpGet?: { path?: string; port: number | string }
  initialDelaySeconds?: number
  periodSeconds?: number
  timeoutSeconds?: number
  failureThreshold?: number
}

/** Where a container stands in the pod's start order: init containers run one by one before the app. */
type ContainerRole = "init" | "sidecar" | "app"

interface ContainerState {
  readonly spec: Container
  readonly role: ContainerRole
  readonly runtime: Runtime
  child: ChildProcess | undefined
  /** Its turn has come (init order); until then it waits with reason PodInitializing. */
  launched: boolean
  /** Running, and its startup probe (if any) has passed: the next init container may start. */
  started: boolean
  /** An init container (not a sidecar) that exited 0; it is not run again. */
  completed: boolean
  restarts: number
  ready: boolean
  startedAt: string
  livenessFailures: number
  readinessFailures: number
  startupFailures: number
  log: WriteStream | undefined
  /** Its runs' output as `kubectl logs` reads it (undefined for a phantom's or a container with nothing to run). */
  output: ContainerLog | undefined
  /** The end of what the container printed, for a termination message (FallbackToLogsOnError). */
  tail: string
  lastTermination: { exitCode: number; reason: string; message: string | undefined; startedAt: string; finishedAt: string } | undefined
}

/** What the kubelet runs for one pod; read by the scenario runner, written only here. */
export interface RunningPod {
  readonly uid: string
  readonly namespace: string
  readonly name: string
  readonly phantom: boolean
  /** The pod's network namespace ("" for a phantom). */
  readonly netns: string
  readonly ip: string
  readonly node: NodeNetwork
  readonly hostSide: string
  readonly dir: string
  /** Volume name → host directory. */
  readonly volumes: Map<string, string>
  /** Volumes a container sees read-only whatever its mount says: ConfigMaps and the ServiceAccount's. */
  readonly readOnlyVolumes: Set<string>
  /** Mounts the kubelet adds to every container (the ServiceAccount volume). */
  /** In start order (init containers, then the app's); a container's index names its files. */
  readonly containers: Map<string, ContainerState>
  readonly timers: Array<NodeJS.Timeout>
  /** Every init container has completed or (a sidecar) started: the app containers run. */
  initialized: boolean
  /** Who waits for a container to reach a state (init order), woken at each status report. */
  readonly waiters: Array<() => boolean>
  terminating: boolean
  partitioned: boolean
}

/** Signals a container's whole process group: what it started (unshare's child, a shell's jobs) goes with it. */
const signal = (child: ChildProcess | undefined, name: NodeJS.Signals) => {
  if (child?.pid === undefined) return
  try {
    process.kill(-child.pid, name)
  } catch {
    child.kill(name)
  }
}

const kubeletVersion = "v1.32.0-kubelan-sim"

const tokenSeconds = 3600

/** How the kubelet gives pods the API: its address, the CA they trust, a token per ServiceAccount. */
export interface ApiAccess {
  readonly host: string
  readonly port: number
  readonly caCert: string
  /** A token for the account, bound to the pod; undefined when there is no such account. */
  readonly token: (
    namespace: string,
    serviceAccount: string,
    pod: { name: string; uid: string },
    seconds: number
  ) => Promise<string | undefined>
}

/**
 * A container's securityContext as `setpriv` argv, run after the mounts are made: the
 * capabilities kept (a runtime's default set unless `drop: [ALL]`, plus `add`), and the user.
 */
const securityArgv = (context: Container["securityContext"]): ReadonlyArray<string> => {
  const capability = (name: string) => name.toLowerCase().replace(/^cap_/, "")
  const dropsAll = (context?.capabilities?.drop ?? []).some((name) => name.toUpperCase() === "ALL")
  const added = (context?.capabilities?.add ?? []).map(capability)
  const dropped = (context?.capabilities?.drop ?? []).filter((name) => name.toUpperCase() !== "ALL").map(capability)
  const bounding = dropsAll ? ["-all", ...added.map((name) => `+${name}`)] : dropped.map((name) => `-${name}`)
  const nonRoot = context?.runAsUser !== undefined && context.runAsUser !== 0
  // A non-root process keeps the added capabilities only as ambient ones, as runtimes give them.
  const ambient = nonRoot ? added.map((name) => `+${name}`) : []
  const argv = ["setpriv"]
  if (bounding.length > 0 || ambient.length > 0) argv.push(`--inh-caps=${["-all", ...ambient].join(",")}`)
  if (bounding.length > 0) argv.push(`--bounding-set=${bounding.join(",")}`)
  if (ambient.length > 0) argv.push(`--ambient-caps=${ambient.join(",")}`)
  if (nonRoot) argv.push(`--reuid=${context?.runAsUser}`, `--regid=${context?.runAsGroup ?? context?.runAsUser}`, "--clear-groups")
  return argv.length === 1 ? [] : [...argv, "--"]
}

/**
 * Run inside a container's own mount namespace: `sh -c SETUP sh STAGE HOSTNAME ro|rw [HOST PATH ro|rw]... -- CMD...`.
 * The fresh /run and /tmp are made in STAGE (in the pod's directory) while the volumes' host
 * directories, which may be under /run themselves, are still in sight; then they are moved over
 * /run and /tmp. A mountPath is made only under those two; elsewhere it must exist on the
 * machine already (nothing is created outside the pod).
 */
const containerSetup = [
  "set -e",
  'stage="$1"',
  'hostname "$2"',
  'root="$3"',
  "shift 3",
  'mkdir -p "$stage/run" "$stage/tmp"',
  'mount -n -t tmpfs tmpfs "$stage/run"',
  'mount -n -t tmpfs tmpfs "$stage/tmp"',
  'while [ "$1" != "--" ]; do',
  '  case "$2" in',
  '    /run|/run/*|/tmp|/tmp/*) target="$stage$2"; mkdir -p "$target" ;;',
  '    *) target="$2" ;;',
  "  esac",
  '  if [ ! -d "$target" ]; then echo "kubelan-sim: mountPath $2 does not exist here (use one under /run or /tmp)" >&2; exit 1; fi',
  '  mount -n --bind "$1" "$target"',
  '  if [ "$3" = ro ]; then mount -n -o remount,bind,ro "$target"; fi',
  "  shift 3",
  "done",
  "shift",
  // The stage is itself under /run or /tmp: the other one moves first, or the stage would be covered.
  'case "$stage" in',
  '  /tmp/*) mount -n --move "$stage/run" /run; mount -n --move "$stage/tmp" /tmp ;;',
  '  *) mount -n --move "$stage/tmp" /tmp; mount -n --move "$stage/run" /run ;;',
  "esac",
  // readOnlyRootFilesystem: a read-only bind of the root, made the container's root (chroot), as a
  // runtime pivots into its root; /run, /tmp and the volumes stay as mounted.
  'if [ "$root" = ro ]; then mount -n --rbind / / && mount -n -o remount,bind,ro / && exec chroot / "$@"; fi',
  'exec "$@"'
].join("\n")
const isoSeconds = () => new Date().toISOString().replace(/\.\d+Z$/, "Z")

/** A container before its turn; a phantom pod's are started and ready as they are reported. */
const newContainerState = (spec: Container, role: ContainerRole, phantom: boolean): ContainerState => ({
  spec,
  role,
  runtime: phantom ? "none" : runtimeOf(spec),
  child: undefined,
  launched: phantom,
  started: phantom,
  completed: phantom && role === "init",
  restarts: 0,
  ready: phantom,
  startedAt: isoSeconds(),
  livenessFailures: 0,
  readinessFailures: 0,
  startupFailures: 0,
  log: undefined,
  output: undefined,
  tail: "",
  lastTermination: undefined
})

/**
 * A node's kubelet: registers its Node, runs the pods bound to it as network namespaces on the
 * node's bridge (the `kubelan` container as the real agent, containers with a command as
 * processes in the pod's namespaces), probes them from the node, and reports status. Phantom
 * pods get an address and a Ready status and nothing else.
 */
export class Kubelet {
  private readonly pods = new Map<string, RunningPod>()
  private stopWatching: Array<() => void> = []
  private vethCounter = 0
  private readonly prober: Prober
  private readonly events: EventRecorder

  private readonly store: Store
  private readonly node: NodeNetwork
  private readonly podAddresses: AddressPool
  private readonly phantomAddresses: AddressPool
  private readonly api: ApiAccess
  /** How the kubelan container runs: from the image under podman, or as a process (for speed). */
  private readonly runtime: ContainerRuntime
  /** Where kube-apiserver reaches this kubelet's server (logs, exec), when it serves one. */
  private readonly serving: { readonly address: string; readonly port: number } | undefined

  constructor(
    store: Store,
    node: NodeNetwork,
    pools: { pods: AddressPool; phantoms: AddressPool },
    api: ApiAccess,
    runtime: ContainerRuntime = "process",
    serving?: { readonly address: string; readonly port: number }
  ) {
    this.runtime = runtime
    this.serving = serving
    this.store = store
    this.node = node
    this.podAddresses = pools.pods
    this.phantomAddresses = pools.phantoms
    this.api = api
    this.prober = new Prober(node.netns)
    this.events = new EventRecorder(store, { component: "kubelet", host: node.name })
  }

  /** The pod as its events name it. */
  private podRef(running: RunningPod): KubeObject {
    return { apiVersion: "v1", kind: "Pod", metadata: { name: running.name, namespace: running.namespace, uid: running.uid } }
  }

  /** An event about one of a pod's containers, as the kubelet records it (its field path names the container). */
  private containerEvent(running: RunningPod, container: ContainerState, type: EventType, reason: string, message: string) {
    const list = container.role === "app" ? "containers" : "initContainers"
    this.events.record(this.podRef(running), type, reason, message, `spec.${list}{${container.spec.name}}`)
  }

  start() {
    mkdirSync(paths.pods, { recursive: true })
    this.register()
    this.stopWatching.push(
      watchKind(this.store, "pods", (event) => {
        const pod = event.object
        const uid = pod.metadata.uid as string
        if (event.type === "DELETED") void this.teardown(uid)
        else if (specOf(pod).nodeName !== this.node.name) return
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
    this.prober.stop()
  }

  /** Whether this kubelet runs the pod. */
  runs(uid: string) {
    return this.pods.has(uid)
  }

  /** A container of a pod this kubelet runs, or the error a kubelet answers with. */
  private containerOf(pod: KubeObject, name: string) {
    const running = this.pods.get(pod.metadata.uid as string)
    const container = running?.containers.get(name)
    if (running === undefined || container === undefined)
      throw new ApiError(400, "BadRequest", `container "${name}" in pod "${pod.metadata.name}" is waiting to start: ContainerCreating`)
    return { running, container }
  }

  /** `kubectl logs`: the current run's output, or the previous run's. */
  async logs(pod: KubeObject, options: LogOptions) {
    const { container } = this.containerOf(pod, options.container)
    // A container with nothing to run prints nothing, as a pause image would.
    if (container.output === undefined) return async () => {}
    const run = container.output.run(options, pod.metadata.name as string)
    return (out: Writable, signal: AbortSignal) => writeLog(run, options, out, signal)
  }

  /**
   * `kubectl exec`: the command in the container's namespaces (its root, hostname and the pod's
   * network), with its environment, user and capabilities, as a runtime runs it.
   */
  async exec(pod: KubeObject, options: ExecOptions): Promise<ExecProcess> {
    const { running, container } = this.containerOf(pod, options.container)
    if (running.terminating) throw new ApiError(400, "BadRequest", `pod ${running.name} is terminating`)
    const specs = [...running.containers.values()].map((state) => state.spec)
    const argv = execArgv(running.uid, specs, container.spec.name, [...securityArgv(container.spec.securityContext), ...options.command])
    if (argv === undefined) throw new ApiError(400, "BadRequest", `container ${container.spec.name} is not running in pod ${running.name}`)
    const env =
      processEnvironment(containerProcess(running.uid, this.indexOf(running, container))) ?? this.environment(pod, running, container)
    return startExec(argv, env, options)
  }

  /** The pods this kubelet runs, as they are now. */
  running(): ReadonlyArray<RunningPod> {
    return [...this.pods.values()]
  }

  /** The Node object, as a kubelet registers it: Ready, with its addresses and pod CIDR. */
  private register() {
    const node = {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: this.node.name, labels: { "kubernetes.io/hostname": this.node.name, "kubernetes.io/os": "linux" } },
      spec: { podCIDR: this.node.subnet.cidr, podCIDRs: [this.node.subnet.cidr] },
      status: {
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "KubeletReady",
            message: "kubelet is posting ready status",
            lastTransitionTime: isoSeconds()
          }
        ],
        addresses: [
          { type: "InternalIP", address: this.node.internalIP },
          // The address the control plane reaches this kubelet's server at (this machine's loopback).
          ...(this.serving === undefined ? [] : [{ type: "ExternalIP", address: this.serving.address }]),
          { type: "Hostname", address: this.node.name }
        ],
        ...(this.serving === undefined ? {} : { daemonEndpoints: { kubeletEndpoint: { Port: this.serving.port } } }),
        nodeInfo: { kubeletVersion, operatingSystem: "linux", architecture: "amd64", containerRuntimeVersion: "kubelan-sim://1" }
      }
    }
    const existing = tryGet(this.store, "nodes", undefined, this.node.name)
    if (existing === undefined) this.store.create(kind("nodes"), undefined, node)
    else this.store.update(kind("nodes"), undefined, this.node.name, { ...existing, status: node.status }, "status")
  }

  /** A running pod's network as a CNI plugin changes it when the node's MTU changes. */
  async setMtu(mtu: number) {
    for (const running of this.pods.values()) if (!running.phantom) await setSandboxMtu(running.netns, this.node, running.hostSide, mtu)
  }

  async setPartitioned(uid: string, partitioned: boolean) {
    const running = this.pods.get(uid)
    if (running === undefined || running.phantom) return
    await setSandboxPartitioned(running.netns, partitioned)
    running.partitioned = partitioned
  }

  /** container-kill: the agent dies at once (SIGKILL) and restarts as any crashed container does. */
  killAgent(uid: string) {
    const running = this.pods.get(uid)
    if (running !== undefined)
      for (const container of running.containers.values()) if (container.runtime === "agent") this.signal(running, container, "SIGKILL")
  }

  private async run(pod: KubeObject) {
    const namespace = pod.metadata.namespace as string
    const name = pod.metadata.name as string
    const uid = pod.metadata.uid as string
    const phantom = isPhantom(pod)
    const dir = podDir(uid)
    const initCount = ((specOf(pod).initContainers ?? []) as Array<unknown>).length
    const running: RunningPod = {
      uid,
      namespace,
      name,
      phantom,
      netns: phantom ? "" : podNetns(uid),
      ip: phantom ? this.phantomAddresses.allocate() : this.podAddresses.allocate(),
      node: this.node,
      hostSide: `klv${this.vethCounter++}`,
      dir,
      volumes: new Map(),
      readOnlyVolumes: new Set(),
      containers: new Map(
        podContainers(specOf(pod) as Parameters<typeof podContainers>[0]).map((spec, index) => {
          const role: ContainerRole = index >= initCount ? "app" : (spec as Container).restartPolicy === "Always" ? "sidecar" : "init"
          return [spec.name, newContainerState(spec as Container, role, phantom)]
        })
      ),
      timers: [],
      initialized: phantom,
      waiters: [],
      terminating: false,
      partitioned: false
    }
    this.pods.set(uid, running)
    if (phantom) return this.reportStatus(running)
    try {
      rmSync(dir, { recursive: true, force: true })
      mkdirSync(dir, { recursive: true })
      await createSandbox(running.netns, this.node, running.hostSide, running.ip)
      // Volumes by index, not by name: a name is the client's, a path is the kubelet's.
      for (const [index, volume] of ((specOf(pod).volumes ?? []) as Array<Volume>).entries()) {
        const host = join(dir, "volumes", String(index))
        if (volume.configMap !== undefined) {
          const configMap = tryGet(this.store, "configmaps", namespace, volume.configMap.name)
          writeConfigMapVolume(host, (configMap?.data ?? {}) as Record<string, string>, volumeMode(volume.configMap.defaultMode))
          running.readOnlyVolumes.add(volume.name)
        } else if (volume.emptyDir !== undefined) mkdirSync(host, { recursive: true })
        else if (volume.projected !== undefined) {
          await this.mountProjected(pod, running, host, volume.projected)
          running.readOnlyVolumes.add(volume.name)
        } else continue
        running.volumes.set(volume.name, host)
      }
      running.containers.forEach((container) => {
        if (container.runtime === "none") return
        container.log = createWriteStream(join(dir, `${container.spec.name}.log`), { flags: "a" })
        container.output = new ContainerLog(join(dir, "logs", String(this.indexOf(running, container))))
      })
      this.reportStatus(running)
      // Init containers one at a time, in order: each runs to completion, or (a native sidecar)
      // until it has started, before the next; the app containers start once all have.
      for (const container of running.containers.values()) {
        if (container.role === "app") continue
        this.launch(pod, running, container)
        this.reportStatus(running)
        await this.until(running, () => (container.role === "sidecar" ? container.started : container.completed))
        if (running.terminating) return
      }
      running.initialized = true
      for (const container of running.containers.values()) if (container.role === "app") this.launch(pod, running, container)
      this.reportStatus(running)
    } catch (error) {
      process.stderr.write(`kubelet ${this.node.name}: ${namespace}/${name}: ${String(error)}\n`)
    }
  }

  /** A container's turn: its process starts with its probes; one with nothing to run just is. */
  private launch(pod: KubeObject, running: RunningPod, container: ContainerState) {
    container.launched = true
    if (container.runtime === "none") {
      container.started = true
      container.completed = container.role === "init"
      container.ready = true
      return
    }
    this.startContainer(pod, running, container)
    this.scheduleProbes(running, container)
  }

  /** Resolves once the condition holds (checked at every status report), or the pod goes. */
  private until(running: RunningPod, condition: () => boolean) {
    return new Promise<void>((resolve) => {
      const check = () => {
        if (!condition() && !running.terminating) return false
        resolve()
        return true
      }
      if (!check()) running.waiters.push(check)
    })
  }

  private wake(running: RunningPod) {
    const waiting = running.waiters.splice(0)
    for (const check of waiting) if (!check()) running.waiters.push(check)
  }

  private fieldValue(pod: KubeObject, running: RunningPod, path: string): string {
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
        return running.ip
      case "status.hostIP":
        return this.node.internalIP
      case "spec.nodeName":
        return this.node.name
      case "spec.serviceAccountName":
        return String(specOf(pod).serviceAccountName ?? "default")
      default:
        return ""
    }
  }

  private environment(pod: KubeObject, running: RunningPod, container: ContainerState) {
    const env: Record<string, string> = { HOSTNAME: pod.metadata.name as string }
    // The image's own environment first (an image runtime has it from the image itself); the
    // container's env overrides it, as in a real pod.
    if (!this.fromImage(container)) {
      env.PATH = process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"
      if (container.runtime === "agent") Object.assign(env, agentNodeEnv)
    }
    // The `kubernetes` Service, as the kubelet tells every container where the API is.
    Object.assign(env, {
      KUBERNETES_SERVICE_HOST: this.api.host,
      KUBERNETES_SERVICE_PORT: String(this.api.port),
      KUBERNETES_SERVICE_PORT_HTTPS: String(this.api.port),
      KUBERNETES_PORT: `tcp://${this.api.host}:${this.api.port}`
    })
    for (const variable of container.spec.env ?? []) {
      if (variable.value !== undefined) env[variable.name] = variable.value
      else if (variable.valueFrom?.fieldRef) env[variable.name] = this.fieldValue(pod, running, variable.valueFrom.fieldRef.fieldPath)
      else if (variable.valueFrom?.configMapKeyRef) {
        const configMap = tryGet(this.store, "configmaps", running.namespace, variable.valueFrom.configMapKeyRef.name)
        const value = (configMap?.data as Record<string, string> | undefined)?.[variable.valueFrom.configMapKeyRef.key]
        if (value !== undefined) env[variable.name] = value
      }
    }
    return env
  }

  /** Whether a container runs from the image (the kubelan container, under the image runtime). */
  private fromImage(container: ContainerState) {
    return this.runtime === "image" && container.runtime === "agent"
  }

  private indexOf(running: RunningPod, container: ContainerState) {
    return [...running.containers.keys()].indexOf(container.spec.name)
  }

  /** A container's volumes: host directory, mountPath, and whether it is read-only. */
  private mounts(running: RunningPod, container: ContainerState) {
    return (container.spec.volumeMounts ?? []).flatMap((volumeMount) => {
      const host = running.volumes.get(volumeMount.name)
      const readOnly = running.readOnlyVolumes.has(volumeMount.name) || ("readOnly" in volumeMount && volumeMount.readOnly === true)
      return host === undefined ? [] : [{ host, path: volumeMount.mountPath, readOnly }]
    })
  }

  /**
   * The argv of a container. From the image: `podman run` in the pod's network namespace.
   * Otherwise its command (the agent bundle as the image runs it, for the kubelan container) in
   * the pod's network namespace, with mount and UTS namespaces of its own: a fresh /run and /tmp
   * (pid files, sockets), volumes at their mountPath, the pod's name as hostname. Either way the
   * securityContext applies as a runtime applies it: the capabilities it keeps, a read-only root,
   * the user. Paths and names reach the script as arguments, never as script text.
   */
  private argv(pod: KubeObject, running: RunningPod, container: ContainerState): ReadonlyArray<string> {
    const spec = container.spec
    const index = this.indexOf(running, container)
    if (this.fromImage(container))
      return podmanRunArgv({
        name: containerName(running.netns, index),
        netns: running.netns,
        hostname: running.name,
        pidFile: containerPidFile(running.uid, index),
        env: this.environment(pod, running, container),
        mounts: this.mounts(running, container),
        securityContext: spec.securityContext,
        command: spec.command,
        args: spec.args
      })
    // /var/run is /run on the node: a mount there is a mount under the container's own /run.
    const mounts = this.mounts(running, container).flatMap((mount) => [
      mount.host,
      mount.path.replace(/^\/var\/run\//, "/run/"),
      mount.readOnly ? "ro" : "rw"
    ])
    // The agent's own files stay in sight when the checkout lives under /tmp or /run, which the container gets fresh.
    if (container.runtime === "agent")
      for (const dir of new Set([dirname(process.execPath), dirname(agentBundle)]))
        if (/^\/(tmp|run)\//.test(dir)) mounts.push(dir, dir, "ro")
    const command =
      container.runtime === "agent"
        ? [process.execPath, ...agentNodeFlags, agentBundle, ...(spec.args ?? [])]
        : [...(spec.command ?? []), ...(spec.args ?? [])]
    return [
      "ip",
      "netns",
      "exec",
      running.netns,
      "unshare",
      "--mount",
      "--uts",
      "--fork",
      "--kill-child=SIGKILL",
      "--",
      "sh",
      "-c",
      containerSetup,
      "sh",
      join(running.dir, `container-${index}`),
      running.name,
      spec.securityContext?.readOnlyRootFilesystem === true ? "ro" : "rw",
      ...mounts,
      "--",
      ...securityArgv(spec.securityContext),
      ...command
    ]
  }

  /** A signal to a container, through its runtime: podman for an image's, its process group otherwise. */
  private signal(running: RunningPod, container: ContainerState, name: NodeJS.Signals) {
    if (container.child === undefined) return
    if (this.fromImage(container)) void signalContainer(containerName(running.netns, this.indexOf(running, container)), name)
    else signal(container.child, name)
  }

  /**
   * A projected volume, as the API server's ServiceAccount admission adds `kube-api-access-*` to
   * every pod: the ServiceAccount's token bound to the pod, ConfigMap keys (the cluster's CA from
   * `kube-root-ca.crt`) and the namespace. The token is renewed at 80 % of its life, through the
   * same atomic swap as a ConfigMap update.
   */
  private async mountProjected(pod: KubeObject, running: RunningPod, dir: string, projected: NonNullable<Volume["projected"]>) {
    const sources = projected.sources ?? []
    const account = String(specOf(pod).serviceAccountName ?? "default")
    const seconds = Math.max(
      600,
      sources.find((source) => source.serviceAccountToken)?.serviceAccountToken?.expirationSeconds ?? tokenSeconds
    )
    const write = async () => {
      const files: Record<string, string> = {}
      for (const source of sources) {
        if (source.serviceAccountToken !== undefined) {
          const token = await this.api.token(running.namespace, account, { name: running.name, uid: running.uid }, seconds)
          if (token !== undefined) files[source.serviceAccountToken.path] = token
        }
        if (source.configMap !== undefined) {
          const data = (tryGet(this.store, "configmaps", running.namespace, source.configMap.name)?.data ?? {}) as Record<string, string>
          // The root CA publisher may not have reached a brand-new namespace yet: the kubelet knows the CA.
          if (source.configMap.name === "kube-root-ca.crt" && data["ca.crt"] === undefined) data["ca.crt"] = this.api.caCert
          for (const item of source.configMap.items ?? Object.keys(data).map((key) => ({ key, path: key })))
            if (data[item.key] !== undefined) files[item.path] = data[item.key] as string
        }
        for (const item of source.downwardAPI?.items ?? []) {
          if (item.fieldRef?.fieldPath === "metadata.namespace") files[item.path] = running.namespace
          else if (item.fieldRef?.fieldPath === "metadata.name") files[item.path] = running.name
        }
      }
      writeConfigMapVolume(dir, files, volumeMode(projected.defaultMode))
    }
    await write()
    const renew = setInterval(() => !running.terminating && void write(), seconds * 800)
    running.timers.push(renew)
  }

  private startContainer(pod: KubeObject, running: RunningPod, container: ContainerState) {
    const index = this.indexOf(running, container)
    const image = this.fromImage(container)
    // A pid file left by the container's last run would point at a process that is gone.
    if (image) rmSync(containerPidFile(running.uid, index), { force: true })
    const [file = "ip", ...args] = this.argv(pod, running, container)
    const child = spawn(file, args, {
      env: image ? podmanProcessEnv() : this.environment(pod, running, container),
      stdio: ["ignore", "pipe", "pipe"],
      cwd: "/",
      detached: true
    })
    container.child = child
    container.startedAt = isoSeconds()
    // Started at once unless a startup probe must pass first; ready once started, unless a readiness probe says.
    container.started = container.spec.startupProbe === undefined
    container.ready = container.started && container.spec.readinessProbe === undefined
    container.startupFailures = 0
    // Where `exec -c` finds the container: its unshare (podman writes conmon's), whose one child is the container's first process.
    if (!image && container.runtime !== "none" && child.pid !== undefined)
      writeFileSync(containerPidFile(running.uid, index), String(child.pid))
    container.log?.write(`kubelan-sim: ${new Date().toISOString()} starting container ${container.spec.name}\n`)
    this.containerEvent(
      running,
      container,
      "Normal",
      "Pulled",
      `Container image "${container.spec.image ?? ""}" already present on machine`
    )
    this.containerEvent(running, container, "Normal", "Created", `Created container: ${container.spec.name}`)
    this.containerEvent(running, container, "Normal", "Started", `Started container ${container.spec.name}`)
    child.stdout?.pipe(container.log as WriteStream, { end: false })
    child.stderr?.pipe(container.log as WriteStream, { end: false })
    const output = container.output
    output?.begin(container.restarts)
    child.stdout?.on("data", (chunk: Buffer) => output?.write("stdout", chunk))
    child.stderr?.on("data", (chunk: Buffer) => output?.write("stderr", chunk))
    child.once("close", () => output?.end())
    const keepTail = (chunk: Buffer) => {
      container.tail = (container.tail + chunk.toString("utf8")).slice(-4096)
    }
    child.stdout?.on("data", keepTail)
    child.stderr?.on("data", keepTail)
    child.on("error", (error) => container.log?.write(`kubelan-sim: could not start container ${container.spec.name}: ${error.message}\n`))
    child.once("close", (code, signal) => {
      if (container.child !== child || running.terminating || !this.pods.has(running.uid)) return
      // restartPolicy Always, with the kubelet's growing back-off (shortened here).
      container.child = undefined
      container.ready = false
      container.started = false
      // What `kubectl describe pod` shows as Last State: the exit, and the log's end as the message
      // when the container asks for it (terminationMessagePolicy: FallbackToLogsOnError).
      const exitCode = code ?? 128 + (signal === "SIGKILL" ? 9 : 15)
      if (container.role === "init" && exitCode === 0) {
        // A plain init container is done: it stays terminated (Completed) and the next one starts.
        container.completed = true
        container.lastTermination = {
          exitCode,
          reason: "Completed",
          message: undefined,
          startedAt: container.startedAt,
          finishedAt: isoSeconds()
        }
        container.log?.write(`kubelan-sim: init container ${container.spec.name} completed\n`)
        this.reportStatus(running)
        return
      }
      container.restarts += 1
      const tail = container.tail.trimEnd().split("\n").slice(-80).join("\n").slice(-2048)
      container.lastTermination = {
        exitCode,
        reason: exitCode === 0 ? "Completed" : "Error",
        message: container.spec.terminationMessagePolicy === "FallbackToLogsOnError" && exitCode !== 0 && tail !== "" ? tail : undefined,
        startedAt: container.startedAt,
        finishedAt: isoSeconds()
      }
      container.tail = ""
      container.log?.write(`kubelan-sim: container ${container.spec.name} exited (${code ?? signal}); restart ${container.restarts}\n`)
      if (exitCode !== 0)
        this.containerEvent(
          running,
          container,
          "Warning",
          "BackOff",
          `Back-off restarting failed container ${container.spec.name} in pod ${running.name}_${running.namespace}(${running.uid})`
        )
      this.reportStatus(running)
      const delay = Math.min(10_000, 500 * 2 ** Math.min(container.restarts - 1, 5))
      running.timers.push(setTimeout(() => !running.terminating && this.startContainer(pod, running, container), delay))
    })
  }

  /** An HTTP probe: undefined when it passes, else why it failed, worded as the kubelet's Unhealthy events are. */
  private async probe(running: RunningPod, container: Container, probe: Probe): Promise<string | undefined> {
    const port =
      typeof probe.httpGet?.port === "number"
        ? probe.httpGet.port
        : (container.ports ?? []).find((candidate) => candidate.name === probe.httpGet?.port)?.containerPort
    if (port === undefined) return `no port ${JSON.stringify(probe.httpGet?.port)} in container ${container.name}`
    const url = `http://${running.ip}:${port}${probe.httpGet?.path ?? "/"}`
    const status = await this.prober.get(url, (probe.timeoutSeconds ?? 1) * 1000)
    if (status >= 200 && status < 400) return undefined
    return status === 0
      ? `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`
      : `HTTP probe failed with statuscode: ${status}`
  }

  /**
   * The probes as a kubelet runs them: the startup probe until it passes (failing it restarts the
   * container), then readiness and liveness. A container restarted starts over with its startup probe.
   */
  private scheduleProbes(running: RunningPod, container: ContainerState) {
    const every = (probe: Probe, check: () => Promise<void>) => {
      const period = (probe.periodSeconds ?? 10) * 1000
      const loop = async () => {
        if (running.terminating || !this.pods.has(running.uid)) return
        await check()
        running.timers.push(setTimeout(loop, period))
      }
      running.timers.push(setTimeout(loop, (probe.initialDelaySeconds ?? 0) * 1000 + 200))
    }
    const restart = (why: string) => {
      container.log?.write(`kubelan-sim: ${why} failed; restarting container ${container.spec.name}\n`)
      this.containerEvent(running, container, "Normal", "Killing", `Container ${container.spec.name} failed ${why}, will be restarted`)
      const child = container.child
      this.signal(running, container, "SIGTERM")
      setTimeout(() => container.child === child && this.signal(running, container, "SIGKILL"), 5000).unref()
    }
    const startup = container.spec.startupProbe
    if (startup?.httpGet)
      every(startup, async () => {
        if (container.child === undefined || container.started) return
        const failure = await this.probe(running, container.spec, startup)
        if (container.child === undefined || container.started) return
        if (failure !== undefined) this.containerEvent(running, container, "Warning", "Unhealthy", `Startup probe failed: ${failure}`)
        if (failure === undefined) {
          container.started = true
          container.ready = container.spec.readinessProbe === undefined
          container.log?.write(`kubelan-sim: ${new Date().toISOString()} container ${container.spec.name} started (startup probe passed)\n`)
          this.reportStatus(running)
        } else if (++container.startupFailures >= (startup.failureThreshold ?? 3)) {
          container.startupFailures = 0
          restart("startup probe")
        }
      })
    const readiness = container.spec.readinessProbe
    if (readiness?.httpGet)
      every(readiness, async () => {
        if (!container.started) return
        const failure =
          container.child === undefined ? "the container is not running" : await this.probe(running, container.spec, readiness)
        const ok = failure === undefined
        if (failure !== undefined && container.child !== undefined)
          this.containerEvent(running, container, "Warning", "Unhealthy", `Readiness probe failed: ${failure}`)
        container.readinessFailures = ok ? 0 : container.readinessFailures + 1
        const ready = ok ? true : container.readinessFailures >= (readiness.failureThreshold ?? 3) ? false : container.ready
        if (ready !== container.ready) {
          container.ready = ready
          this.reportStatus(running)
        }
      })
    const liveness = container.spec.livenessProbe
    if (liveness?.httpGet)
      every(liveness, async () => {
        if (container.child === undefined || !container.started) return
        const failure = await this.probe(running, container.spec, liveness)
        if (failure !== undefined) this.containerEvent(running, container, "Warning", "Unhealthy", `Liveness probe failed: ${failure}`)
        container.livenessFailures = failure === undefined ? 0 : container.livenessFailures + 1
        if (container.livenessFailures >= (liveness.failureThreshold ?? 3)) {
          container.livenessFailures = 0
          restart("liveness probe")
        }
      })
  }

  /** A container's status as the kubelet reports it: state, readiness, restarts and Last State. */
  private containerStatus(running: RunningPod, container: ContainerState) {
    const up = container.launched && (container.runtime === "none" || container.child !== undefined)
    const containerID = `kubelan-sim://${running.uid}/${container.spec.name}`
    const last = container.lastTermination
    const terminated = (termination: NonNullable<ContainerState["lastTermination"]>) => ({
      exitCode: termination.exitCode,
      reason: termination.reason,
      ...(termination.message === undefined ? {} : { message: termination.message }),
      startedAt: termination.startedAt,
      finishedAt: termination.finishedAt,
      containerID
    })
    const state =
      container.completed && last !== undefined
        ? { terminated: terminated(last) }
        : up
          ? { running: { startedAt: container.startedAt } }
          : !container.launched
            ? { waiting: { reason: "PodInitializing" } }
            : {
                waiting: {
                  reason: "CrashLoopBackOff",
                  message: `back-off restarting failed container ${container.spec.name} in pod ${running.name}`
                }
              }
    return {
      name: container.spec.name,
      image: container.spec.image ?? "",
      imageID: "",
      containerID,
      // A completed init container counts as ready, as the kubelet reports it.
      ready: container.completed || (up && container.ready),
      started: up && container.started,
      restartCount: container.restarts,
      state,
      ...(last === undefined || container.completed ? {} : { lastState: { terminated: terminated(last) } })
    }
  }

  private reportStatus(running: RunningPod) {
    const pod = tryGet(this.store, "pods", running.namespace, running.name)
    if (pod === undefined || pod.metadata.uid !== running.uid) return this.wake(running)
    const containers = [...running.containers.values()]
    const initStatuses = containers
      .filter((container) => container.role !== "app")
      .map((container) => this.containerStatus(running, container))
    const statuses = containers.filter((container) => container.role === "app").map((container) => this.containerStatus(running, container))
    // Ready: every app container and every native sidecar; plain init containers have done their part.
    const ready =
      running.initialized &&
      containers.every((container) => container.role === "init" || (container.launched && this.containerStatus(running, container).ready))
    const previous = statusOf(pod)
    const keep = (type: string, status: boolean, reason?: string) => {
      const old = ((previous.conditions ?? []) as Array<{ type: string; status: string; lastTransitionTime: string }>).find(
        (candidate) => candidate.type === type
      )
      return old !== undefined && old.status === (status ? "True" : "False")
        ? old
        : {
            type,
            status: status ? "True" : "False",
            lastTransitionTime: isoSeconds(),
            ...(status || reason === undefined ? {} : { reason })
          }
    }
    const status = {
      phase: running.initialized ? "Running" : "Pending",
      hostIP: this.node.internalIP,
      hostIPs: [{ ip: this.node.internalIP }],
      podIP: running.ip,
      podIPs: [{ ip: running.ip }],
      startTime: previous.startTime ?? isoSeconds(),
      conditions: [
        keep("PodScheduled", true),
        keep("Initialized", running.initialized, "ContainersNotInitialized"),
        keep("ContainersReady", ready, "ContainersNotReady"),
        keep("Ready", ready, "ContainersNotReady")
      ],
      ...(initStatuses.length === 0 ? {} : { initContainerStatuses: initStatuses }),
      containerStatuses: statuses
    }
    this.store.update(kind("pods"), running.namespace, running.name, { ...pod, status }, "status")
    this.wake(running)
  }

  private refreshConfigMap(configMap: KubeObject) {
    for (const running of this.pods.values()) {
      if (running.namespace !== configMap.metadata.namespace || running.phantom) continue
      const pod = tryGet(this.store, "pods", running.namespace, running.name)
      for (const volume of (pod === undefined ? [] : (specOf(pod).volumes ?? [])) as Array<Volume>) {
        const host = running.volumes.get(volume.name)
        if (volume.configMap !== undefined && volume.configMap.name === configMap.metadata.name && host !== undefined)
          writeConfigMapVolume(
            host,
            (isRecord(configMap.data) ? configMap.data : {}) as Record<string, string>,
            volumeMode(volume.configMap.defaultMode)
          )
      }
    }
  }

  /**
   * Graceful deletion: SIGTERM to the app containers (and an init container still running), then,
   * once they have exited, to the native sidecars in reverse order, as the kubelet stops them; what
   * is still running when the grace period ends gets SIGKILL. Then the pod goes.
   */
  private async terminate(pod: KubeObject) {
    const running = this.pods.get(pod.metadata.uid as string)
    if (running === undefined) return this.forceDelete(pod)
    if (running.terminating) return
    running.terminating = true
    this.wake(running)
    const grace = Number((pod.metadata as Record<string, unknown>).deletionGracePeriodSeconds ?? 30)
    const deadline = Date.now() + grace * 1000
    const stop = (containers: ReadonlyArray<ContainerState>) =>
      Promise.all(
        containers.map(
          (container) =>
            new Promise<void>((resolve) => {
              const child = container.child
              if (child === undefined || child.exitCode !== null || child.signalCode !== null) return resolve()
              const killer = setTimeout(() => this.signal(running, container, "SIGKILL"), Math.max(0, deadline - Date.now()))
              child.once("close", (code, name) => {
                clearTimeout(killer)
                container.log?.write(
                  `kubelan-sim: ${new Date().toISOString()} container ${container.spec.name} stopped (${code ?? name})\n`
                )
                resolve()
              })
              container.log?.write(`kubelan-sim: ${new Date().toISOString()} stopping container ${container.spec.name} (SIGTERM)\n`)
              this.containerEvent(running, container, "Normal", "Killing", `Stopping container ${container.spec.name}`)
              this.signal(running, container, "SIGTERM")
            })
        )
      )
    const containers = [...running.containers.values()]
    await stop(containers.filter((container) => container.role !== "sidecar"))
    for (const sidecar of containers.filter((container) => container.role === "sidecar").reverse()) await stop([sidecar])
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
    this.wake(running)
    for (const timer of running.timers) clearTimeout(timer)
    const images: Array<Promise<unknown>> = []
    for (const [index, container] of [...running.containers.values()].entries()) {
      if (this.fromImage(container)) images.push(removeContainer(containerName(running.netns, index)))
      else signal(container.child, "SIGKILL")
      container.log?.end()
    }
    await Promise.all(images)
    if (running.phantom) return this.phantomAddresses.release(running.ip)
    await removeNetns(running.netns)
    this.podAddresses.release(running.ip)
    if (existsSync(running.dir)) rmSync(join(running.dir, "volumes"), { recursive: true, force: true })
  }
}
