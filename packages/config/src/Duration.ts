/** Go-style durations ("500ms", "30s", "1m30s"), as the original's config used. */
const unitMillis: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/y

export const parseDuration = (text: string): number | undefined => {
  const input = text.trim()
  if (input === "") return undefined
  if (/^\d+$/.test(input)) return Number(input) * 1000
  let total = 0
  part.lastIndex = 0
  while (part.lastIndex < input.length) {
    const match = part.exec(input)
    if (match === null) return undefined
    total += Number(match[1]) * (unitMillis[match[2] as string] as number)
  }
  return total
}

export const formatDuration = (millis: number): string =>
  millis % 3_600_000 === 0 && millis > 0 ? `${millis / 3_600_000}h` : millis % 1000 === 0 ? `${millis / 1000}s` : `${millis}ms`
