import fc from "fast-check"

export { fc }

/**
 * Runs a property twice: with a fixed seed, so the same cases run every time and a failure
 * reproduces, and with a fresh seed (printed on failure) for `KUBELAN_FUZZ_RUNS` cases, which CI
 * sets higher to look further.
 */
export const fixedSeed = 20_261_201

export const fuzzRuns = (runs: number) => Number(process.env.KUBELAN_FUZZ_RUNS ?? runs)

export const fuzz = async <Ts extends Array<unknown>>(property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>, runs: number): Promise<void> => {
  await fc.assert(property, { seed: fixedSeed, numRuns: runs })
  await fc.assert(property, { numRuns: fuzzRuns(runs) })
}
