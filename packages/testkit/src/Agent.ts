import { mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { eventually, inNetns } from "@kubelan/netlink/testing"
import { execa } from "execa"

/** The bundle `pnpm build` makes: the same file the container image runs. */
export const agentBundle = fileURLToPath(new URL("../../../apps/agent/dist/kubelan.mjs", import.meta.url))

export interface AgentProcess {
  readonly netns: string
  /** The agent's own pid (`ip netns exec` execs it in place). */
  readonly pid: number | undefined
  readonly configPath: string
  readonly dir: string
  /** Everything the agent printed so far, stdout and stderr interleaved. */
  output(): string
  /** Replaces the config file the way a ConfigMap update does: a new file renamed into place. */
  writeConfig(yaml: string): void
  http(path: string): Promise<{ status: number; body: string }>
  waitReady(timeoutMillis?: number): Promise<void>
  kill(signal?: NodeJS.Signals): Promise<{ exitCode: number | undefined }>
  readonly exited: Promise<{ exitCode: number | undefined }>
}

export interface StartAgentOptions {
  readonly netns: string
  readonly config: string
  readonly env?: Readonly<Record<string, string>>
  readonly args?: ReadonlyArray<string>
  readonly httpPort?: number
  /** Another copy of the bundle (the file an image would carry). */
  readonly bundle?: string
  /** The working directory the agent starts in. */
  readonly cwd?: string
  /** Other node options than the image's (benchmarks compare them). */
  readonly nodeFlags?: ReadonlyArray<string>
  /**
   * A directory with `token`, `ca.crt` and `namespace`, seen by the agent (only) at
   * /var/run/secrets/kubernetes.io/serviceaccount, as a pod's kube-api-access volume is.
   */
  readonly serviceAccountDir?: string
}

const agentPackage = JSON.parse(readFileSync(new URL("../../../apps/agent/package.json", import.meta.url), "utf8")) as {
  kubelan: { nodeFlags: Array<string>; nodeEnv: Record<string, string> }
}

/**
 * The V8 options the image runs the agent with, defined once in the agent's package.json
 * (`kubelan.nodeFlags`; a test holds deploy/Dockerfile's ENTRYPOINT to it). The agent's work is
 * in the kernel and in child processes, so it trades the JIT and a large young generation for
 * memory. `pnpm bench` measures them (bench/README.md).
 */
export const agentNodeFlags: ReadonlyArray<string> = agentPackage.kubelan.nodeFlags

/**
 * The environment the image sets for the agent (`kubelan.nodeEnv`; a test holds the
 * Dockerfile's ENV to it): glibc's malloc told to return what V8's parser frees at start-up.
 */
export const agentNodeEnv: Readonly<Record<string, string>> = agentPackage.kubelan.nodeEnv

/** `ip netns exec NS node FLAGS kubelan.mjs ARGS`: the agent as a pod's container would run it. */
export const runInNetnsArgs = (
  netns: string,
  args: ReadonlyArray<string>,
  nodeFlags: ReadonlyArray<string> = agentNodeFlags,
  bundle = agentBundle
) => ["netns", "exec", netns, process.execPath, ...nodeFlags, bundle, ...args]

/**
 * The agent in its own mount namespace with a fresh /run holding only the ServiceAccount
 * directory, as a container sees its projected volume: the host's /run stays untouched.
 */
const withServiceAccount = (args: ReadonlyArray<string>, dir: string): Array<string> => {
  const [netns, exec, name, ...command] = args
  return [
    netns as string,
    exec as string,
    name as string,
    "unshare",
    "--mount",
    "--propagation=private",
    "--",
    "sh",
    "-c",
    'mkdir -p /run && mount -t tmpfs kubelan-run /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && mount --bind -o ro "$0" /run/secrets/kubernetes.io/serviceaccount && exec "$@"',
    dir,
    ...command
  ]
}

/** Starts the real agent bundle inside a pod namespace, with its config in a fresh directory. */
export const startAgent = (options: StartAgentOptions): AgentProcess => {
  const dir = mkdtempSync(join(tmpdir(), "kubelan-agent-"))
  const configPath = join(dir, "kubelan.yaml")
  const writeConfig = (yaml: string) => {
    const staging = join(dir, `.kubelan.yaml.${Date.now()}`)
    writeFileSync(staging, yaml)
    renameSync(staging, configPath)
  }
  writeConfig(options.config)
  let output = ""
  const args = runInNetnsArgs(
    options.netns,
    ["--config", configPath, ...(options.args ?? [])],
    options.nodeFlags ?? agentNodeFlags,
    options.bundle
  )
  const child = execa("ip", options.serviceAccountDir === undefined ? args : withServiceAccount(args, options.serviceAccountDir), {
    reject: false,
    all: true,
    buffer: false,
    env: { ...agentNodeEnv, ...options.env },
    extendEnv: true,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd })
  })
  child.all?.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk
  })
  const exited = child.then((result) => ({ exitCode: result.exitCode }))
  const port = options.httpPort ?? 8181
  const http = async (path: string) => {
    const result = await inNetns(options.netns, "curl", ["-s", "-m", "5", "-w", "\n%{http_code}", `http://127.0.0.1:${port}${path}`], {
      allowFailure: true
    })
    const lines = result.stdout.split("\n")
    const status = Number(lines.pop())
    return { status, body: lines.join("\n") }
  }
  return {
    netns: options.netns,
    pid: child.pid,
    configPath,
    dir,
    output: () => output,
    writeConfig,
    http,
    exited,
    waitReady: async (timeoutMillis = 15_000) => {
      let done = false
      void exited.then(() => {
        done = true
      })
      await eventually(
        async () => {
          if (done) throw new Error(`agent exited before ready:\n${output}`)
          return (await http("/readyz")).status === 200 ? true : undefined
        },
        { timeoutMillis, what: `agent in ${options.netns} to be ready` }
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\n--- agent output ---\n${output}`)
      })
    },
    kill: async (signal = "SIGTERM") => {
      child.kill(signal)
      return exited
    }
  }
}
