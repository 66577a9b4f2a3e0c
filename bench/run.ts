// `pnpm bench`: every benchmark, printed as figures and ratios to limits measured in the same run.
// Needs root (network namespaces) and the agent bundle (`pnpm build`, which `pnpm bench` runs first).
import { removeNamespacesWithPrefix, testPrefix } from "@kubelan/testkit"
import { benchAgentFootprint, printAgentFootprint } from "./agentFootprint.ts"
import { benchSliceUpdates, benchTwentyReplicas, printSliceUpdates, printTwentyReplicas } from "./fakeCluster.ts"
import { benchFdbApply, printFdbApply } from "./fdbApply.ts"
import { benchRepairDuringPass, benchShortWatches, printHardening } from "./hardening.ts"
import { benchEventToKernel, benchInitialSync, benchTrafficPerChange, printKubernetes } from "./kubernetes.ts"

const repeats = Number(process.env.KUBELAN_BENCH_REPEATS ?? 5)
try {
  printFdbApply(await benchFdbApply([1000, 5000], repeats))
  printAgentFootprint(await benchAgentFootprint(Math.max(3, Math.ceil(repeats / 2))))
  printKubernetes(
    await benchEventToKernel(200),
    await benchInitialSync(5000),
    await benchTrafficPerChange(20, 0),
    await benchTrafficPerChange(20, 1000)
  )
  printTwentyReplicas(await benchTwentyReplicas(20))
  printSliceUpdates(await benchSliceUpdates(200))
  printHardening(await benchShortWatches(20), await benchRepairDuringPass(100))
} finally {
  await removeNamespacesWithPrefix(`${testPrefix}bench-`)
}
