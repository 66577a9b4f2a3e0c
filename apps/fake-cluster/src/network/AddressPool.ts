/**
 * Addresses handed out and taken back, one pool per range. Round robin, as the host-local IPAM
 * plugin hands them out: a released address is given again only after the rest of the range, so
 * an address names one pod for as long as it can (and a report's events stay unambiguous).
 */
export class AddressPool {
  private readonly used = new Set<string>()
  private next = 0
  private readonly addressAt: (index: number) => string
  private readonly size: number
  private readonly what: string

  constructor(what: string, size: number, addressAt: (index: number) => string) {
    this.what = what
    this.size = size
    this.addressAt = addressAt
  }

  allocate(): string {
    for (let step = 0; step < this.size; step++) {
      const index = (this.next + step) % this.size
      const address = this.addressAt(index)
      if (!this.used.has(address)) {
        this.used.add(address)
        this.next = (index + 1) % this.size
        return address
      }
    }
    throw new Error(`${this.what} is full (${this.size} addresses)`)
  }

  release(address: string) {
    this.used.delete(address)
  }
}
