/** Addresses handed out and taken back, lowest free first: as a pod IPAM, one pool per range. */
export class AddressPool {
  private readonly used = new Set<string>()
  private readonly addressAt: (index: number) => string
  private readonly size: number
  private readonly what: string

  constructor(what: string, size: number, addressAt: (index: number) => string) {
    this.what = what
    this.size = size
    this.addressAt = addressAt
  }

  allocate(): string {
    for (let index = 0; index < this.size; index++) {
      const address = this.addressAt(index)
      if (!this.used.has(address)) {
        this.used.add(address)
        return address
      }
    }
    throw new Error(`${this.what} is full (${this.size} addresses)`)
  }

  release(address: string) {
    this.used.delete(address)
  }
}
