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
  return { loaded: { ...reloaded, config, origins }, warnings }
}
