import type { LoadedConfig } from "./loadConfig.ts"

/**
 * What a reload applies while the agent runs. Two settings are fixed for the life of the
 * process: the HTTP listener, and the membership source (with every `discovery.*` setting, so
 * the running source does not follow half of a config written for another one). A reload that
 * changes them applies everything else and keeps those, and says that a restart is needed.
 */
export interface ReloadPlan {
  readonly loaded: LoadedConfig
  readonly warnings: ReadonlyArray<string>
}

export const planReload = (running: LoadedConfig, reloaded: LoadedConfig): ReloadPlan => {
  const warnings: Array<string> = []
  let config = reloaded.config
  let origins = reloaded.origins
  if (reloaded.config.httpAddress !== running.config.httpAddress) {
    warnings.push(
      `http_address changed from ${JSON.stringify(running.config.httpAddress)} to ${JSON.stringify(reloaded.config.httpAddress)}: ` +
        `it applies after a restart; still serving on ${running.config.httpAddress}`
    )
    config = { ...config, httpAddress: running.config.httpAddress }
    origins = { ...origins, httpAddress: running.origins.httpAddress }
  }
  if (reloaded.config.discovery.backend !== running.config.discovery.backend) {
    warnings.push(
      `discovery.backend changed from ${running.config.discovery.backend} to ${reloaded.config.discovery.backend}: ` +
        `restart the agent to switch; until then it keeps following ${running.config.discovery.backend} with its running discovery settings`
    )
    config = { ...config, discovery: running.config.discovery }
    origins = {
      ...origins,
      discoveryBackend: running.origins.discoveryBackend,
      discoveryStatic: running.origins.discoveryStatic,
      discoveryKubernetesWatchTimeout: running.origins.discoveryKubernetesWatchTimeout,
      discoveryDnsInterval: running.origins.discoveryDnsInterval,
      discoveryDnsClusterDomain: running.origins.discoveryDnsClusterDomain
    }
  }
  // The networks themselves are the agent's structure: one reconcile loop each, made at start.
  // A reload changes the settings of those it has; one it adds or removes waits for a restart.
  const names = (loaded: LoadedConfig) => loaded.config.networks.map((network) => network.name)
  if (names(reloaded).join() !== names(running).join()) {
    warnings.push(
      `the networks changed from ${names(running).join(", ")} to ${names(reloaded).join(", ")}: ` +
        "networks added or removed apply after a restart; until then each running network takes its own new settings, if any"
    )
    const byName = new Map(reloaded.config.networks.map((network, index) => [network.name, index]))
    const networks = running.config.networks.map((network) => {
      const index = byName.get(network.name)
      return index === undefined ? network : (reloaded.config.networks[index] ?? network)
    })
    const networkOrigins = running.config.networks.map((network, index) => {
      const at = byName.get(network.name)
      return at === undefined ? (running.networkOrigins[index] ?? {}) : (reloaded.networkOrigins[at] ?? {})
    })
    const first = networks[0] ?? running.config.networks[0]
    config = {
      ...config,
      networks,
      services: [...new Set(networks.flatMap((network) => network.services))],
      ...(first === undefined ? {} : { vxlan: first.vxlan, hooks: first.hooks, peers: first.peers })
    }
    return { loaded: { ...reloaded, config, origins, networkOrigins }, warnings }
  }
  return { loaded: { ...reloaded, config, origins }, warnings }
}
