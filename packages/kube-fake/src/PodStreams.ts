import type { Writable } from "node:stream"
import { ApiError } from "./ApiError.ts"
import { isRecord, type KubeObject } from "./KubeObject.ts"

/**
 * What the API server proxies to a node's kubelet: a container's log and a command run in it.
 * kube-fake checks the request as the real server does and leaves the rest to whoever runs
 * the containers (kubelan-sim's kubelet); without one, it says so.
 */
export interface PodStreams {
  /**
   * Finds the log (rejecting with an ApiError when there is none, before anything is sent), then
   * writes it to `out`; with `follow`, until the container stops or `signal` aborts.
   */
  logs(pod: KubeObject, options: LogOptions): Promise<(out: Writable, signal: AbortSignal) => Promise<void>>
  /** Starts the command; the caller wires its input, output and size, and waits for its exit code. */
  exec(pod: KubeObject, options: ExecOptions): Promise<ExecProcess>
}

export interface LogOptions {
  readonly container: string
  readonly follow: boolean
  readonly previous: boolean
  readonly timestamps: boolean
  readonly tailLines: number | undefined
  readonly limitBytes: number | undefined
  readonly sinceSeconds: number | undefined
}

export interface ExecOptions {
  readonly container: string
  readonly command: ReadonlyArray<string>
  readonly stdin: boolean
  readonly stdout: boolean
  readonly stderr: boolean
  readonly tty: boolean
  /** The terminal's size when known before the start (kubectl sends it first). */
  readonly size: { readonly width: number; readonly height: number } | undefined
}

export interface ExecProcess {
  /** stdout and stderr as they come (with a tty, all output is stdout). */
  onOutput(handler: (stream: "stdout" | "stderr", data: Buffer) => void): void
  write(data: Buffer): void
  endInput(): void
  resize(width: number, height: number): void
  kill(): void
  /** The exit code; rejects with an ApiError when the command could not run. */
  readonly exited: Promise<number>
}

interface ContainerView {
  readonly name?: string
}

const namesOf = (list: unknown) => (Array.isArray(list) ? (list as Array<ContainerView>).map((container) => container.name ?? "") : [])

/**
 * The container a log or exec request names, checked as the real server checks it: it may be
 * left out only when the pod has one container; it must be one of the pod's.
 */
export const requestedContainer = (pod: KubeObject, query: URLSearchParams): string => {
  const spec = isRecord(pod.spec) ? pod.spec : {}
  const containers = namesOf(spec.containers)
  const initContainers = namesOf(spec.initContainers)
  const name = pod.metadata.name as string
  const asked = query.get("container") ?? ""
  if (asked === "") {
    if (containers.length === 1) return containers[0] as string
    const choices = `choose one of: [${containers.join(" ")}]${initContainers.length > 0 ? ` or one of the init containers: [${initContainers.join(" ")}]` : ""}`
    throw new ApiError(400, "BadRequest", `a container name must be specified for pod ${name}, ${choices}`)
  }
  if (!containers.includes(asked) && !initContainers.includes(asked))
    throw new ApiError(400, "BadRequest", `container ${asked} is not valid for pod ${name}`)
  return asked
}

const optionalNumber = (query: URLSearchParams, key: string, minimum: number): number | undefined => {
  const text = query.get(key)
  if (text === null || text === "") return undefined
  const value = Number(text)
  if (!Number.isInteger(value) || value < minimum)
    throw new ApiError(
      422,
      "Invalid",
      `PodLogOptions "" is invalid: ${key}: Invalid value: ${value}: must be greater than or equal to ${minimum}`
    )
  return value
}

const flag = (query: URLSearchParams, key: string) => ["true", "1"].includes(query.get(key) ?? "")

export const logOptions = (pod: KubeObject, query: URLSearchParams): LogOptions => ({
  container: requestedContainer(pod, query),
  follow: flag(query, "follow"),
  previous: flag(query, "previous"),
  timestamps: flag(query, "timestamps"),
  tailLines: optionalNumber(query, "tailLines", 0),
  limitBytes: optionalNumber(query, "limitBytes", 1),
  sinceSeconds: optionalNumber(query, "sinceSeconds", 1)
})

export const execOptions = (pod: KubeObject, query: URLSearchParams): Omit<ExecOptions, "size"> => {
  const command = query.getAll("command")
  if (command.length === 0) throw new ApiError(400, "BadRequest", "you must specify at least 1 command")
  const options = {
    container: requestedContainer(pod, query),
    command,
    stdin: flag(query, "stdin"),
    stdout: flag(query, "stdout"),
    stderr: flag(query, "stderr"),
    tty: flag(query, "tty")
  }
  if (!options.stdin && !options.stdout && !options.stderr)
    throw new ApiError(400, "BadRequest", "you must specify at least 1 of stdin, stdout, stderr")
  // With a tty, stdout and stderr are one stream, as a kubelet has them.
  return options.tty ? { ...options, stderr: false } : options
}

/** A pod the node has not been given cannot show a log or run a command. */
export const requireNode = (pod: KubeObject) => {
  const spec = isRecord(pod.spec) ? pod.spec : {}
  if (typeof spec.nodeName !== "string" || spec.nodeName === "")
    throw new ApiError(400, "BadRequest", `pod ${pod.metadata.name} does not have a host assigned`)
}
