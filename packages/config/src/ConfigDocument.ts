import { formatDuration } from "./Duration.ts"
import type { KubelanConfig, NetworkConfig } from "./KubelanConfig.ts"

/** One network's settings in the file's own keys. */
export const networkDocument = (network: NetworkConfig) => ({
  services: network.services,
  vxlan: {
    interface: network.vxlan.interface,
    vni: network.vxlan.vni,
    port: network.vxlan.port,
    mtu: network.vxlan.mtu,
    mac: network.vxlan.mac,
    address: network.vxlan.addresses,
    announce: network.vxlan.announce,
    filter: network.vxlan.filter
  },
  hooks: { up: network.hooks.up, change: network.hooks.change, timeout: formatDuration(network.hooks.timeoutMillis) },
  peers: { include: network.peers.include }
})

/**
 * The effective config in the file's own shape (snake_case), for `GET /config` and `config
 * print`: the original's keys for one network, or the `networks` list when the config used it.
 */
export const toConfigDocument = (config: KubelanConfig) => {
  const first = config.networks[0]
  return {
    log_level: config.logLevel,
    http_address: config.httpAddress,
    ip: config.ip,
    namespace: config.namespace,
    pod_name: config.podName,
    pod_uid: config.podUid,
    ...(config.networksListed
      ? { networks: config.networks.map((network) => ({ name: network.name, ...networkDocument(network) })) }
      : first === undefined
        ? {}
        : networkDocument(first)),
    resync_interval: formatDuration(config.resyncIntervalMillis),
    discovery: {
      backend: config.discovery.backend,
      static: Object.fromEntries(config.discovery.static),
      kubernetes: { watch_timeout: formatDuration(config.discovery.kubernetes.watchTimeoutMillis) },
      dns: { interval: formatDuration(config.discovery.dns.intervalMillis), cluster_domain: config.discovery.dns.clusterDomain }
    }
  }
}
