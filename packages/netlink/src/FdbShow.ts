import { zeroMac } from "./Iproute2Json.ts"

/**
 * Destinations of the flood (zero-MAC) entries in `bridge fdb show dev NAME`'s text output, one
 * entry a line: `00:00:00:00:00:00 dst 10.0.0.2 self permanent`. Text, not `-json`: the periodic
 * resync reads thousands of entries, and the text is what costs least to print and to read.
 */
export const floodDestinations = (text: string): ReadonlyArray<string> => {
  const destinations: Array<string> = []
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${zeroMac} `)) continue
    const at = line.indexOf(" dst ")
    if (at === -1) continue
    const end = line.indexOf(" ", at + 5)
    destinations.push(line.slice(at + 5, end === -1 ? undefined : end))
  }
  return destinations
}
