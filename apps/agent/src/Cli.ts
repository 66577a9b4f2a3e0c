import type { LoadOptions } from "@kubelan/config"

/** What the command line asked for. Parsed by hand: four commands and three flags. */
export type Command =
  | { readonly kind: "run"; readonly load: LoadOptions }
  | { readonly kind: "config-validate"; readonly load: LoadOptions }
  | { readonly kind: "config-print"; readonly load: LoadOptions; readonly json: boolean }
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | { readonly kind: "usage-error"; readonly message: string }

export const usage = `kubelan — a private Layer-2 network (VXLAN) for the pods behind a set of Kubernetes Services

Usage:
  kubelan [run] [--config PATH] [-l LEVEL]   run the agent (the sidecar's command)
  kubelan config validate [FILE]             check a config (FILE, or the usual search, plus KL_* env);
                                             exit 0 when valid, 2 with one line per problem
  kubelan config print [--json]              print the effective config and where each value came from
  kubelan --help | --version

Flags:
  --config PATH          config file (default: kubelan.yaml in /run/config, then .)
  -l, --log-level LEVEL  trace, debug, info, warn or error (overrides KL_LOG_LEVEL and the file)
  -h, --help             this text
  -v, --version          the version

Every config key can also be set as an environment variable: KL_ + its path upper-cased, with
"." as "_" (vxlan.vni → KL_VXLAN_VNI). Precedence: flags > env > file > defaults.
Reference and examples: deploy/kubelan.sample.yaml and the README.

HTTP (http_address, default :8181): /health /healthz /readyz /config /peers /metrics
Exit status: 0 after a clean stop (SIGINT/SIGTERM delete the interface), 2 for bad config or usage.`

export const parseCommandLine = (args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): Command => {
  const positional: Array<string> = []
  let configPath: string | undefined
  let logLevel: { raw: string; flag: string } | undefined
  let json = false
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    const [name, inline] =
      arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined]
    const value = () => {
      if (inline !== undefined) return inline
      const next = args[++i]
      if (next === undefined) throw new Error(`${name} needs a value`)
      return next
    }
    try {
      // `--` only separates options from operands (and `pnpm kubelan -- ARGS` passes one).
      if (arg === "--") continue
      if (name === "-h" || name === "--help") return { kind: "help" }
      if (name === "-v" || name === "--version") return { kind: "version" }
      if (name === "--config") configPath = value()
      else if (name === "-l" || name === "--log-level") logLevel = { raw: value(), flag: name }
      else if (name === "--json") json = true
      else if (name.startsWith("-")) return { kind: "usage-error", message: `unknown flag ${name}` }
      else positional.push(arg)
    } catch (error) {
      return { kind: "usage-error", message: (error as Error).message }
    }
  }
  const load: LoadOptions = { configPath, env, flags: logLevel === undefined ? {} : { logLevel } }
  const [first, second, third, ...rest] = positional
  if (first === undefined || (first === "run" && second === undefined)) return { kind: "run", load }
  if (first === "config" && second === "validate" && rest.length === 0)
    return { kind: "config-validate", load: third === undefined ? load : { ...load, configPath: third } }
  if (first === "config" && second === "print" && third === undefined) return { kind: "config-print", load, json }
  return { kind: "usage-error", message: `unknown command: ${positional.join(" ")}` }
}
