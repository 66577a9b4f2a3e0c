/** What kubelan wants the VXLAN interface to be. */
export interface VxlanSpec {
  readonly name: string
  readonly vni: number
  readonly port: number
  /** Underlay source address; the family decides IPv4 or IPv6 encapsulation. */
  readonly local: string
  readonly mtu: number
  /** The interface's MAC; undefined = whatever the kernel gave it. */
  readonly mac?: string | undefined
}

/** What the kernel has under that name. */
export interface LinkState {
  readonly ifindex: number
  readonly name: string
  readonly kind: string | undefined
  readonly vni: number | undefined
  readonly port: number | undefined
  readonly local: string | undefined
  readonly learning: boolean | undefined
  readonly mtu: number
  readonly up: boolean
  readonly mac: string | undefined
  /** Its addresses as CIDRs (link-local ones left out: the kernel makes those). */
  readonly addresses: ReadonlyArray<string>
}

export type EnsureAction = "created" | "adopted" | "recreated"

export interface EnsureResult {
  readonly ifindex: number
  readonly action: EnsureAction
  /** Why an existing interface was recreated (`vni: 1 vs 2`). */
  readonly reasons: ReadonlyArray<string>
  /** The addresses the interface has now (none when it was just made). */
  readonly addresses: ReadonlyArray<string>
}

/**
 * The attributes that make an existing interface unusable for `spec`, as readable strings.
 * MTU, MAC and up/down are not here: they are fixed in place without recreating.
 */
export const vxlanIncompatibilities = (spec: VxlanSpec, link: LinkState): ReadonlyArray<string> => {
  const reasons: Array<string> = []
  const compare = (attribute: string, have: unknown, want: unknown) => {
    if (have !== want) reasons.push(`${attribute}: ${String(have)} vs ${String(want)}`)
  }
  compare("vni", link.vni, spec.vni)
  compare("port", link.port, spec.port)
  compare("local", link.local, spec.local)
  return reasons
}
