import type { LogLevel as KubelanLevel } from "@kubelan/config"
import { utcTimestamp } from "@kubelan/reconciler"
import { Cause, Layer, Logger, type LogLevel, References } from "effect"

/**
 * Structured logs: one JSON object per line when stdout is not a terminal (as in a pod),
 * readable lines otherwise. The threshold follows config reloads, so it is held here.
 */
const order: Record<LogLevel.LogLevel, number> = { All: 0, Trace: 1, Debug: 2, Info: 3, Warn: 4, Error: 5, Fatal: 6, None: 7 }
const fromConfig: Record<KubelanLevel, LogLevel.LogLevel> = { trace: "Trace", debug: "Debug", info: "Info", warn: "Warn", error: "Error" }

let threshold: LogLevel.LogLevel = "Info"
export const setLogLevel = (level: KubelanLevel) => {
  threshold = fromConfig[level]
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

const split = (message: unknown): { text: string; fields: Record<string, unknown> } => {
  const parts = Array.isArray(message) ? message : [message]
  const text: Array<string> = []
  const fields: Record<string, unknown> = {}
  for (const part of parts) {
    if (isRecord(part)) Object.assign(fields, part)
    else text.push(String(part))
  }
  return { text: text.join(" "), fields }
}

const formatValue = (value: unknown) => (typeof value === "string" && !/\s/.test(value) ? value : JSON.stringify(value))

export const kubelanLogger = (json: boolean) =>
  Logger.make<unknown, void>(({ message, logLevel, date, fiber, cause }) => {
    if (order[logLevel] < order[threshold]) return
    const { text, fields } = split(message)
    const annotations = fiber.getRef(References.CurrentLogAnnotations)
    const all = { ...annotations, ...fields, ...(cause.reasons.length > 0 ? { cause: Cause.pretty(cause) } : {}) }
    const level = logLevel.toLowerCase()
    const time = utcTimestamp(date.getTime())
    const line = json
      ? JSON.stringify({ time, level, msg: text, ...all })
      : `${time} ${level.toUpperCase().padEnd(5)} ${text}${Object.entries(all)
          .map(([k, v]) => ` ${k}=${formatValue(v)}`)
          .join("")}`
    process.stdout.write(`${line}\n`)
  })

/** Replaces the default logger; lets every level through to it, since it filters itself. */
export const layer = (json: boolean) =>
  Layer.mergeAll(Logger.layer([kubelanLogger(json)]), Layer.succeed(References.MinimumLogLevel, "All"))
