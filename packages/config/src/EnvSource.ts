import type { ConfigKeyName } from "./ConfigKeys.ts"
import { keyByEnv } from "./ConfigKeys.ts"
import type { RawValues } from "./FileSource.ts"
import type { Origin } from "./Origin.ts"

/** `KL_*` variables for known keys; empty ones count as unset, as in the original. */
export const readEnv = (env: Readonly<Record<string, string | undefined>>): RawValues => {
  const values = new Map<ConfigKeyName, { raw: unknown; origin: Origin }>()
  for (const [name, raw] of Object.entries(env)) {
    const keyName = keyByEnv.get(name)
    if (keyName !== undefined && raw !== undefined && raw !== "") values.set(keyName, { raw, origin: { kind: "env", name } })
  }
  return { values, problems: [] }
}
