import type { KubeObject } from "@kubelan/kube-fake"

/** A deterministic random source (mulberry32): a scenario picks the same pods every run. */
export const seededRandom = (seed: string) => {
  let state = [...seed].reduce((hash, char) => Math.imul(hash ^ char.charCodeAt(0), 16_777_619) >>> 0, 2_166_136_261)
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

export const shuffled = <A>(items: ReadonlyArray<A>, random: () => number): Array<A> => {
  const copy = [...items]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[copy[i], copy[j]] = [copy[j] as A, copy[i] as A]
  }
  return copy
}

export interface Selector {
  readonly selector: Readonly<Record<string, string>>
  readonly namespace?: string | undefined
  readonly mode?: "one" | "all" | "fixed" | "fixed-percent" | undefined
  readonly value?: number | undefined
  readonly nodes?: ReadonlyArray<string> | undefined
}

/** Chaos Mesh's selection: the pods matching the labels, then one, all, a fixed number or a fixed percentage of them. */
export const selectPods = (pods: ReadonlyArray<KubeObject>, selector: Selector, random: () => number): ReadonlyArray<KubeObject> => {
  const matching = pods.filter(
    (pod) =>
      !pod.metadata.deletionTimestamp &&
      (pod.metadata.namespace ?? "default") === (selector.namespace ?? "default") &&
      (selector.nodes === undefined || selector.nodes.includes(String((pod.spec as { nodeName?: string } | undefined)?.nodeName))) &&
      Object.entries(selector.selector).every(([key, value]) => pod.metadata.labels?.[key] === value)
  )
  const mode = selector.mode ?? "one"
  const count =
    mode === "all"
      ? matching.length
      : mode === "one"
        ? 1
        : mode === "fixed"
          ? (selector.value ?? 1)
          : Math.floor((matching.length * (selector.value ?? 0)) / 100)
  return shuffled(matching, random).slice(0, Math.max(0, Math.min(count, matching.length)))
}
