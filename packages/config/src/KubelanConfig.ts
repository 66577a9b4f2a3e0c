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
  /** Always `ns/name`: names without a namespace are qualified with `namespace`. */
  readonly services: ReadonlyArray<string>
  readonly vxlan: VxlanConfig
  readonly hooks: HooksConfig
  readonly peers: { readonly include: PeerPolicy }
  readonly resyncIntervalMillis: number
  readonly discovery: DiscoveryConfig
}
