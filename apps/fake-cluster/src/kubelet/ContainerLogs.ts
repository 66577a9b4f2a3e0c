import { closeSync, createWriteStream, mkdirSync, openSync, readSync, rmSync, statSync, type WriteStream } from "node:fs"
import { join } from "node:path"
import type { Writable } from "node:stream"
import { ApiError, type LogOptions } from "@kubelan/kube-fake"

/**
 * A container's output as a kubelet keeps it for `kubectl logs`: one file per run, named by its
 * restart count, each line in the CRI format `<RFC3339Nano> <stdout|stderr> F <text>`. The
 * current run and the one before it are kept (`--previous`), older runs are removed.
 */
export class ContainerLog {
  private readonly dir: string
  private readonly runs: Array<{ readonly path: string; live: boolean }> = []
  private out: WriteStream | undefined
  private readonly partial = { stdout: "", stderr: "" }

  constructor(dir: string) {
    this.dir = dir
  }

  /** A new run begins: its file is opened, and the run before the previous one is removed. */
  begin(run: number) {
    this.end()
    mkdirSync(this.dir, { recursive: true })
    const path = join(this.dir, `${run}.log`)
    this.out = createWriteStream(path, { flags: "w" })
    this.runs.push({ path, live: true })
    for (const old of this.runs.splice(0, Math.max(0, this.runs.length - 2))) rmSync(old.path, { force: true })
  }

  write(stream: "stdout" | "stderr", chunk: Buffer) {
    const text = this.partial[stream] + chunk.toString("utf8")
    const lines = text.split("\n")
    this.partial[stream] = lines.pop() ?? ""
    for (const line of lines) this.out?.write(`${timestamp()} ${stream} F ${line}\n`)
  }

  /** The run is over: what is left of a line is written, and the file closed. */
  end() {
    for (const stream of ["stdout", "stderr"] as const)
      if (this.partial[stream] !== "") {
        this.out?.write(`${timestamp()} ${stream} F ${this.partial[stream]}\n`)
        this.partial[stream] = ""
      }
    this.out?.end()
    this.out = undefined
    const current = this.runs.at(-1)
    if (current !== undefined) current.live = false
  }

  /**
   * The run a request reads, as a kubelet picks it: the current run, or (in back-off) the last
   * one; `previous` is the last run that ended. Undefined runs are the kubelet's errors.
   */
  run(options: LogOptions, pod: string): { readonly path: string; readonly live: () => boolean } {
    const run = options.previous ? this.runs.findLast((candidate) => !candidate.live) : this.runs.at(-1)
    if (run === undefined)
      throw options.previous
        ? new ApiError(400, "BadRequest", `previous terminated container "${options.container}" in pod "${pod}" not found`)
        : new ApiError(400, "BadRequest", `container "${options.container}" in pod "${pod}" is waiting to start: ContainerCreating`)
    return { path: run.path, live: () => run.live }
  }
}

/** Nanoseconds as the CRI writes them, from the milliseconds a JS clock has. */
const timestamp = () => new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z")

interface LogLine {
  readonly time: string
  readonly text: string
}

const parse = (line: string): LogLine | undefined => {
  const match = /^(\S+) (?:stdout|stderr) [FP] (.*)$/.exec(line)
  return match === null ? undefined : { time: match[1] as string, text: match[2] as string }
}

const readFrom = (path: string, offset: number): { text: string; offset: number } => {
  let size: number
  try {
    size = statSync(path).size
  } catch {
    return { text: "", offset }
  }
  if (size <= offset) return { text: "", offset }
  const buffer = Buffer.alloc(size - offset)
  const fd = openSync(path, "r")
  try {
    readSync(fd, buffer, 0, buffer.length, offset)
  } finally {
    closeSync(fd)
  }
  // Only whole lines: a line being written is read on the next round.
  const end = buffer.lastIndexOf(0x0a) + 1
  return { text: buffer.subarray(0, end).toString("utf8"), offset: offset + end }
}

/**
 * Writes a run's log as `GET pods/NAME/log` asks: `tailLines` from the end, lines since
 * `sinceSeconds`, with their timestamps if asked, at most `limitBytes`; with `follow`, new lines
 * as they come until the run ends or the client goes.
 */
export const writeLog = async (
  run: { readonly path: string; readonly live: () => boolean },
  options: LogOptions,
  out: Writable,
  signal: AbortSignal
) => {
  const since = options.sinceSeconds === undefined ? undefined : Date.now() - options.sinceSeconds * 1000
  let budget = options.limitBytes ?? Number.POSITIVE_INFINITY
  const emit = (lines: ReadonlyArray<LogLine>) => {
    for (const line of lines) {
      if (budget <= 0) return false
      const text = `${options.timestamps ? `${line.time} ` : ""}${line.text}\n`
      const bytes = Buffer.from(text).subarray(0, budget)
      budget -= bytes.length
      out.write(bytes)
    }
    return budget > 0
  }
  const select = (text: string) =>
    text
      .split("\n")
      .flatMap((line) => parse(line) ?? [])
      .filter((line) => since === undefined || Date.parse(line.time) >= since)
  const first = readFrom(run.path, 0)
  const lines = select(first.text)
  if (!emit(options.tailLines === undefined ? lines : lines.slice(Math.max(0, lines.length - options.tailLines)))) return
  let offset = first.offset
  while (options.follow && !signal.aborted) {
    const live = run.live()
    const next = readFrom(run.path, offset)
    offset = next.offset
    if (!emit(select(next.text))) return
    if (!live) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}
