import { readFileSync } from "node:fs"
import { join } from "node:path"
import { podDir, podNetns } from "../Paths.ts"

/**
 * What a pod's containers are in the simulator, and how to reach one: shared by the kubelet
 * (which runs them) and the CLI (whose `exec -c` enters one), so both read a spec the same way.
 */

/** How a container runs here: the agent bundle, its own command in the pod, or nothing (the namespace is the container). */
export type Runtime = "agent" | "process" | "none"

interface ContainerSpec {
  readonly name: string
  readonly image?: string | undefined
  readonly command?: ReadonlyArray<string> | undefined
  readonly args?: ReadonlyArray<string> | undefined
}

interface PodSpecView {
  readonly initContainers?: ReadonlyArray<ContainerSpec & { readonly restartPolicy?: string | undefined }> | undefined
  readonly containers?: ReadonlyArray<ContainerSpec> | undefined
}

/**
 * Every container of a pod in the order a kubelet starts them: init containers (those with
 * `restartPolicy: Always` are sidecars that keep running), then the app containers. Indexes
 * into this list name a container's files and pid, for the kubelet and the CLI alike.
 */
export const podContainers = (spec: PodSpecView | undefined): ReadonlyArray<ContainerSpec> => [
  ...(spec?.initContainers ?? []),
  ...(spec?.containers ?? [])
]

/** The statuses of a pod's containers, init and app. */
export const podContainerStatuses = <A>(
  status: { initContainerStatuses?: ReadonlyArray<A>; containerStatuses?: ReadonlyArray<A> } | undefined
) => [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])]

/** The container that runs the agent: named kubelan, or from a kubelan image. */
export const isAgentContainer = (container: ContainerSpec) =>
  container.name === "kubelan" || /(^|\/)kubelan(:|@|$)/.test(container.image ?? "")

export const runtimeOf = (container: ContainerSpec): Runtime =>
  isAgentContainer(container) ? "agent" : (container.command?.length ?? 0) > 0 || (container.args?.length ?? 0) > 0 ? "process" : "none"

/** A container's pid file, by its index in the pod (a name is the client's, a path the kubelet's). */
export const containerPidFile = (uid: string, index: number) => join(podDir(uid), `container-${index}.pid`)

/**
 * The first process of a running container, as a runtime reports it: the pid file holds its
 * parent (unshare, or the image runtime's conmon), whose one child it is. Undefined when not running.
 */
export const containerProcess = (uid: string, index: number): number | undefined => {
  try {
    const parent = readFileSync(containerPidFile(uid, index), "utf8").trim()
    const first = readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim().split(/\s+/)[0]
    return first === undefined || first === "" ? undefined : Number(first)
  } catch {
    return undefined
  }
}

/**
 * The argv that runs a command in a running container, as `kubectl exec -c` does: the
 * container's mount and UTS namespaces (its /run, /tmp and volumes) with the pod's network; the
 * pod's network alone for a container with nothing running. Undefined when it is not running.
 */
export const execArgv = (
  uid: string,
  containers: ReadonlyArray<ContainerSpec>,
  container: string | undefined,
  command: ReadonlyArray<string>
): ReadonlyArray<string> | undefined => {
  const index = containers.findIndex((candidate) => candidate.name === container)
  const spec = containers[index]
  if (spec === undefined || runtimeOf(spec) === "none") return ["ip", "netns", "exec", podNetns(uid), ...command]
  const first = containerProcess(uid, index)
  // --root: the container's own root, read-only where its securityContext says so.
  return first === undefined
    ? undefined
    : ["nsenter", "--target", String(first), "--mount", "--uts", "--net", "--pid", "--root", "--wd=/", "--", ...command]
}
