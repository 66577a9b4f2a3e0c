/** Per-client traffic, so a test can prove what an agent was (and was not) sent. */
export interface ClientTraffic {
  requests: number
  bytesSent: number
  watchEvents: number
  /** Watch events by object kind (EndpointSlice ...), with BOOKMARK and ERROR counted apart. */
  eventsByKind: Record<string, number>
  paths: Array<string>
}

export class RequestLog {
  private readonly clients = new Map<string, ClientTraffic>()

  private entry(client: string): ClientTraffic {
    let traffic = this.clients.get(client)
    if (traffic === undefined) {
      traffic = { requests: 0, bytesSent: 0, watchEvents: 0, eventsByKind: {}, paths: [] }
      this.clients.set(client, traffic)
    }
    return traffic
  }

  request(client: string, path: string) {
    const traffic = this.entry(client)
    traffic.requests += 1
    if (traffic.paths.length < 1000) traffic.paths.push(path)
  }

  sent(client: string, bytes: number) {
    this.entry(client).bytesSent += bytes
  }

  event(client: string, kind: string) {
    const traffic = this.entry(client)
    traffic.watchEvents += 1
    traffic.eventsByKind[kind] = (traffic.eventsByKind[kind] ?? 0) + 1
  }

  byClient(): Record<string, ClientTraffic> {
    return Object.fromEntries([...this.clients].map(([client, traffic]) => [client, structuredClone(traffic)]))
  }

  reset() {
    this.clients.clear()
  }
}

/** Who a request came from: its User-Agent, which tests set per client. */
export const clientOf = (userAgent: string | undefined) => userAgent ?? "unknown"
