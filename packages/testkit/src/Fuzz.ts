import fc from "fast-check"

export { fc }

/**
 * Runs a property twice: with a fixed seed, so the same cases run every time and a failure
 * reproduces, and with a fresh seed (printed on failure) for `runs` × `KUBELAN_FUZZ_SCALE`
 * cases, which CI sets higher to look further each time.
 */
export const fixedSeed = 20_261_201

export const fuzzRuns = (runs: number) => Math.max(1, Math.round(runs * Number(process.env.KUBELAN_FUZZ_SCALE ?? 1)))

export const fuzz = async <Ts extends Array<unknown>>(property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>, runs: number): Promise<void> => {
  await fc.assert(property, { seed: fixedSeed, numRuns: runs })
  await fc.assert(property, { numRuns: fuzzRuns(runs) })
}
