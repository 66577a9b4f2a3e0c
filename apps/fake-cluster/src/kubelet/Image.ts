import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { execa } from "execa"

/**
 * The image runtime: the `kubelan` container runs from the image `scripts/image` builds, under
 * podman (with runc), joined to the pod's network namespace, as a kubelet's runtime runs it.
 */

const agentDir = fileURLToPath(new URL("../../../agent/", import.meta.url))
const agentVersion = (JSON.parse(readFileSync(join(agentDir, "package.json"), "utf8")) as { version: string }).version
const bundleDir = join(agentDir, "dist")

/** The image and tag scripts/image builds. */
export const agentImage = `localhost/kubelan:${agentVersion}`
/** The label that carries the digest of the bundle the image was built from. */
export const bundleLabel = "io.kubelan.bundle-digest"

/**
 * podman's settings for this machine, written by scripts/image: runc (crun fails on hybrid
 * cgroups), the cgroupfs manager, and ulimits no higher than the current ones.
 */
export const containersConf = fileURLToPath(new URL("../../../../.tools/podman/containers.conf", import.meta.url))
const podmanEnv = () => ({ ...process.env, CONTAINERS_CONF: containersConf })

export type ContainerRuntime = "image" | "process"
export const containerRuntimes: ReadonlyArray<ContainerRuntime> = ["image", "process"]

/**
 * The bundle's digest: every file but the code cache (which V8 rewrites), by path in code-point
 * order. An image whose label differs was built from other sources and would test stale code.
 */
export const bundleDigest = (dir = bundleDir) => {
  const files: Array<string> = []
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name)
      if (entry.isDirectory()) {
        if (entry.name !== "compile-cache") walk(path)
      } else files.push(relative(dir, path))
    }
  }
  walk(dir)
  const hash = createHash("sha256")
  for (const file of files.sort())
    hash
      .update(`${file}\0`)
      .update(readFileSync(join(dir, file)))
      .update("\0")
  return hash.digest("hex")
}

export type ImageState = { readonly usable: true } | { readonly usable: false; readonly why: string }

/** Whether the image exists and holds the bundle built here now. */
export const imageState = async (): Promise<ImageState> => {
  if (!existsSync(containersConf)) return { usable: false, why: "podman is not set up here (scripts/image sets it up)" }
  const inspected = await execa("podman", ["image", "inspect", "--format", `{{index .Labels "${bundleLabel}"}}`, agentImage], {
    reject: false,
    env: podmanEnv()
  })
  if (inspected.exitCode !== 0) return { usable: false, why: `there is no image ${agentImage} (scripts/image builds it)` }
  if (!existsSync(join(bundleDir, "kubelan.mjs"))) return { usable: false, why: "the agent is not built (pnpm turbo run build)" }
  if (inspected.stdout.trim() !== bundleDigest())
    return { usable: false, why: `${agentImage} holds another build of the agent than apps/agent/dist (scripts/image rebuilds it)` }
  return { usable: true }
}

/**
 * The runtime a cluster uses: the one asked for (an image that cannot be used is an error then),
 * else the image when it is current, else processes.
 */
export const chooseRuntime = async (requested: ContainerRuntime | undefined) => {
  if (requested === "process") return { runtime: "process" as const, note: "asked for" }
  const state = await imageState()
  if (state.usable) return { runtime: "image" as const, note: agentImage }
  if (requested === "image") throw new Error(`--runtime image: ${state.why}`)
  return { runtime: "process" as const, note: state.why }
}

/** A container's name in podman: the pod's namespace name (unique to this simulator) and its index. */
export const containerName = (netns: string, index: number) => `${netns}-${index}`

/**
 * The ulimits a container gets: this process's open-file limit, and at most 4096 processes. They
 * cannot be raised here (CAP_SYS_RESOURCE is not held), and runc's init refuses an nproc limit
 * above 4096 on this machine (measured: 4096 starts, 4097 fails with EPERM).
 */
const containerUlimits = () => {
  const limits = readFileSync("/proc/self/limits", "utf8")
  const limit = (label: string, most: number) => {
    const match = new RegExp(`^${label}\\s+(\\S+)\\s+(\\S+)`, "m").exec(limits)
    const value = (text: string | undefined) => Math.min(text === undefined || text === "unlimited" ? most : Number(text), most)
    return `${value(match?.[1])}:${value(match?.[2])}`
  }
  return ["--ulimit", `nofile=${limit("Max open files", 1_048_576)}`, "--ulimit", `nproc=${limit("Max processes", 4096)}`]
}

export interface ImageContainer {
  readonly name: string
  readonly netns: string
  readonly hostname: string
  /** Where podman writes conmon's pid: the container's first process is its one child. */
  readonly pidFile: string
  readonly env: Readonly<Record<string, string>>
  readonly mounts: ReadonlyArray<{ readonly host: string; readonly path: string; readonly readOnly: boolean }>
  readonly securityContext?:
    | {
        readonly capabilities?: { readonly add?: ReadonlyArray<string>; readonly drop?: ReadonlyArray<string> }
        readonly readOnlyRootFilesystem?: boolean
        readonly runAsUser?: number
        readonly runAsGroup?: number
      }
    | undefined
  readonly command?: ReadonlyArray<string> | undefined
  readonly args?: ReadonlyArray<string> | undefined
}

/**
 * `podman run` for a container, in the foreground (its output is the container's, its exit
 * status the container's): the pod's network namespace, its hostname, the securityContext as a
 * CRI runtime applies it (capabilities, a read-only root with no tmpfs added, the user), the
 * env, the volumes, and the ulimits this process has.
 */
export const podmanRunArgv = (container: ImageContainer): ReadonlyArray<string> => {
  const context = container.securityContext
  const capability = (name: string) => name.toUpperCase().replace(/^CAP_/, "")
  const drops = (context?.capabilities?.drop ?? []).map(capability)
  const capabilities = [
    ...drops.flatMap((name) => ["--cap-drop", name]),
    ...(context?.capabilities?.add ?? []).map(capability).flatMap((name) => ["--cap-add", name])
  ]
  const user = context?.runAsUser === undefined ? [] : ["--user", `${context.runAsUser}:${context.runAsGroup ?? context.runAsUser}`]
  const readOnly = context?.readOnlyRootFilesystem === true ? ["--read-only", "--read-only-tmpfs=false"] : []
  const entrypoint =
    container.command === undefined || container.command.length === 0 ? [] : ["--entrypoint", JSON.stringify(container.command)]
  return [
    "podman",
    "run",
    "--rm",
    "--replace",
    "--pull=never",
    "--name",
    container.name,
    "--network",
    `ns:/run/netns/${container.netns}`,
    "--hostname",
    container.hostname,
    "--conmon-pidfile",
    container.pidFile,
    // The kubelet keeps the log (the container's output reaches it through podman's).
    "--log-driver",
    "none",
    ...containerUlimits(),
    ...capabilities,
    ...user,
    ...readOnly,
    ...Object.entries(container.env).flatMap(([name, value]) => ["--env", `${name}=${value}`]),
    ...container.mounts.flatMap((mount) => ["--volume", `${mount.host}:${mount.path}:${mount.readOnly ? "ro" : "rw"}`]),
    ...entrypoint,
    agentImage,
    ...(container.args ?? [])
  ]
}

/** The environment podman itself runs with. */
export const podmanProcessEnv = podmanEnv

/** Sends a signal to a container's processes, as a runtime's StopContainer or KillContainer does. */
export const signalContainer = (name: string, signal: NodeJS.Signals) =>
  execa("podman", ["kill", "--signal", signal, name], { reject: false, env: podmanEnv() })

/** Removes a container at once (SIGKILL), whatever state it is in. */
export const removeContainer = (name: string) =>
  execa("podman", ["rm", "--force", "--time", "0", name], { reject: false, env: podmanEnv() })

/** Removes every container whose name starts with the prefix: what a simulator that died left. */
export const removeContainers = async (prefix: string) => {
  if (!existsSync(containersConf)) return 0
  const listed = await execa("podman", ["ps", "--all", "--format", "{{.Names}}"], { reject: false, env: podmanEnv() })
  const names = listed.exitCode === 0 ? listed.stdout.split("\n").filter((name) => name.startsWith(prefix)) : []
  if (names.length > 0) await execa("podman", ["rm", "--force", "--time", "0", ...names], { reject: false, env: podmanEnv() })
  return names.length
}
