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

export type NetlinkError = NetlinkCommandError | UnderlayError
