import { Data } from "effect"

/** An iproute2 command failed; carries the command line and what it printed. */
export class NetlinkCommandError extends Data.TaggedError("NetlinkCommandError")<{
  readonly command: string
  readonly exitCode: number | undefined
  readonly stderr: string
}> {
  override get message(): string {
    return `${this.command} failed${this.exitCode === undefined ? "" : ` (exit ${this.exitCode})`}: ${this.stderr.trim() || "no output"}`
  }
}

/** The underlay address or its interface could not be found; says what to set instead. */
export class UnderlayError extends Data.TaggedError("UnderlayError")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

/** A link of another kind already has the interface's name: kubelan never deletes what it did not make. */
export class ForeignLinkError extends Data.TaggedError("ForeignLinkError")<{ readonly name: string; readonly kind: string | undefined }> {
  override get message(): string {
    return `${this.name} is an existing ${this.kind ?? "non-VXLAN"} link, not a VXLAN interface; kubelan never deletes a link it did not make: set vxlan.interface to another name`
  }
}

/** Another agent in this network namespace holds the interface. */
export class InterfaceLocked extends Data.TaggedError("InterfaceLocked")<{ readonly name: string }> {
  override get message(): string {
    return `another kubelan agent in this network namespace already manages ${this.name}: only one agent may own an interface`
  }
}

/** An FDB destination the kernel gives a special meaning (`dst 0.0.0.0` matches every flood entry). */
export class UnsafeFdbEntry extends Data.TaggedError("UnsafeFdbEntry")<{ readonly dst: string }> {
  override get message(): string {
    return `refusing FDB destination ${this.dst}: the kernel reads an unspecified or multicast destination as something other than one peer`
  }
}

export type NetlinkError = NetlinkCommandError | UnderlayError | ForeignLinkError | UnsafeFdbEntry
