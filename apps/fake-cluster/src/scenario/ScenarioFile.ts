import { existsSync, readFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { parseDuration } from "@kubelan/config"
import { Schema } from "effect"
import { parseDocument } from "yaml"

/**
 * A simulation run, as a file: the cluster, the manifests, a timeline of steps in Chaos Mesh's
 * vocabulary, the probes, and what must hold. Decoded at the edge with Schema; a bad file is one
 * line per problem naming the field.
 */

const Duration = Schema.String
const Labels = Schema.Record(Schema.String, Schema.String)
const Mode = Schema.Literals(["one", "all", "fixed", "fixed-percent"])

/** Which pods a fault hits: a label selector and a mode, as Chaos Mesh's selectors. */
const PodSelector = Schema.Struct({
  selector: Labels,
  namespace: Schema.optional(Schema.String),
  mode: Schema.optional(Mode),
  /** How many (fixed) or what percentage (fixed-percent). */
  value: Schema.optional(Schema.Number),
  /** Only pods on these nodes (as Chaos Mesh's `nodes`). */
  nodes: Schema.optional(Schema.Array(Schema.String))
})

const Link = Schema.Struct({
  mtu: Schema.optional(Schema.Int),
  bandwidth: Schema.optional(Schema.String),
  loss: Schema.optional(Schema.Number)
})

const Manifest = Schema.Union([
  Schema.String,
  Schema.Struct({ file: Schema.String, replace: Schema.optional(Schema.Record(Schema.String, Schema.String)) }),
  Schema.Struct({ inline: Schema.String })
])

/** Every step, by its one key. */
export const stepSchemas = {
  apply: Manifest,
  delete: Manifest,
  scale: Schema.Struct({
    statefulset: Schema.optional(Schema.String),
    deployment: Schema.optional(Schema.String),
    replicas: Schema.Int,
    namespace: Schema.optional(Schema.String)
  }),
  /** As Chaos Mesh's pod-kill: deleted at once unless `gracePeriod` (seconds) gives its containers a SIGTERM first. */
  "pod-kill": Schema.Struct({ ...PodSelector.fields, gracePeriod: Schema.optional(Schema.Int) }),
  "container-kill": PodSelector,
  "api-outage": Schema.Struct({ for: Duration }),
  partition: Schema.Struct({ node: Schema.optional(Schema.String), pods: Schema.optional(PodSelector), for: Duration }),
  loss: Schema.Struct({ node: Schema.String, probability: Schema.Number, for: Duration }),
  bandwidth: Schema.Struct({ node: Schema.String, rate: Schema.String, for: Duration }),
  mtu: Schema.Struct({ node: Schema.String, mtu: Schema.Int }),
  configmap: Schema.Struct({
    name: Schema.String,
    namespace: Schema.optional(Schema.String),
    data: Schema.Record(Schema.String, Schema.String)
  }),
  "rolling-restart": Schema.Struct({ statefulset: Schema.String, namespace: Schema.optional(Schema.String) }),
  wait: Schema.Struct({
    converged: Schema.optional(Schema.Boolean),
    ready: Schema.optional(Schema.String),
    timeout: Schema.optional(Duration)
  }),
  sleep: Duration,
  /** Times a command in a pod until it succeeds; the time is a measure for `expect`. */
  measure: Schema.Struct({
    name: Schema.String,
    pod: Schema.String,
    namespace: Schema.optional(Schema.String),
    /** Which container to run it in, as `kubectl exec -c`; default the pod's network namespace. */
    container: Schema.optional(Schema.String),
    command: Schema.Array(Schema.String),
    timeout: Schema.optional(Duration)
  }),
  /** A command in some pods that must succeed; each failure counts in `checks.failed`. */
  check: Schema.Struct({
    name: Schema.String,
    pods: PodSelector,
    container: Schema.optional(Schema.String),
    command: Schema.Array(Schema.String),
    retries: Schema.optional(Schema.Int)
  })
} as const

export type StepName = keyof typeof stepSchemas
export type Step = {
  readonly [K in StepName]: { readonly kind: K; readonly spec: (typeof stepSchemas)[K]["Type"]; readonly index: number }
}[StepName]

const ScenarioJson = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.String),
  cluster: Schema.optional(
    Schema.Struct({ nodes: Schema.optional(Schema.Int), links: Schema.optional(Schema.Record(Schema.String, Link)) })
  ),
  /** Named values for `${name}` in the file, by size: `full` unless `--size ci`. */
  sizes: Schema.optional(Schema.Record(Schema.String, Schema.Record(Schema.String, Schema.Union([Schema.String, Schema.Number])))),
  manifests: Schema.optional(Schema.Array(Manifest)),
  probes: Schema.optional(
    Schema.Struct({
      ping: Schema.optional(Schema.Struct({ pairs: Schema.optional(Schema.Int), interval: Schema.optional(Duration) })),
      fdb: Schema.optional(Schema.Struct({ service: Schema.optional(Schema.String) })),
      interface: Schema.optional(Schema.String)
    })
  ),
  timeline: Schema.Array(Schema.Record(Schema.String, Schema.Unknown)),
  expect: Schema.optional(Schema.Array(Schema.String))
})

export type ManifestSource = (typeof Manifest)["Type"]

export interface Scenario {
  readonly file: string
  readonly name: string
  readonly description: string
  readonly size: string
  readonly nodes: number
  readonly links: ReadonlyMap<string, (typeof Link)["Type"]>
  readonly manifests: ReadonlyArray<ManifestSource>
  readonly ping: { readonly pairs: number; readonly intervalMillis: number }
  readonly service: string
  readonly interfaceName: string
  readonly timeline: ReadonlyArray<Step>
  readonly expect: ReadonlyArray<string>
}

export class ScenarioError extends Error {
  readonly problems: ReadonlyArray<string>
  constructor(file: string, problems: ReadonlyArray<string>) {
    super(`${file}: ${problems.join("; ")}`)
    this.problems = problems
  }
}

/** `Expected string\n  at ["steps"][0]["sleep"]` → `steps[0].sleep: expected string`. */
const schemaProblems = (message: string, prefix: string): ReadonlyArray<string> => {
  const lines = message.split("\n")
  const problems: Array<string> = []
  for (let i = 0; i < lines.length; i++) {
    const text = (lines[i] as string).trim()
    const at = /^at (.*)$/.exec((lines[i + 1] ?? "").trim())
    const path = at ? (at[1] as string).replace(/\["([^"]*)"\]/g, ".$1").replace(/^\./, "") : ""
    problems.push(
      `${[prefix, path]
        .filter((part) => part !== "")
        .join(".")
        .replace(/\.\[/g, "[")}: ${text.charAt(0).toLowerCase()}${text.slice(1)}`
    )
    if (at) i++
  }
  return problems
}

const decode = <S extends Schema.Top>(schema: S, input: unknown, prefix: string): S["Type"] | ReadonlyArray<string> => {
  const result = Schema.decodeUnknownExit(schema as never, { onExcessProperty: "error", errors: "all" })(input)
  if (result._tag === "Success") return result.value as S["Type"]
  const failure = result.cause.reasons.find((reason) => reason._tag === "Fail")
  return schemaProblems(failure && "error" in failure ? String((failure.error as Error).message) : "invalid", prefix)
}
const isProblems = (value: unknown): value is ReadonlyArray<string> =>
  Array.isArray(value) && value.every((item) => typeof item === "string")

const durationMillis = (text: string, field: string, problems: Array<string>) => {
  const millis = parseDuration(text)
  if (millis === undefined) problems.push(`${field}: ${JSON.stringify(text)} is not a duration (like 500ms, 10s, 1m)`)
  return millis ?? 0
}

/** Replaces `${name}` with the size's value; an unknown name is a problem. */
const substitute = (text: string, values: Readonly<Record<string, string | number>>, problems: Array<string>) =>
  text.replace(/\$\{([a-zA-Z_][\w-]*)\}/g, (whole, name: string) => {
    if (Object.hasOwn(values, name)) return String(values[name])
    problems.push(`\${${name}} has no value in sizes`)
    return whole
  })

export const loadScenario = (path: string, size = "full"): Scenario => {
  const file = resolve(path)
  if (!existsSync(file)) throw new ScenarioError(file, ["no such file"])
  const raw = readFileSync(file, "utf8")
  const problems: Array<string> = []
  // The sizes are read with every `${name}` standing in as 0, so that the file parses before its values are known.
  const first = parseDocument(raw.replace(/\$\{[^}]*\}/g, "0"))
  if (first.errors.length > 0) throw new ScenarioError(file, [`malformed YAML: ${first.errors[0]?.message.split("\n")[0]}`])
  const sizes = (first.toJS() as { sizes?: Record<string, Record<string, string | number>> } | null)?.sizes ?? {}
  const values = { ...(sizes.full ?? {}), ...(sizes[size] ?? {}) }
  if (size !== "full" && sizes[size] === undefined && Object.keys(sizes).length > 0)
    problems.push(`sizes: there is no size ${JSON.stringify(size)}`)
  const document = parseDocument(substitute(raw, values, problems))
  if (document.errors.length > 0) throw new ScenarioError(file, [`malformed YAML: ${document.errors[0]?.message.split("\n")[0]}`])
  const decoded = decode(ScenarioJson, document.toJS(), "")
  if (isProblems(decoded)) throw new ScenarioError(file, [...problems, ...decoded])
  const timeline: Array<Step> = []
  decoded.timeline.forEach((entry, index) => {
    const keys = Object.keys(entry)
    const kind = keys[0] as StepName
    if (keys.length !== 1 || !Object.hasOwn(stepSchemas, kind)) {
      problems.push(`timeline[${index}]: a step is one of ${Object.keys(stepSchemas).join(", ")} (got ${keys.join(", ") || "nothing"})`)
      return
    }
    const spec = decode(stepSchemas[kind], entry[kind], `timeline[${index}].${kind}`)
    if (isProblems(spec)) problems.push(...spec)
    else timeline.push({ kind, spec, index } as Step)
  })
  for (const step of timeline) {
    const field = `timeline[${step.index}].${step.kind}`
    const spec = step.spec as { for?: string; timeout?: string }
    if (step.kind === "sleep") durationMillis(step.spec, field, problems)
    if (typeof spec.for === "string") durationMillis(spec.for, `${field}.for`, problems)
    if (typeof spec.timeout === "string") durationMillis(spec.timeout, `${field}.timeout`, problems)
  }
  const nodes = decoded.cluster?.nodes ?? 1
  if (nodes < 1 || nodes > 200) problems.push(`cluster.nodes: ${nodes} is outside 1..200`)
  const links = new Map(Object.entries(decoded.cluster?.links ?? {}))
  for (const name of links.keys()) {
    const index = /^node-(\d+)$/.exec(name)?.[1]
    if (index === undefined || Number(index) >= nodes)
      problems.push(`cluster.links.${name}: there is no such node (node-0 .. node-${nodes - 1})`)
  }
  const interval = durationMillis(decoded.probes?.ping?.interval ?? "200ms", "probes.ping.interval", problems)
  if (problems.length > 0) throw new ScenarioError(file, problems)
  const base = dirname(file)
  const anchored = (manifest: ManifestSource): ManifestSource =>
    typeof manifest === "string"
      ? resolve(base, manifest)
      : "file" in manifest
        ? { ...manifest, file: resolve(base, manifest.file) }
        : manifest
  return {
    file,
    name: decoded.name,
    description: decoded.description ?? "",
    size,
    nodes,
    links,
    manifests: (decoded.manifests ?? []).map(anchored),
    ping: { pairs: decoded.probes?.ping?.pairs ?? 12, intervalMillis: interval },
    service: decoded.probes?.fdb?.service ?? "default/kubelan",
    interfaceName: decoded.probes?.interface ?? "kubelan",
    timeline: timeline.map((step) =>
      step.kind === "apply" || step.kind === "delete" ? ({ ...step, spec: anchored(step.spec) } as Step) : step
    ),
    expect: decoded.expect ?? []
  }
}

export const millisOf = (text: string) => parseDuration(text) ?? 0
