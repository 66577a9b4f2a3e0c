import { readFileSync, writeFileSync } from "node:fs"
import { isDeepStrictEqual } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { accepted } from "./conformance/Accepted.ts"
import { checks } from "./conformance/Checks.ts"
import { startKubeApiserverTarget, startKubeFakeTarget, type Target } from "./conformance/Targets.ts"

/**
 * kube-fake measured against the real kube-apiserver (issue 13): the same kubectl commands,
 * client-node calls and HTTP requests against both, compared after normalising what may differ.
 */
describe("conformance: kube-fake against kube-apiserver v1.32.0", () => {
  let fake: Target
  let real: Target
  const outcomes: Array<{ readonly name: string; readonly agrees: boolean; readonly fake: unknown; readonly real: unknown }> = []

  beforeAll(async () => {
    ;[fake, real] = await Promise.all([startKubeFakeTarget(50), startKubeApiserverTarget()])
  }, 180_000)
  afterAll(async () => {
    await Promise.all([fake?.stop(), real?.stop()])
  })

  it("runs every check on both servers; every difference is an accepted one", async () => {
    for (const check of checks) {
      const [onFake, onReal] = await Promise.all([check.run(fake), check.run(real)])
      outcomes.push({ name: check.name, agrees: isDeepStrictEqual(onFake, onReal), fake: onFake, real: onReal })
    }
    // Every answer from both, for reading a difference closely.
    if (process.env.KUBELAN_CONFORMANCE_OUT) writeFileSync(process.env.KUBELAN_CONFORMANCE_OUT, JSON.stringify(outcomes, null, 1))
    const agreeing = outcomes.filter((outcome) => outcome.agrees).length
    console.log(`kube-fake agrees with kube-apiserver on ${agreeing} of ${outcomes.length} checks`)
    for (const outcome of outcomes.filter((candidate) => !candidate.agrees))
      console.log(`  differs${accepted.has(outcome.name) ? " (accepted)" : ""}: ${outcome.name}`)
    const unexpected = outcomes
      .filter((outcome) => !outcome.agrees && !accepted.has(outcome.name))
      .map(
        (outcome) =>
          `${outcome.name}\n  kube-fake:      ${JSON.stringify(outcome.fake, null, 1)}\n  kube-apiserver: ${JSON.stringify(outcome.real, null, 1)}`
      )
    expect(unexpected, unexpected.join("\n\n")).toEqual([])
    // An accepted difference that no longer differs is taken off the list.
    const stale = [...accepted.keys()].filter((name) => outcomes.find((outcome) => outcome.name === name)?.agrees !== false)
    expect(stale, "accepted differences that no longer differ (or no longer exist)").toEqual([])
  })

  it("the README lists every accepted difference", () => {
    const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8")
    // A table row's first cell, however the formatter pads it.
    const cells = new Set(readme.split("\n").flatMap((line) => (line.startsWith("| ") ? [line.split("|")[1]?.trim()] : [])))
    expect([...accepted.keys()].filter((name) => !cells.has(name))).toEqual([])
  })
})
