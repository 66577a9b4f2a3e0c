import { Data } from "effect"
import { describeOrigin, type Origin } from "./Origin.ts"

export interface ConfigProblem {
  /** The YAML path of the key, or "config" for the file itself. */
  readonly key: string
  readonly origin: Origin
  readonly message: string
}

/** Keys come from the user's file too (an unknown one is reported by name): a long one is cut short. */
const shortKey = (key: string) => (key.length <= 100 ? key : `${key.slice(0, 80)}… (${key.length} characters)`)

export const formatProblem = (problem: ConfigProblem): string =>
  `${shortKey(problem.key)} (${describeOrigin(problem.origin)}): ${problem.message}`

/** Invalid configuration: one problem per bad key, each naming where the value came from. */
export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly problems: ReadonlyArray<ConfigProblem> }> {
  override get message(): string {
    return this.problems.map(formatProblem).join("\n")
  }
}
