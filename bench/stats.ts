/** Small helpers to report medians of repeated runs. */
export const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

export const timeAsync = async (f: () => Promise<unknown>) => {
  const started = performance.now()
  await f()
  return performance.now() - started
}

export const fmt = (millis: number) => `${millis.toFixed(1)} ms`

export const verdict = (value: number, target: number) => (value <= target ? "meets target" : "MISSES target")
