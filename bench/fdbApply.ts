// FDB programming: the agent's own apply path (read the FDB, diff against the desired peers,
// one batched `bridge -batch` through the Netlink service) against a raw `bridge -batch` of the
// same entries, each into an empty FDB of a fresh interface, in the same run.

import { Iproute2Netlink, Netlink } from "@kubelan/netlink"
import { diffPeers } from "@kubelan/reconciler"
import { makePodNetwork, run } from "@kubelan/testkit"
import { Effect } from "effect"
import { fmt, median, timeAsync, verdict } from "./stats.ts"

const peers = (count: number) => Array.from({ length: count }, (_, i) => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`)

export const benchFdbApply = async (sizes: ReadonlyArray<number>, repeats: number) => {
  const net = await makePodNetwork({ purpose: "bench-fdb", pods: 1 })
  const netns = net.pods[0]!.netns
  const local = net.pods[0]!.ip
  const freshLink = async () => {
    await run("ip", ["-n", netns, "link", "del", "bench0"], { allowFailure: true })
    await run("ip", ["-n", netns, "link", "add", "bench0", "type", "vxlan", "id", "99", "local", local, "dstport", "4789"])
  }
  const layer = Iproute2Netlink.layer({ netns })
  const agentPath = (desired: ReadonlyArray<string>) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const netlink = yield* Netlink
        const actual = yield* netlink.readFdb("bench0")
        yield* netlink.applyFdb("bench0", diffPeers(desired, actual))
      }).pipe(Effect.provide(layer))
    )
  const raw = (desired: ReadonlyArray<string>) =>
    run("bridge", ["-n", netns, "-batch", "-"], {
      input: desired.map((dst) => `fdb append 00:00:00:00:00:00 dev bench0 dst ${dst}\n`).join("")
    })
  const results: Array<{ size: number; agent: number; raw: number; ratio: number }> = []
  try {
    for (const size of sizes) {
      const desired = peers(size)
      const agentTimes: Array<number> = []
      const rawTimes: Array<number> = []
      for (let i = 0; i < repeats; i++) {
        await freshLink()
        rawTimes.push(await timeAsync(() => raw(desired)))
        await freshLink()
        agentTimes.push(await timeAsync(() => agentPath(desired)))
        const programmed = JSON.parse(
          (await run("bridge", ["-n", netns, "-json", "fdb", "show", "dev", "bench0"])).stdout
        ) as Array<unknown>
        if (programmed.length !== size) throw new Error(`agent path programmed ${programmed.length} of ${size} entries`)
      }
      const agent = median(agentTimes)
      const rawMedian = median(rawTimes)
      results.push({ size, agent, raw: rawMedian, ratio: agent / rawMedian })
    }
  } finally {
    await net.destroy()
  }
  return results
}

export const printFdbApply = (results: Awaited<ReturnType<typeof benchFdbApply>>) => {
  console.log("FDB programming into an empty FDB (median of runs)")
  for (const r of results) {
    const target = r.size === 5000 ? `  target ≤ 1.5: ${verdict(r.ratio, 1.5)}` : ""
    console.log(
      `  ${String(r.size).padStart(5)} peers: agent apply path ${fmt(r.agent)}, raw bridge -batch ${fmt(r.raw)}, ratio ${r.ratio.toFixed(2)}${target}`
    )
  }
}
