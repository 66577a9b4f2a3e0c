import { isRecord, type KubeObject } from "./KubeObject.ts"

/**
 * ClusterIP allocation as the real server's service registry does it on create, from its
 * service CIDR (10.96.0.0/16 here; .1 is the `kubernetes` Service's), and the dual-stack fields
 * it fills in beside it. An update that leaves the addresses out keeps the allocated ones.
 * They are API values only: nothing in kubelan-sim sends to a ClusterIP.
 */
export class ServiceAddresses {
  private readonly used = new Set<string>()
  private next = 10

  /** Before validation of a create: allocates unless the Service is headless, ExternalName, or names its address. */
  allocate(service: KubeObject) {
    const spec = service.spec
    if (!isRecord(spec) || spec.type === "ExternalName") return
    if (typeof spec.clusterIP !== "string" || spec.clusterIP === "") {
      const given = Array.isArray(spec.clusterIPs) ? spec.clusterIPs[0] : undefined
      spec.clusterIP = typeof given === "string" && given !== "" ? given : this.free()
    }
    if (spec.clusterIP !== "None") this.used.add(spec.clusterIP as string)
    fillFamilies(spec)
    if (service.status === undefined) service.status = { loadBalancer: {} }
  }

  /** An update: what the client left out is what was allocated. */
  keep(service: KubeObject, previous: KubeObject) {
    const spec = service.spec
    const before = previous.spec
    if (!isRecord(spec) || !isRecord(before) || spec.type === "ExternalName") return
    for (const field of ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"])
      if (spec[field] === undefined || spec[field] === "") spec[field] = before[field]
    fillFamilies(spec)
  }

  release(service: KubeObject) {
    if (isRecord(service.spec) && typeof service.spec.clusterIP === "string") this.used.delete(service.spec.clusterIP)
  }

  private free() {
    for (let i = 0; i < 65_000; i++) {
      const n = this.next
      this.next = this.next >= 65_534 ? 10 : this.next + 1
      const address = `10.96.${n >> 8}.${n & 255}`
      if (!this.used.has(address)) return address
    }
    throw new Error("the service CIDR 10.96.0.0/16 is full")
  }
}

const fillFamilies = (spec: Record<string, unknown>) => {
  if (spec.clusterIPs === undefined) spec.clusterIPs = [spec.clusterIP]
  if (spec.ipFamilies === undefined) spec.ipFamilies = [String(spec.clusterIP).includes(":") ? "IPv6" : "IPv4"]
  if (spec.ipFamilyPolicy === undefined) spec.ipFamilyPolicy = "SingleStack"
}
