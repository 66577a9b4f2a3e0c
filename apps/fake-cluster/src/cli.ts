#!/usr/bin/env node
// kubelan-sim: a Kubernetes cluster on one machine for kubelan — see `kubelan-sim --help`.
import { spawn } from "node:child_process"
import { existsSync, openSync, readFileSync, rmSync } from "node:fs"
import { request } from "node:http"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
// The one module of kube-fake the CLI needs: the whole server is not loaded to print a table.
import { podSummary } from "@kubelan/kube-fake/PodSummary"
import { binary, kubernetesVersion } from "@kubelan/kube-real/Binaries"
import { execa } from "execa"
import { execArgv, podContainers, runtimeOf } from "./kubelet/Containers.ts"
import { agentImage, type ContainerRuntime, containerRuntimes, imageState, removeContainers } from "./kubelet/Image.ts"
import { maxNodes } from "./network/Addressing.ts"
import { releaseHostLimits } from "./network/HostLimits.ts"
import { setSandboxPartitioned } from "./network/Sandbox.ts"
import { daemonScript, netnsPrefix, paths, podDir, podNetns, stateDir } from "./Paths.ts"
import { type ControlPlaneKind, controlPlaneKinds } from "./real/ControlPlaneKind.ts"
import { listNetns, removeNetns } from "./Shell.ts"

const usage = `kubelan-sim — a Kubernetes cluster on one machine: kube-fake, controllers, and pods as
network namespaces whose kubelan container runs the real agent.

Usage:
  kubelan-sim up [--listen HOST:PORT] [--nodes N] [--runtime image|process] [--control-plane fake|real]
                                        start it in the background (API default 127.0.0.1:6443;
                                        N nodes behind a routed fabric, default 1)
  kubelan-sim down                      stop it and remove everything it made
  kubelan-sim status                    the API address and the pods
  kubelan-sim kubeconfig                the kubeconfig path (export KUBECONFIG=$(kubelan-sim kubeconfig))
  kubelan-sim run FILE.yaml [--report DIR] [--size full|ci] [--runtime image|process] [--control-plane fake|real]
                                        run a scenario on a cluster of its own: exit 0 when every
                                        expectation held, 1 when one failed, 2 for a bad file
  kubelan-sim exec POD [-n NS] [-c CONTAINER] -- CMD...   run a command in a pod
  kubelan-sim logs POD [-n NS] [-c CONTAINER] [-f]        the kubelan container's output
  kubelan-sim partition POD [-n NS] [--heal]  cut a pod off its network, both ways (as a NetworkChaos
                                        partition does; the node's probes fail too), or reconnect it

--runtime: how the kubelan container runs. image: from ${agentImage} under podman, as a
kubelet's runtime runs it (scripts/image builds it); process: the agent bundle as a process
under the same contract (faster to start). Default: the image when it holds the current build.

--control-plane: fake (default) is kube-fake with the simulator's controllers, up in
milliseconds; real is etcd, kube-apiserver and kube-controller-manager ${kubernetesVersion} built by
scripts/kube-build, with nodes that register and report as system:node:NAME.

Needs root (network namespaces). State lives in ${stateDir}.`

const fail = (message: string, code = 2): never => {
  process.stderr.write(`kubelan-sim: ${message}\n`)
  process.exit(code)
}

const daemonPid = () => {
  if (!existsSync(paths.pid)) return undefined
  const pid = Number(readFileSync(paths.pid, "utf8"))
  try {
    process.kill(pid, 0)
    return pid
  } catch {
    return undefined
  }
}

/** The parts of a Pod (or a Status) that the CLI prints. */
interface PodView {
  kind?: string
  message?: string
  metadata: { name: string; namespace: string; uid: string; deletionTimestamp?: string }
  spec?: {
    nodeName?: string
    initContainers?: Array<{ name: string; image?: string; command?: Array<string>; args?: Array<string>; restartPolicy?: string }>
    containers?: Array<{ name: string; image?: string; command?: Array<string>; args?: Array<string> }>
  }
  status?: {
    phase?: string
    podIP?: string
    initContainerStatuses?: Array<{ name?: string; ready: boolean; restartCount: number }>
    containerStatuses?: Array<{ name?: string; ready: boolean; restartCount: number }>
  }
}

/** Why the API did not give an answer: the CLI says it in one line instead of a stack trace. */
class ApiUnavailable extends Error {}

/** A GET to the simulator's API over its socket: the object, or an ApiUnavailable saying what went wrong. */
const api = <A>(path: string, timeoutMillis = 10_000) =>
  new Promise<A>((resolve, reject) => {
    const req = request({ socketPath: paths.socket, path, headers: { "user-agent": "kubelan-sim" } }, (response) => {
      let text = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => {
        text += chunk
      })
      response.on("end", () => {
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          return reject(new ApiUnavailable(`it answered ${response.statusCode} with no JSON`))
        }
        const status = body as { kind?: string; message?: string }
        // A Status is an answer the caller reads (a pod not found); other failures are the API's.
        if ((response.statusCode ?? 500) >= 500 || response.statusCode === 429)
          return reject(new ApiUnavailable(`it answered ${response.statusCode}: ${status.message ?? text.trim()}`))
        resolve(body as A)
      })
    })
    req.setTimeout(timeoutMillis, () => req.destroy(new ApiUnavailable(`no answer within ${timeoutMillis / 1000} s`)))
    req.on("error", (error) => reject(error instanceof ApiUnavailable ? error : new ApiUnavailable(error.message)))
    req.end()
  })

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Removes what a previous run left: its containers, namespaces, processes and state. */
const sweep = async () => {
  await removeContainers(netnsPrefix)
  const left = (await listNetns()).filter((name) => name.startsWith(netnsPrefix))
  for (const name of left) await removeNetns(name)
  rmSync(stateDir, { recursive: true, force: true })
  // A simulator that died puts nothing back: its hold on the kernel's limits ends here.
  releaseHostLimits()
  return left.length
}

/** The options `up` takes, checked before anything starts. */
const upOptions = (args: ReadonlyArray<string>) => {
  const options: Array<string> = []
  for (let i = 0; i < args.length; i++) {
    const flag = args[i] as string
    const value = args[i + 1]
    if (flag !== "--listen" && flag !== "--nodes" && flag !== "--runtime" && flag !== "--control-plane")
      fail(`unknown flag ${flag} (up takes --listen HOST:PORT, --nodes N, --runtime image|process and --control-plane fake|real)`)
    if (value === undefined) fail(`${flag} needs a value`)
    if (flag === "--runtime") runtimeOption(value)
    if (flag === "--control-plane") controlPlaneOption(value)
    if (flag === "--nodes" && !(Number.isInteger(Number(value)) && Number(value) >= 1 && Number(value) <= maxNodes))
      fail(`--nodes: ${JSON.stringify(value)} is not a whole number from 1 to ${maxNodes}`)
    options.push(flag, value as string)
    i++
  }
  return options
}

/** A --control-plane value, checked; real needs the binaries scripts/kube-build makes. */
const controlPlaneOption = (value: string | undefined): ControlPlaneKind => {
  if (!controlPlaneKinds.includes(value as ControlPlaneKind))
    fail(`--control-plane: ${JSON.stringify(value)} is not one of ${controlPlaneKinds.join(", ")}`)
  if (value === "real")
    try {
      for (const component of ["etcd", "kube-apiserver", "kube-controller-manager"] as const) binary(component)
    } catch (error) {
      fail(`--control-plane real: ${error instanceof Error ? error.message : String(error)}`)
    }
  return value as ControlPlaneKind
}

/** A --runtime value, checked. */
const runtimeOption = (value: string | undefined): ContainerRuntime =>
  containerRuntimes.includes(value as ContainerRuntime)
    ? (value as ContainerRuntime)
    : fail(`--runtime: ${JSON.stringify(value)} is not one of ${containerRuntimes.join(", ")}`)

const up = async (rawArgs: ReadonlyArray<string>) => {
  const args = upOptions(rawArgs)
  if (daemonPid() !== undefined) {
    process.stdout.write(`kubelan-sim is already up\nexport KUBECONFIG=${paths.kubeconfig}\n`)
    return
  }
  const asked = args[args.indexOf("--runtime") + 1]
  if (args.includes("--runtime") && asked === "image") {
    const state = await imageState()
    if (!state.usable) fail(`--runtime image: ${state.why}`, 1)
  }
  const swept = await sweep()
  if (swept > 0) process.stdout.write(`removed ${swept} namespaces left by an earlier run\n`)
  await execa("mkdir", ["-p", stateDir])
  const out = openSync(paths.log, "a")
  const child = spawn(process.execPath, [daemonScript, ...args], { detached: true, stdio: ["ignore", out, out] })
  child.unref()
  for (let i = 0; i < 300 && !existsSync(paths.ready); i++) {
    if (child.exitCode !== null) break
    await sleep(100)
  }
  if (!existsSync(paths.ready))
    fail(`the simulator did not start; its log:\n${existsSync(paths.log) ? readFileSync(paths.log, "utf8") : ""}`, 1)
  const server = readFileSync(paths.kubeconfig, "utf8").match(/"server": "([^"]+)"/)?.[1]
  const runtime = readFileSync(paths.runtime, "utf8").trim()
  const containers = readFileSync(paths.log, "utf8").match(/containers: (.*)/)?.[1] ?? `kubelan ${runtime}`
  process.stdout.write(`kubelan-sim is up: API ${server}\n${containers}\nPoint kubectl at it:\n  export KUBECONFIG=${paths.kubeconfig}\n`)
}

const down = async () => {
  const pid = daemonPid()
  if (pid !== undefined) {
    process.kill(pid, "SIGTERM")
    for (let i = 0; i < 300 && daemonPid() !== undefined; i++) await sleep(100)
    if (daemonPid() !== undefined) process.kill(pid, "SIGKILL")
  }
  const swept = await sweep()
  process.stdout.write(`kubelan-sim is down${swept > 0 ? ` (removed ${swept} leftover namespaces)` : ""}\n`)
}

const status = async () => {
  if (daemonPid() === undefined) return fail("not up (kubelan-sim up)", 1)
  const runtime = existsSync(paths.runtime) ? readFileSync(paths.runtime, "utf8").trim() : "process"
  process.stdout.write(
    `up: API ${readFileSync(paths.kubeconfig, "utf8").match(/"server": "([^"]+)"/)?.[1]}, state ${stateDir}, containers: ${runtime}\n`
  )
  const pods = await api<{ items: Array<PodView> }>("/api/v1/pods")
  process.stdout.write(
    `${"NAMESPACE".padEnd(12)} ${"POD".padEnd(24)} ${"READY".padEnd(6)} ${"STATUS".padEnd(12)} ${"RESTARTS".padEnd(9)} ${"NODE".padEnd(8)} IP\n`
  )
  for (const pod of pods.items) {
    const { ready, status: phase, restarts } = podSummary(pod as unknown as Record<string, unknown>)
    process.stdout.write(
      `${pod.metadata.namespace.padEnd(12)} ${pod.metadata.name.padEnd(24)} ${ready.padEnd(6)} ${phase.padEnd(12)} ${String(restarts).padEnd(9)} ${(pod.spec?.nodeName ?? "").padEnd(8)} ${pod.status?.podIP ?? ""}\n`
    )
  }
}

/** POD [-n NS] [-c CONTAINER] [-f] [-- CMD...] */
const podArgs = (args: ReadonlyArray<string>) => {
  const dash = args.indexOf("--")
  const own = dash < 0 ? args : args.slice(0, dash)
  const command = dash < 0 ? [] : args.slice(dash + 1)
  let namespace = "default"
  let container: string | undefined
  let follow = false
  const positional: Array<string> = []
  for (let i = 0; i < own.length; i++) {
    const arg = own[i] as string
    if (arg === "-n" || arg === "--namespace") namespace = own[++i] ?? fail(`${arg} needs a value`)
    else if (arg === "-c" || arg === "--container") container = own[++i] ?? fail(`${arg} needs a value`)
    else if (arg === "-f" || arg === "--follow") follow = true
    else if (arg.startsWith("-")) fail(`unknown flag ${arg}`)
    else positional.push(arg)
  }
  if (positional.length !== 1) fail("name one pod")
  return { pod: positional[0] as string, namespace, container, follow, command }
}

const requirePod = async (namespace: string, name: string, container: string | undefined) => {
  const pod = await api<PodView>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`)
  if (pod.kind === "Status") return fail(`pod ${namespace}/${name}: ${pod.message}`, 1)
  const names = podContainers(pod.spec).map((c) => c.name)
  if (container !== undefined && !names.includes(container)) fail(`container ${container} is not in pod ${name} (${names.join(", ")})`, 1)
  if (!(await listNetns()).includes(podNetns(pod.metadata.uid))) fail(`pod ${namespace}/${name} is not running yet`, 1)
  return pod
}

const exec = async (args: ReadonlyArray<string>) => {
  const { pod, namespace, container, command } = podArgs(args)
  if (command.length === 0) fail("give the command after --")
  const found = await requirePod(namespace, pod, container)
  // A container with a command is entered with its own /run, /tmp and volumes; every other is the pod's network namespace.
  const argv = execArgv(found.metadata.uid, podContainers(found.spec), container, command)
  const [file = "ip", ...rest] = argv ?? fail(`container ${container} of pod ${namespace}/${pod} is not running (it may be restarting)`, 1)
  const result = await execa(file, rest, { stdio: "inherit", reject: false, env: { HOSTNAME: pod } })
  process.exit(result.exitCode ?? 1)
}

/** A fault by hand, as a scenario's `partition` step makes it: the pod's eth0 drops everything until healed. */
const partition = async (args: ReadonlyArray<string>) => {
  const heal = args.includes("--heal")
  const { pod, namespace } = podArgs(args.filter((arg) => arg !== "--heal"))
  const found = await requirePod(namespace, pod, undefined)
  await setSandboxPartitioned(podNetns(found.metadata.uid), !heal)
  process.stdout.write(`pod ${namespace}/${pod} ${heal ? "reconnected" : "cut off its network (heal with --heal)"}\n`)
}

const logs = async (args: ReadonlyArray<string>) => {
  const { pod, namespace, container, follow } = podArgs(args)
  const spec = await requirePod(namespace, pod, container)
  const containers = podContainers(spec.spec)
  // Containers that run here: the agent, and those with a command; the others are the namespace itself.
  const running = containers.filter((c) => runtimeOf(c) !== "none")
  const chosen = container ?? running.find((c) => c.name === "kubelan")?.name ?? running[0]?.name
  if (chosen === undefined || !running.some((c) => c.name === chosen)) {
    process.stderr.write(`kubelan-sim: container ${chosen ?? "(none)"} runs no process in the simulator, so it has no logs\n`)
    return
  }
  const file = join(podDir(spec.metadata.uid), `${chosen}.log`)
  const tail = await execa("tail", [follow ? "-F" : "-n", ...(follow ? ["-n", "+1"] : ["+1"]), file], { stdio: "inherit", reject: false })
  process.exit(tail.exitCode ?? 0)
}

/** `run FILE [--report DIR] [--size S] ...`: in a state directory and namespace prefix of its own, so it never meets `up`'s. */
const run = async (args: ReadonlyArray<string>) => {
  let file: string | undefined
  let reportDir: string | undefined
  let size = "full"
  let runtime: ContainerRuntime | undefined
  let controlPlane: ControlPlaneKind | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (arg === "--report") reportDir = args[++i] ?? fail("--report needs a directory")
    else if (arg === "--runtime") runtime = runtimeOption(args[++i])
    else if (arg === "--control-plane") controlPlane = controlPlaneOption(args[++i])
    else if (arg === "--size") size = args[++i] ?? fail("--size needs a value")
    else if (arg.startsWith("-")) fail(`unknown flag ${arg}`)
    else if (file === undefined) file = arg
    else fail("name one scenario file")
  }
  if (file === undefined) return fail("name a scenario file: kubelan-sim run FILE.yaml")
  if (process.env.KUBELAN_SIM_RUN !== "1") {
    const id = Math.random().toString(16).slice(2, 8)
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "run", ...args], {
      stdio: "inherit",
      env: {
        ...process.env,
        KUBELAN_SIM_RUN: "1",
        KUBELAN_SIM_STATE: process.env.KUBELAN_SIM_STATE ?? `/run/kubelan-sim-run-${id}`,
        KUBELAN_SIM_PREFIX: process.env.KUBELAN_SIM_PREFIX ?? `klrun${id}-`
      }
    })
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
    process.on("SIGINT", forward("SIGINT"))
    process.on("SIGTERM", forward("SIGTERM"))
    child.on("close", (code) => process.exit(code ?? 1))
    return
  }
  const { loadScenario, ScenarioError } = await import("./scenario/ScenarioFile.ts")
  const { runScenario } = await import("./scenario/Runner.ts")
  let scenario: ReturnType<typeof loadScenario>
  try {
    scenario = loadScenario(file, size)
  } catch (error) {
    if (error instanceof ScenarioError) fail(`invalid scenario ${file}:\n${error.problems.map((problem) => `  ${problem}`).join("\n")}`)
    throw error
  }
  const cleanUp = async () => {
    await sweep()
    process.exit(130)
  }
  process.on("SIGINT", () => void cleanUp())
  process.on("SIGTERM", () => void cleanUp())
  try {
    const report = await runScenario(scenario, { reportDir, runtime, controlPlane })
    await sweep()
    process.exit(report.passed ? 0 : 1)
  } catch (error) {
    process.stderr.write(`kubelan-sim: the run failed: ${error instanceof Error ? error.message : String(error)}\n`)
    await sweep()
    process.exit(1)
  }
}

const [command, ...rest] = process.argv.slice(2).filter((arg, index) => !(index === 0 && arg === "--"))
try {
  switch (command) {
    case "up":
      await up(rest)
      break
    case "down":
      await down()
      break
    case "status":
      await status()
      break
    case "run":
      await run(rest)
      break
    case "kubeconfig":
      process.stdout.write(`${paths.kubeconfig}\n`)
      break
    case "exec":
      await exec(rest)
      break
    case "logs":
      await logs(rest)
      break
    case "partition":
      await partition(rest)
      break
    case "-h":
    case "--help":
    case "help":
      process.stdout.write(`${usage}\n`)
      break
    default:
      fail(`${command === undefined ? "missing command" : `unknown command ${command}`}\n${usage}`)
  }
} catch (error) {
  // An API that refuses, fails or hangs is said in one line, whichever command met it.
  if (!(error instanceof ApiUnavailable)) throw error
  fail(`the API (unix:${paths.socket}) is not answering: ${error.message}; this command works again once it does`, 1)
}
