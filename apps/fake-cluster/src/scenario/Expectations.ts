import { parseDuration } from "@kubelan/config"

/**
 * `expect:` clauses, one per line: `METRIC OP VALUE`, as `convergence.p99 <= 2s`,
 * `probes.lost == 0`, `fdb.wrong_removals == 0`, `measure.failover < 10s`, `probes.loss < 1%`.
 * Durations compare in milliseconds; a percentage is a ratio.
 */
export interface Expectation {
  readonly text: string
  readonly metric: string
  readonly op: "<" | "<=" | "==" | "!=" | ">=" | ">"
  readonly value: number
}

export interface Verdict {
  readonly expectation: string
  readonly metric: string
  readonly actual: number | undefined
  readonly held: boolean
  readonly why: string
}

const thresholdOf = (text: string): number | undefined => {
  if (/^-?\d+(\.\d+)?%$/.test(text)) return Number(text.slice(0, -1)) / 100
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text)
  return parseDuration(text)
}

export const parseExpectation = (text: string): Expectation | string => {
  const match = /^\s*([a-z_][\w.[\]-]*)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$/.exec(text)
  if (!match) return `${JSON.stringify(text)} is not METRIC OP VALUE (like "convergence.p99 <= 2s")`
  const value = thresholdOf(match[3] as string)
  if (value === undefined) return `${JSON.stringify(match[3])} is not a number, a percentage or a duration`
  return { text: text.trim(), metric: match[1] as string, op: match[2] as Expectation["op"], value }
}

const compare = (actual: number, op: Expectation["op"], value: number) =>
  op === "<"
    ? actual < value
    : op === "<="
      ? actual <= value
      : op === "=="
        ? actual === value
        : op === "!="
          ? actual !== value
          : op === ">="
            ? actual >= value
            : actual > value

export const evaluate = (expectation: Expectation, metrics: Readonly<Record<string, number | undefined>>): Verdict => {
  const known = Object.hasOwn(metrics, expectation.metric)
  const actual = known ? metrics[expectation.metric] : undefined
  if (!known)
    return {
      expectation: expectation.text,
      metric: expectation.metric,
      actual,
      held: false,
      why: `no metric ${expectation.metric} (the metrics are ${Object.keys(metrics).sort().join(", ")})`
    }
  if (actual === undefined)
    return { expectation: expectation.text, metric: expectation.metric, actual, held: false, why: "nothing was measured" }
  const held = compare(actual, expectation.op, expectation.value)
  return { expectation: expectation.text, metric: expectation.metric, actual, held, why: held ? "held" : `measured ${actual}` }
}
