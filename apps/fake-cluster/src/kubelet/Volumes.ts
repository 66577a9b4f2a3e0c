import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs"
import { basename, join } from "node:path"

/**
 * A ConfigMap volume laid out as the kubelet does: the keys in a timestamped directory, a
 * `..data` symlink to it, and one symlink per key through `..data`. An update writes a new
 * directory and swaps `..data` atomically, which is what the agent's reload watches for. Files
 * get the volume's `defaultMode` (0644 unless set), so a script in a ConfigMap can be run.
 */
export const writeConfigMapVolume = (dir: string, data: Readonly<Record<string, string>>, mode = 0o644) => {
  // The API server admits only plain file names as keys; this holds even if something else wrote the data.
  for (const key of Object.keys(data))
    if (basename(key) !== key || key.startsWith("..") || key === ".")
      throw new Error(`ConfigMap key ${JSON.stringify(key)} is not a file name`)
  mkdirSync(dir, { recursive: true })
  const version = `..${new Date().toISOString().replace(/[:.]/g, "_")}_${Math.random().toString(16).slice(2, 8)}`
  mkdirSync(join(dir, version))
  for (const [key, value] of Object.entries(data)) {
    writeFileSync(join(dir, version, key), value)
    chmodSync(join(dir, version, key), mode & 0o777)
  }
  const staging = join(dir, "..data_tmp")
  if (existsSync(staging)) unlinkSync(staging)
  symlinkSync(version, staging)
  renameSync(staging, join(dir, "..data"))
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith("..") && entry !== "..data" && entry !== version) rmSync(join(dir, entry), { recursive: true, force: true })
    else if (!entry.startsWith("..") && !(entry in data)) unlinkSync(join(dir, entry))
  }
  for (const key of Object.keys(data)) if (!existsSync(join(dir, key))) symlinkSync(join("..data", key), join(dir, key))
}

/** A ConfigMap volume's file mode, as the API server admits it: 0..0777. */
export const volumeMode = (mode: unknown) =>
  typeof mode === "number" && Number.isInteger(mode) && mode >= 0 && mode <= 0o777 ? mode : 0o644
