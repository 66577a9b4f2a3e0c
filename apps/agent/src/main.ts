import module from "node:module"
import {
  ConfigError,
  configKeys,
  describeOrigin,
  formatProblem,
  isNetworkKey,
  keyNames,
  type LoadedConfig,
  loadConfigSync,
  toConfigDocument
} from "@kubelan/config"
import { ForeignLinkError, InterfaceLocked, Iproute2Netlink } from "@kubelan/netlink"
import { Cause, Effect, Exit, Fiber, Layer } from "effect"
import { agentLayer } from "./Agent.ts"
import { missingCapability } from "./Capabilities.ts"
import { parseCommandLine, usage } from "./Cli.ts"
import * as HttpServer from "./HttpServer.ts"
import * as Logging from "./Logging.ts"
import { preflight } from "./Preflight.ts"
import { version } from "./version.ts"

const badConfig = 2

const isTagged = (value: unknown, tag: string): value is Error => value instanceof Error && (value as { _tag?: unknown })._tag === tag

const fail = (lines: ReadonlyArray<string>, code = badConfig): never => {
  for (const line of lines) process.stderr.write(`kubelan: ${line}\n`)
  process.exit(code)
}

const loadOrExit = (options: Parameters<typeof loadConfigSync>[0]): LoadedConfig => {
  const loaded = loadConfigSync(options)
  return loaded instanceof ConfigError ? fail(["invalid config:", ...loaded.problems.map(formatProblem)]) : loaded
}

/** Looks a dotted path up in the config document (`vxlan.vni` → 6969). */
const valueAt = (document: unknown, path: string): unknown =>
  path
    .split(".")
    .reduce<unknown>(
      (node, part) => (typeof node === "object" && node !== null ? (node as Record<string, unknown>)[part] : undefined),
      document
    )

const printConfig = (loaded: LoadedConfig, json: boolean) => {
  const document = toConfigDocument(loaded.config)
  const { networks, networksListed } = loaded.config
  // With a networks list, each network's keys are rows of their own: networks[1].vxlan.vni.
  const rows = [
    ...keyNames
      .filter((name) => !networksListed || !isNetworkKey(name))
      .map((name) => ({
        key: configKeys[name].path,
        env: configKeys[name].env,
        value: valueAt(document, configKeys[name].path),
        source: describeOrigin(loaded.origins[name])
      })),
    ...(networksListed
      ? networks.flatMap((_, index) =>
          keyNames.filter(isNetworkKey).map((name) => ({
            key: `networks[${index}].${configKeys[name].path}`,
            env: `KL_NETWORKS_${index}_${configKeys[name].env.slice(3)}`,
            value: valueAt((document as { networks?: ReadonlyArray<unknown> }).networks?.[index], configKeys[name].path),
            source: describeOrigin(loaded.networkOrigins[index]?.[name] ?? { kind: "default" })
          }))
        )
      : [])
  ]
  if (json) return process.stdout.write(`${JSON.stringify({ file: loaded.file ?? null, keys: rows }, null, 2)}\n`)
  process.stdout.write(`# config file: ${loaded.file ?? "none found"}\n`)
  const width = Math.max(...rows.map((row) => `${row.key}: ${JSON.stringify(row.value)}`.length))
  for (const row of rows) process.stdout.write(`${`${row.key}: ${JSON.stringify(row.value)}`.padEnd(width)}   # ${row.source}\n`)
}

/**
 * The failures that are the config's fault, as the lines `invalid config` prints: the key, where
 * its value came from, and what is wrong. Anything else is not for the user to fix in the config.
 */
const configLines = (error: unknown, loaded: LoadedConfig): ReadonlyArray<string> | undefined => {
  if (error instanceof ConfigError) return error.problems.map(formatProblem)
  if (error instanceof InterfaceLocked)
    return [formatProblem({ key: "vxlan.interface", origin: loaded.origins.vxlanInterface, message: error.message })]
  if (error instanceof ForeignLinkError)
    return [formatProblem({ key: "vxlan.interface", origin: loaded.origins.vxlanInterface, message: error.message })]
  if (error instanceof HttpServer.ListenError)
    return [formatProblem({ key: "http_address", origin: loaded.origins.httpAddress, message: error.message })]
  return undefined
}

/**
 * Runs the agent until SIGINT/SIGTERM, which interrupt it so its finalizers delete the
 * interface; that is a clean stop (exit 0). Bad config exits 2, any other failure 1.
 */
const runAgent = (main: Effect.Effect<never, unknown>, loaded: LoadedConfig) => {
  const fiber = Effect.runFork(main)
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    Effect.runFork(Fiber.interrupt(fiber))
  }
  // `on`, not `once`: execa's signal-exit re-raises a signal when it is the only listener left.
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)
  fiber.addObserver((exit) => {
    if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) process.exit(0)
    const error = Cause.findErrorOption(exit.cause)
    const lines = error._tag === "Some" ? configLines(error.value, loaded) : undefined
    if (lines !== undefined) fail(["invalid config:", ...lines])
    // Credentials the pod does not have (by tag: the kubernetes backend's module loads only when used).
    if (error._tag === "Some" && isTagged(error.value, "KubeconfigError")) fail([error.value.message])
    process.stderr.write(`kubelan: ${Cause.pretty(exit.cause)}\n`)
    process.exit(1)
  })
}

const command = parseCommandLine(process.argv.slice(2), process.env)
switch (command.kind) {
  case "help":
    process.stdout.write(`${usage}\n`)
    break
  case "version":
    process.stdout.write(`kubelan ${version}\n`)
    break
  case "usage-error":
    fail([command.message, "see kubelan --help"])
    break
  case "config-validate": {
    const loaded = loadOrExit(command.load)
    process.stdout.write(`config is valid (${loaded.file ?? "no file: env and defaults"})\n`)
    break
  }
  case "config-print":
    printConfig(loadOrExit(command.load), command.json)
    break
  case "run": {
    const loaded = loadOrExit(command.load)
    const capability = missingCapability()
    if (capability !== undefined) fail([capability])
    // Deprecation notices come from dependencies (client-node's URL polyfill); nothing an operator can act on.
    process.noDeprecation = true
    // SIGHUP reloads (the agent's layer handles it); until that is in place it must not stop the agent.
    process.on("SIGHUP", () => {})
    // The code compiled while starting goes to the compile cache now, not only at exit: the next
    // agent started on this node (a restart, another pod) starts from it.
    setTimeout(() => module.flushCompileCache?.(), 5000).unref()
    Logging.setLogLevel(loaded.config.logLevel)
    // Described first, so that a backend's module loads while the pod's checks run.
    const agent = agentLayer(loaded, command.load)
    const main = Effect.gen(function* () {
      // What only the pod can say (its addresses, its links, other agents) is checked before anything is made.
      const problems = yield* preflight(loaded).pipe(Effect.provide(Iproute2Netlink.layer()))
      if (problems.length > 0) return yield* new ConfigError({ problems })
      return yield* Layer.launch(agent)
    }).pipe(Effect.provide(Logging.layer(!process.stdout.isTTY)), Effect.annotateLogs({ version }))
    runAgent(main, loaded)
    break
  }
}
