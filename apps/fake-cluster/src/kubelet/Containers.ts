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

/** The container that runs the agent: named kubelan, or from a kubelan image. */
export const isAgentContainer = (container: ContainerSpec) =>
  container.name === "kubelan" || /(^|\/)kubelan(:|@|$)/.test(container.image ?? "")

export const runtimeOf = (container: ContainerSpec): Runtime =>
  isAgentContainer(container) ? "agent" : (container.command?.length ?? 0) > 0 || (container.args?.length ?? 0) > 0 ? "process" : "none"

/** A container's pid file, by its index in the pod (a name is the client's, a path the kubelet's). */
export const containerPidFile = (uid: string, index: number) => join(podDir(uid), `container-${index}.pid`)

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
  try {
    // The pid file holds unshare's pid; its one child is the container's first process, inside the namespaces.
    const unshare = readFileSync(containerPidFile(uid, index), "utf8").trim()
    const first = readFileSync(`/proc/${unshare}/task/${unshare}/children`, "utf8").trim().split(/\s+/)[0]
    if (first === undefined || first === "") return undefined
    // --root: the container's own root, read-only where its securityContext says so.
    return ["nsenter", "--target", first, "--mount", "--uts", "--net", "--root", "--wd=/", "--", ...command]
  } catch {
    return undefined
  }
}
