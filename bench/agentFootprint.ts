// The bundle as a process: start-to-ready time (spawn until it logs that the first full sync is
// programmed), against a bare `node` start in the same run, and its RSS at idle holding peers.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { agentNodeFlags, makePodNetwork, runInNetnsArgs } from "@kubelan/testkit"
import { execa } from "execa"
import { fmt, median, verdict } from "./stats.ts"

const peers = (count: number) => Array.from({ length: count }, (_, i) => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`)

/** Starts the agent in the namespace; resolves at its "ready" log line with the elapsed time and the process. */
const startUntilReady = async (netns: string, members: ReadonlyArray<string>, nodeFlags: ReadonlyArray<string>) => {
  const dir = mkdtempSync(join(tmpdir(), "kubelan-bench-"))
  writeFileSync(
    join(dir, "kubelan.yaml"),
    `services: [bench/lan]\ndiscovery:\n  backend: static\n  static:\n    bench/lan: [${members.join(", ")}]\n`
  )
  const started = performance.now()
  const child = execa("ip", runInNetnsArgs(netns, ["--config", join(dir, "kubelan.yaml")], nodeFlags), { reject: false, buffer: false })
  let text = ""
  const readyMillis = await new Promise<number>((resolve, reject) => {
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk
      if (text.includes("ready: first full membership sync programmed")) resolve(performance.now() - started)
    })
    void child.then(() => reject(new Error(`agent exited before ready: ${text}`)))
    setTimeout(() => reject(new Error("agent not ready within 30 s")), 30_000)
  })
  return { readyMillis, child, syncMillis: firstSyncMillis(text) }
}

/** From the agent's own log: interface created → first FDB programmed (read, diff, one batch). */
const firstSyncMillis = (log: string) => {
  const records = log
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { time: string; msg: string })
  const created = records.find((record) => record.msg.startsWith("created interface"))
  const programmed = records.find((record) => record.msg === "programmed FDB")
  return created && programmed ? Date.parse(programmed.time) - Date.parse(created.time) : Number.NaN
}

const rssMegabytes = (pid: number) => {
  const line =
    readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("VmRSS:")) ?? ""
  return Number(line.replace(/\D+/g, "")) / 1024
}

export const benchAgentFootprint = async (repeats: number) => {
  const net = await makePodNetwork({ purpose: "bench-agent", pods: 1 })
  const netns = net.pods[0]!.netns
  try {
    const bare: Array<number> = []
    for (let i = 0; i < repeats; i++) {
      const started = performance.now()
      await execa("ip", ["netns", "exec", netns, process.execPath, "-e", ""])
      bare.push(performance.now() - started)
    }
    const ready = async (count: number, nodeFlags: ReadonlyArray<string> = agentNodeFlags) => {
      const times: Array<number> = []
      const syncs: Array<number> = []
      let rss = 0
      for (let i = 0; i < repeats; i++) {
        const { readyMillis, child, syncMillis } = await startUntilReady(netns, peers(count).concat(net.pods[0]!.ip), nodeFlags)
        times.push(readyMillis)
        syncs.push(syncMillis)
        if (i === repeats - 1) {
          await new Promise((resolve) => setTimeout(resolve, 3000))
          rss = rssMegabytes(child.pid as number)
        }
        child.kill("SIGTERM")
        await child
      }
      return { ready: median(times), sync: median(syncs), rss }
    }
    const small = await ready(2)
    const large = await ready(5000)
    const largePlain = await ready(5000, [])
    return { bare: median(bare), small, large, largePlain }
  } finally {
    await net.destroy()
  }
}

export const printAgentFootprint = (r: Awaited<ReturnType<typeof benchAgentFootprint>>) => {
  console.log(`Agent bundle as a process, run as the image runs it (node ${agentNodeFlags.join(" ")}; median of runs)`)
  console.log(`  bare node start in the namespace: ${fmt(r.bare)}`)
  console.log(
    `  start to ready, 2 peers:    ${fmt(r.small.ready)} (${(r.small.ready / r.bare).toFixed(1)}x bare node)  target ≤ 1000 ms: ${verdict(r.small.ready, 1000)}`
  )
  console.log(`  start to ready, 5000 peers: ${fmt(r.large.ready)} (${(r.large.ready / r.bare).toFixed(1)}x bare node)`)
  console.log(`  first sync inside the agent, 5000 peers (interface created → FDB programmed): ${fmt(r.large.sync)}`)
  console.log(`  RSS at idle holding 5000 peers: ${r.large.rss.toFixed(1)} MB  target ≤ 100 MB: ${verdict(r.large.rss, 100)}`)
  console.log(`  RSS at idle holding 2 peers:    ${r.small.rss.toFixed(1)} MB`)
  console.log(
    `  with plain \`node\` (no options): start to ready, 5000 peers ${fmt(r.largePlain.ready)}, first sync ${fmt(r.largePlain.sync)}, RSS at idle ${r.largePlain.rss.toFixed(1)} MB`
  )
}
