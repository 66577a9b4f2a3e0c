import { canonicalAddress } from "./Address.ts"
import type { ConfigProblem } from "./ConfigError.ts"
import { parseListenAddress, show } from "./ConfigKeys.ts"
import type { LoadedConfig } from "./loadConfig.ts"

/**
 * What the pod itself says about a config: settings that are well-formed but can only be
 * checked where the agent runs. The agent gathers the facts; this decides, before anything is
 * created in the kernel, and again for every reload.
 */
export interface HostFacts {
  /** The addresses assigned to the pod's interfaces. */
  readonly addresses: ReadonlySet<string>
  /** Links that already have a network's interface name, by name; `kind` is undefined for links like lo. */
  readonly existingLinks: ReadonlyMap<string, { readonly kind: string | undefined }>
  /** Interface names another agent in this network namespace manages. */
  readonly lockedInterfaces: ReadonlySet<string>
  /** iptables-restore and ip6tables-restore are on PATH (for vxlan.filter). */
  readonly iptablesRestore: boolean
}

const wildcards = new Set(["0.0.0.0", "::", "localhost"])

export const hostProblems = (loaded: LoadedConfig, host: HostFacts): ReadonlyArray<ConfigProblem> => {
  const { config, origins } = loaded
  const problems: Array<ConfigProblem> = []
  const local = new Set([...host.addresses].map(canonicalAddress))
  if (config.ip !== "" && !local.has(canonicalAddress(config.ip)))
    problems.push({
      key: "ip",
      origin: origins.ip,
      message: `${show(config.ip)} is not assigned to any interface of this pod: set ip (KL_IP) to the pod's own address (status.podIP)`
    })
  const listen = parseListenAddress(config.httpAddress)
  if (listen?.host !== undefined && !wildcards.has(listen.host) && !local.has(canonicalAddress(listen.host)))
    problems.push({
      key: "http_address",
      origin: origins.httpAddress,
      message: `${show(listen.host)} is not an address of this pod: use :${listen.port} to listen on every address`
    })
  for (const [index, network] of config.networks.entries()) {
    const prefix = config.networksListed ? `networks[${index}].` : ""
    const at = loaded.networkOrigins[index] ?? {}
    const name = network.vxlan.interface
    const existing = host.existingLinks.get(name)
    if (existing !== undefined && existing.kind !== "vxlan")
      problems.push({
        key: `${prefix}vxlan.interface`,
        origin: at.vxlanInterface ?? { kind: "default" },
        message: `${show(name)} is an existing ${existing.kind ?? "non-VXLAN"} link, not a VXLAN interface; kubelan never deletes a link it did not make: choose another name`
      })
    if (host.lockedInterfaces.has(name))
      problems.push({
        key: `${prefix}vxlan.interface`,
        origin: at.vxlanInterface ?? { kind: "default" },
        message: `another kubelan agent in this network namespace already manages ${show(name)}: only one agent may own an interface`
      })
    if (network.vxlan.filter && !host.iptablesRestore)
      problems.push({
        key: `${prefix}vxlan.filter`,
        origin: at.vxlanFilter ?? { kind: "default" },
        message: "true needs iptables-restore and ip6tables-restore (Debian's iptables package), which this container does not have"
      })
  }
  return problems
}
