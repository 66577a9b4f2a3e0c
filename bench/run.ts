// `pnpm bench`: every benchmark, printed as figures and ratios to limits measured in the same run.
// Needs root (network namespaces) and the agent bundle (`pnpm build`, which `pnpm bench` runs first).
import { removeNamespacesWithPrefix, testPrefix } from "@kubelan/testkit"
import { benchSliceUpdates, benchTwentyReplicas, printSliceUpdates, printTwentyReplicas } from "./fakeCluster.ts"
import { benchFdbApply, printFdbApply } from "./fdbApply.ts"
import { benchFootprint, printFootprint } from "./footprint.ts"
import { benchRepairDuringPass, benchShortWatches, printHardening } from "./hardening.ts"
import { benchImage, printImage } from "./image.ts"
import { benchEventToKernel, benchOriginalWatchTraffic, benchTrafficPerChange, printKubernetes } from "./kubernetes.ts"
import { benchReplacement, printReplacement } from "./replacement.ts"
import { benchOverlayThroughput, benchPhantom5000, benchScale100, printSimulation } from "./simulation.ts"

const repeats = Number(process.env.KUBELAN_BENCH_REPEATS ?? 5)
// `KUBELAN_BENCH_ONLY=simulation,hardening pnpm bench` runs some sections; every one by default.
const only = new Set((process.env.KUBELAN_BENCH_ONLY ?? "").split(",").filter((name) => name !== ""))
const sections: ReadonlyArray<[string, () => Promise<void>]> = [
  ["fdb", async () => printFdbApply(await benchFdbApply([1000, 5000], repeats))],
  [
    "footprint",
    async () => {
      const footprint = await benchFootprint(repeats)
      const twenty = await benchTwentyReplicas(20)
      printFootprint(footprint, twenty, await benchEventToKernel(200))
      printTwentyReplicas(twenty)
    }
  ],
  [
    "kubernetes",
    async () =>
      printKubernetes(await benchTrafficPerChange(20, 0), await benchTrafficPerChange(20, 1000), await benchOriginalWatchTraffic(20, 1000))
  ],
  ["slices", async () => printSliceUpdates(await benchSliceUpdates(200))],
  ["hardening", async () => printHardening(await benchShortWatches(20), await benchRepairDuringPass(100))],
  ["simulation", async () => printSimulation(await benchScale100(), await benchPhantom5000(), await benchOverlayThroughput())],
  ["replacement", async () => printReplacement(await benchReplacement(3))],
  ["image", async () => printImage(await benchImage(repeats))]
]
const unknown = [...only].filter((name) => !sections.some(([section]) => section === name))
if (unknown.length > 0)
  throw new Error(`KUBELAN_BENCH_ONLY: no section ${unknown.join(", ")} (the sections are ${sections.map(([name]) => name).join(", ")})`)
try {
  for (const [name, section] of sections) if (only.size === 0 || only.has(name)) await section()
} finally {
  await removeNamespacesWithPrefix(`${testPrefix}bench-`)
}
