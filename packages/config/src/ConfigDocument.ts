import { formatDuration } from "./Duration.ts"
import type { KubelanConfig } from "./KubelanConfig.ts"

/** The effective config in the file's own shape (snake_case), for `GET /config` and `config print`. */
export const toConfigDocument = (config: KubelanConfig) => ({
  log_level: config.logLevel,
  http_address: config.httpAddress,
  ip: config.ip,
  namespace: config.namespace,
  services: config.services,
  pod_name: config.podName,
  pod_uid: config.podUid,
  vxlan: {
    interface: config.vxlan.interface,
    vni: config.vxlan.vni,
    port: config.vxlan.port,
    mtu: config.vxlan.mtu,
    mac: config.vxlan.mac,
    address: config.vxlan.addresses,
    announce: config.vxlan.announce,
    filter: config.vxlan.filter
  },
  hooks: { up: config.hooks.up, change: config.hooks.change, timeout: formatDuration(config.hooks.timeoutMillis) },
  peers: { include: config.peers.include },
  resync_interval: formatDuration(config.resyncIntervalMillis),
  discovery: {
    backend: config.discovery.backend,
    static: Object.fromEntries(config.discovery.static),
    kubernetes: { watch_timeout: formatDuration(config.discovery.kubernetes.watchTimeoutMillis) },
    dns: { interval: formatDuration(config.discovery.dns.intervalMillis), cluster_domain: config.discovery.dns.clusterDomain }
  }
})
