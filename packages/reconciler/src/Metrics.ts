import { Context, Effect, Layer } from "effect"
import { byCodePoint } from "./CodePointOrder.ts"

/**
 * A small Prometheus registry: counters and gauges with labels, rendered in the text
 * exposition format. Kept here rather than in a library so the names and help texts are ours.
 */
type Labels = Readonly<Record<string, string>>
interface Family {
  readonly type: "counter" | "gauge"
  readonly help: string
  readonly series: Map<string, { labels: Labels; value: number }>
}

const labelKey = (labels: Labels) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => byCodePoint(a, b)))
const escapeLabel = (value: string) => value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"')
const formatLabels = (labels: Labels) => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? "" : `{${entries.map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(",")}}`
}

export const makeRegistry = () => {
  const families = new Map<string, Family>()
  const family = (name: string, type: Family["type"], help: string) => {
    let found = families.get(name)
    if (found === undefined) {
      found = { type, help, series: new Map() }
      families.set(name, found)
    }
    return found
  }
  const series = (name: string, type: Family["type"], help: string, labels: Labels) => {
    const f = family(name, type, help)
    const key = labelKey(labels)
    let entry = f.series.get(key)
    if (entry === undefined) {
      entry = { labels, value: 0 }
      f.series.set(key, entry)
    }
    return { f, entry, key }
  }
  return {
    /** Declares a family so it is exposed (with zero series) before its first sample. */
    declare: (name: string, type: Family["type"], help: string) => void family(name, type, help),
    inc: (name: string, help: string, labels: Labels = {}, by = 1) => {
      series(name, "counter", help, labels).entry.value += by
    },
    set: (name: string, help: string, value: number, labels: Labels = {}) => {
      series(name, "gauge", help, labels).entry.value = value
    },
    /**
     * Replaces every series of a gauge family (for per-service gauges whose services come and
     * go), or only those whose labels include `scope` (one network's, beside the others').
     */
    replaceGauge: (name: string, help: string, values: ReadonlyArray<{ labels: Labels; value: number }>, scope: Labels = {}) => {
      const f = family(name, "gauge", help)
      const scoped = Object.entries(scope)
      for (const [key, entry] of f.series) if (scoped.every(([label, value]) => entry.labels[label] === value)) f.series.delete(key)
      for (const { labels, value } of values) f.series.set(labelKey(labels), { labels, value })
    },
    value: (name: string, labels: Labels = {}) => families.get(name)?.series.get(labelKey(labels))?.value,
    render: (): string => {
      const lines: Array<string> = []
      for (const [name, f] of [...families].sort(([a], [b]) => byCodePoint(a, b))) {
        lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`)
        for (const { labels, value } of f.series.values()) lines.push(`${name}${formatLabels(labels)} ${value}`)
      }
      return `${lines.join("\n")}\n`
    }
  }
}

export type Registry = ReturnType<typeof makeRegistry>

/** The registry as one network writes it: every series it touches carries `labels` too. */
export const labelled = (registry: Registry, labels: Labels): Registry => ({
  ...registry,
  inc: (name, help, own = {}, by = 1) => registry.inc(name, help, { ...labels, ...own }, by),
  set: (name, help, value, own = {}) => registry.set(name, help, value, { ...labels, ...own }),
  replaceGauge: (name, help, values) =>
    registry.replaceGauge(
      name,
      help,
      values.map((entry) => ({ labels: { ...labels, ...entry.labels }, value: entry.value })),
      labels
    ),
  value: (name, own = {}) => registry.value(name, { ...labels, ...own })
})

export class Metrics extends Context.Service<Metrics, Registry>()("@kubelan/reconciler/Metrics") {}

export const layer: Layer.Layer<Metrics> = Layer.sync(Metrics, makeRegistry)

/** Every metric kubelan exposes, with its help text: one place to read the whole set. */
export const metricNames = {
  up: ["kubelan_up", "gauge", "1 once the VXLAN interface is up"],
  ready: ["kubelan_ready", "gauge", "1 once the first full membership sync is programmed"],
  peersDesired: ["kubelan_peers_desired", "gauge", "peers the membership asks for"],
  peersProgrammed: ["kubelan_peers_programmed", "gauge", "zero-MAC FDB entries on the interface after the last reconcile"],
  servicePeers: ["kubelan_service_peers", "gauge", "peers each configured service contributes"],
  reconciles: ["kubelan_reconciles_total", "counter", "reconcile passes, by trigger and result"],
  reconcileSeconds: ["kubelan_reconcile_duration_seconds", "gauge", "duration of the last reconcile pass"],
  fdbAdded: ["kubelan_fdb_entries_added_total", "counter", "FDB entries added"],
  fdbRemoved: ["kubelan_fdb_entries_removed_total", "counter", "FDB entries removed"],
  interfaceEnsures: ["kubelan_interface_ensures_total", "counter", "times the interface was created, adopted or recreated"],
  hookRuns: ["kubelan_hook_runs_total", "counter", "hook runs, by hook and result (ok, failed, timeout)"],
  skippedEndpoints: ["kubelan_skipped_endpoints_total", "counter", "endpoints skipped as invalid, by service and reason"],
  configReloads: ["kubelan_config_reloads_total", "counter", "config reloads applied"],
  addressesAssigned: [
    "kubelan_addresses_assigned_total",
    "counter",
    "vxlan.address entries given to the interface, by reason (new, repaired: someone removed it)"
  ],
  filterMembers: ["kubelan_filter_members", "gauge", "underlay addresses the VXLAN filter accepts (vxlan.filter)"],
  filterDropped: [
    "kubelan_filter_dropped_packets_total",
    "counter",
    "VXLAN packets from non-members the filter dropped, as the kernel counted them at the last pass"
  ],
  announcements: [
    "kubelan_announcements_total",
    "counter",
    "frames sent to tell peers where this interface is, by kind (datagram, gratuitous_arp) and result (sent, failed)"
  ]
} as const satisfies Record<string, readonly [string, "counter" | "gauge", string]>

export type MetricName = keyof typeof metricNames

/** Typed helpers over the registry, so call sites name a metric once. */
export const count = (name: MetricName, labels: Labels = {}, by = 1) =>
  Effect.gen(function* () {
    const registry = yield* Metrics
    registry.inc(metricNames[name][0], metricNames[name][2], labels, by)
  })

export const gauge = (name: MetricName, value: number, labels: Labels = {}) =>
  Effect.gen(function* () {
    const registry = yield* Metrics
    registry.set(metricNames[name][0], metricNames[name][2], value, labels)
  })
