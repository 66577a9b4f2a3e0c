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
  /** The link that already has the name `vxlan.interface`, if any; `kind` is undefined for links like lo. */
  readonly existingLink: { readonly kind: string | undefined } | undefined
  /** Another agent in this network namespace manages an interface of that name. */
  readonly interfaceLocked: boolean
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
  const name = config.vxlan.interface
  if (host.existingLink !== undefined && host.existingLink.kind !== "vxlan")
    problems.push({
      key: "vxlan.interface",
      origin: origins.vxlanInterface,
      message: `${show(name)} is an existing ${host.existingLink.kind ?? "non-VXLAN"} link, not a VXLAN interface; kubelan never deletes a link it did not make: choose another name`
    })
  if (host.interfaceLocked)
    problems.push({
      key: "vxlan.interface",
      origin: origins.vxlanInterface,
      message: `another kubelan agent in this network namespace already manages ${show(name)}: only one agent may own an interface`
    })
  if (config.vxlan.filter && !host.iptablesRestore)
    problems.push({
      key: "vxlan.filter",
      origin: origins.vxlanFilter,
      message: "true needs iptables-restore and ip6tables-restore (Debian's iptables package), which this container does not have"
    })
  return problems
}
