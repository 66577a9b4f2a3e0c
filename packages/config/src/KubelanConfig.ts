/** The effective configuration, after sources are merged and every key is decoded. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error"
export type PeerPolicy = "all" | "serving" | "ready"
export type DiscoveryBackend = "kubernetes" | "dns" | "static"

export interface VxlanConfig {
  readonly interface: string
  readonly vni: number
  readonly port: number
  /** -1 = auto: MTU of the underlay interface minus the VXLAN overhead. */
  readonly mtu: number
  /** The interface's MAC ("stable" already derived from the pod's identity); "" = the kernel's choice. */
  readonly mac: string
  /** Addresses (CIDR, templates already rendered for this pod) the agent assigns and keeps. */
  readonly addresses: ReadonlyArray<string>
  /** Announce the interface to the peers when it is made, adopted or given addresses. */
  readonly announce: boolean
  /** Accept the VXLAN port only from current members. */
  readonly filter: boolean
}

export interface HooksConfig {
  readonly up: ReadonlyArray<string>
  readonly change: ReadonlyArray<string>
  readonly timeoutMillis: number
}

export interface DiscoveryConfig {
  readonly backend: DiscoveryBackend
  /** `ns/name` → member addresses, for the static backend. */
  readonly static: ReadonlyMap<string, ReadonlyArray<string>>
  readonly kubernetes: { readonly watchTimeoutMillis: number }
  readonly dns: { readonly intervalMillis: number; readonly clusterDomain: string }
}

/** One L2 network: an interface, its VXLAN, the Services whose pods are its members, its hooks. */
export interface NetworkConfig {
  /** Its name in /peers, /config, metrics and logs: the entry's `name`, else its interface's. */
  readonly name: string
  /** Always `ns/name`. */
  readonly services: ReadonlyArray<string>
  readonly vxlan: VxlanConfig
  readonly hooks: HooksConfig
  readonly peers: { readonly include: PeerPolicy }
}

export interface KubelanConfig {
  readonly logLevel: LogLevel
  readonly httpAddress: string
  /** Underlay address of this pod; "" = auto-detect from the default route. */
  readonly ip: string
  readonly namespace: string
  /** This pod's name ("" = the host name). */
  readonly podName: string
  /** This pod's UID ("" = unknown: its Events then name it without one). */
  readonly podUid: string
  /** Every network's services, for the membership source: always `ns/name`. */
  readonly services: ReadonlyArray<string>
  /**
   * The first network's settings: the original's single network. With several, each
   * reconciler reads its own network through `networkView`.
   */
  readonly vxlan: VxlanConfig
  readonly hooks: HooksConfig
  readonly peers: { readonly include: PeerPolicy }
  /** Every network: one made of the top-level keys, unless the `networks` list is used. */
  readonly networks: ReadonlyArray<NetworkConfig>
  /** The config used the `networks` list: shown in that shape, metrics labelled by network. */
  readonly networksListed: boolean
  readonly resyncIntervalMillis: number
  readonly discovery: DiscoveryConfig
}

/** The config as one network's reconciler sees it: that network's settings at the top level. */
export const networkView = (config: KubelanConfig, network: NetworkConfig): KubelanConfig => ({
  ...config,
  services: network.services,
  vxlan: network.vxlan,
  hooks: network.hooks,
  peers: network.peers,
  networks: [network]
})
