import type { ConfigProblem } from "./ConfigError.ts"
import type { ConfigKeyName } from "./ConfigKeys.ts"
import { isNetworkKey, keyByEnv } from "./ConfigKeys.ts"
import { maxNetworks, type RawNetwork, type RawValue, type RawValues } from "./FileSource.ts"

/**
 * `KL_*` variables for known keys; empty ones count as unset, as in the original. A `networks`
 * entry's key is `KL_NETWORKS_<index>_` + the key's own variable without `KL_`
 * (`KL_NETWORKS_1_VXLAN_VNI`, `KL_NETWORKS_0_SERVICES`, `KL_NETWORKS_1_NAME`); it sets that key
 * of that entry, over the file's, and an index the file does not have adds an entry.
 */
export const readEnv = (env: Readonly<Record<string, string | undefined>>): RawValues => {
  const values = new Map<ConfigKeyName, RawValue>()
  const problems: Array<ConfigProblem> = []
  let networks: Map<number, { name: RawValue | undefined; values: Map<ConfigKeyName, RawValue> }> | undefined
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined || raw === "") continue
    const origin = { kind: "env", name } as const
    const entry = /^KL_NETWORKS_(\d{1,3})_(.+)$/.exec(name)
    if (entry === null) {
      const keyName = keyByEnv.get(name)
      if (keyName !== undefined) values.set(keyName, { raw, origin })
      continue
    }
    const index = Number(entry[1])
    const keyName = keyByEnv.get(`KL_${entry[2]}`)
    if (index >= maxNetworks)
      problems.push({ key: `networks[${index}]`, origin, message: `at most ${maxNetworks} networks (indices 0..${maxNetworks - 1})` })
    else if (entry[2] !== "NAME" && (keyName === undefined || !isNetworkKey(keyName)))
      problems.push({ key: `networks[${index}]`, origin, message: `${name} names no setting of a network` })
    else {
      networks ??= new Map()
      const network = networks.get(index) ?? { name: undefined, values: new Map() }
      networks.set(index, network)
      if (entry[2] === "NAME") network.name = { raw, origin }
      else network.values.set(keyName as ConfigKeyName, { raw, origin })
    }
  }
  return { values, networks: networks as ReadonlyMap<number, RawNetwork> | undefined, problems }
}
