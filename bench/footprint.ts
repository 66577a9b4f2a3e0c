// What a kubelan sidecar costs its pod (issue 9), each figure beside a floor measured in the same
// run: memory of the agent and its child processes at idle, start-up, cold start to 5000 peers,
// CPU at idle, and (from the other sections) the 20-replica apply and event-to-kernel latency.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { agentNodeEnv, agentNodeFlags, makePodNetwork, run, runInNetnsArgs } from "@kubelan/testkit"
import { execa } from "execa"
import { createSlices, peerAddress, withAgent } from "./kubernetes.ts"
import { fmt, median } from "./stats.ts"

const megabytes = (kilobytes: number) => kilobytes / 1024

/** VmRSS of one process, in kB. */
const rssKb = (pid: number) =>
  Number(
    (
      readFileSync(`/proc/${pid}/status`, "utf8")
        .split("\n")
        .find((line) => line.startsWith("VmRSS:")) ?? ""
    ).replace(/\D+/g, "")
  )

const parentOf = (pid: number) => {
  try {
    // `pid (comm) state ppid ...`: comm may hold spaces, so read after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
  } catch {
    return undefined
  }
}

/** The process and every descendant: what the pod pays for the sidecar. */
export const processTree = (root: number): ReadonlyArray<{ pid: number; command: string; rssKb: number }> => {
  const pids = readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
  const children = new Map<number, Array<number>>()
  for (const pid of pids) {
    const parent = parentOf(pid)
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), pid])
  }
  const tree: Array<number> = []
  const visit = (pid: number) => {
    tree.push(pid)
    for (const child of children.get(pid) ?? []) visit(child)
  }
  visit(root)
  return tree.map((pid) => ({
    pid,
    command: readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, 4).join(" ").trim(),
    rssKb: rssKb(pid)
  }))
}

const clockTicks = Number((await execa("getconf", ["CLK_TCK"])).stdout)

/** CPU seconds of a process and of its children it has reaped (iproute2 runs), plus its live children's. */
const cpuSeconds = (root: number) =>
  processTree(root).reduce((sum, { pid }) => {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // utime, stime, cutime, cstime: fields 14-17 of stat(5), 12-15 after `state`.
    const ticks = [11, 12, 13, 14].reduce((total, index) => total + Number(fields[index]), 0)
    return sum + ticks / clockTicks
  }, 0)

/** `node` with the agent's options and environment, running `script` in the pod's namespace. */
const bareNode = (netns: string, script: string) =>
  execa("ip", ["netns", "exec", netns, process.execPath, ...agentNodeFlags, "-e", script], { env: agentNodeEnv, reject: false })

/** A bare node with the agent's options and environment, idle in the pod's namespace: the memory floor. */
const bareNodeRssKb = async (netns: string) => {
  const child = bareNode(netns, "setInterval(() => {}, 1 << 30)")
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const kb = rssKb(child.pid as number)
  child.kill("SIGKILL")
  await child
  return kb
}

/** Spawn to exit of `node -e ""` with the agent's options, in the pod's namespace: the start-up floor. */
const bareNodeStart = async (netns: string, repeats: number) => {
  const times: Array<number> = []
  for (let i = 0; i < repeats; i++) {
    const started = performance.now()
    await bareNode(netns, "")
    times.push(performance.now() - started)
  }
  return median(times)
}

/** Spawn to the agent's "ready" log line, static backend, 2 peers. */
const staticStartToReady = async (netns: string, selfIp: string, repeats: number) => {
  const dir = mkdtempSync(join(tmpdir(), "kubelan-bench-"))
  writeFileSync(
    join(dir, "kubelan.yaml"),
    `services: [bench/lan]\ndiscovery:\n  backend: static\n  static:\n    bench/lan: [10.100.0.1, 10.100.0.2, ${selfIp}]\n`
  )
  const times: Array<number> = []
  for (let i = 0; i < repeats; i++) {
    const started = performance.now()
    const child = execa("ip", runInNetnsArgs(netns, ["--config", join(dir, "kubelan.yaml")]), {
      env: agentNodeEnv,
      reject: false,
      buffer: false
    })
    let text = ""
    times.push(
      await new Promise<number>((resolve, reject) => {
        child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
          text += chunk
          if (text.includes("ready: first full membership sync programmed")) resolve(performance.now() - started)
        })
        void child.then(() => reject(new Error(`agent exited before ready: ${text}`)))
      })
    )
    child.kill("SIGTERM")
    await child
  }
  return median(times)
}

/** `bridge -batch` of `peers` zero-MAC entries on a fresh VXLAN link: the kernel's share of a cold start. */
const rawBatch = async (peers: number) => {
  const net = await makePodNetwork({ purpose: "bench-rawfp", pods: 1 })
  try {
    const netns = net.pods[0]!.netns
    await run("ip", ["-n", netns, "link", "add", "raw0", "type", "vxlan", "id", "9", "local", net.pods[0]!.ip, "dstport", "4789"])
    const lines = Array.from({ length: peers }, (_, i) => `fdb append 00:00:00:00:00:00 dev raw0 dst ${peerAddress(i)}\n`).join("")
    const started = performance.now()
    await run("bridge", ["-n", netns, "-batch", "-"], { input: lines })
    return performance.now() - started
  } finally {
    await net.destroy()
  }
}

/** How long an agent has been ready when its memory counts as "at idle": start-up's garbage collected, as in a pod that has run a while. */
const settleSeconds = 60

/**
 * The kubernetes-backend agent following `peers` members: start to ready, its memory 5 s after
 * ready and once settled, then its CPU over `idleSeconds`.
 */
const kubernetesAgent = (peers: number, options: { readonly idleSeconds?: number; readonly nodeFlags?: ReadonlyArray<string> } = {}) =>
  withAgent(
    `bench-fp${peers}`,
    (api) => createSlices(api, "lan", peers, Math.min(100, peers)),
    async ({ agent, startedAt, readyAt }) => {
      const ready = readyAt - startedAt
      const pid = agent.pid as number
      await new Promise((resolve) => setTimeout(resolve, 5000))
      const early = processTree(pid)
      await new Promise((resolve) => setTimeout(resolve, (settleSeconds - 5) * 1000))
      const settled = processTree(pid)
      let cpu: number | undefined
      const idleSeconds = options.idleSeconds
      if (idleSeconds !== undefined) {
        const before = cpuSeconds(pid)
        await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000))
        cpu = cpuSeconds(pid) - before
      }
      return { ready, early, settled, cpu }
    },
    options.nodeFlags
  )

export const benchFootprint = async (repeats: number, idleSeconds = 60) => {
  const net = await makePodNetwork({ purpose: "bench-fp", pods: 1 })
  let floors: { rssKb: number; start: number }
  let startToReady: number
  try {
    const pod = net.pods[0]!
    floors = { rssKb: await bareNodeRssKb(pod.netns), start: await bareNodeStart(pod.netns, repeats) }
    startToReady = await staticStartToReady(pod.netns, pod.ip, repeats)
  } finally {
    await net.destroy()
  }
  const small = await kubernetesAgent(10)
  const coldStarts: Array<number> = []
  // Cold starts alone: each agent is stopped as soon as it is measured.
  for (let i = 0; i < Math.max(1, repeats - 1); i++)
    coldStarts.push(
      await withAgent(
        "bench-fpcold",
        (api) => createSlices(api, "lan", 5000, 100),
        async ({ readyAt, startedAt }) => readyAt - startedAt
      )
    )
  const large = await kubernetesAgent(5000, { idleSeconds })
  coldStarts.push(large.ready)
  // Whether the image's node options still pay: the same 10-peer agent with the JIT, and with none of them.
  const withJit = await kubernetesAgent(10, { nodeFlags: agentNodeFlags.filter((flag) => flag !== "--jitless") })
  const plain = await kubernetesAgent(10, { nodeFlags: [] })
  return { floors, startToReady, small, large, withJit, plain, coldStart: median(coldStarts), raw5000: await rawBatch(5000), idleSeconds }
}

const treeLine = (tree: ReadonlyArray<{ command: string; rssKb: number }>) =>
  tree.map(({ command, rssKb }) => `${command.split(" ")[0]?.split("/").pop()} ${megabytes(rssKb).toFixed(1)}`).join(" + ")

const row = (measure: string, value: string, floor: string, target: string, met: boolean) =>
  console.log(
    `  ${measure.padEnd(58)} ${value.padEnd(22)} ${floor.padEnd(34)} ${target.padEnd(16)} ${met ? "meets target" : "MISSES target"}`
  )

export const printFootprint = (
  r: Awaited<ReturnType<typeof benchFootprint>>,
  twenty: { readonly total: number; readonly lastStart: number },
  eventToKernel: { readonly p99: number; readonly p50: number }
) => {
  const sum = (tree: ReadonlyArray<{ rssKb: number }>) => megabytes(tree.reduce((total, process) => total + process.rssKb, 0))
  const floorMb = megabytes(r.floors.rssKb)
  const env = Object.entries(agentNodeEnv)
    .map(([name, value]) => `${name}=${value}`)
    .join(" ")
  console.log(`Footprint: what the sidecar costs its pod, run as the image runs it (${env} node ${agentNodeFlags.join(" ")})`)
  row("measure", "value", "floor in this run", "target", true)
  const small = sum(r.small.settled)
  row(
    `pod memory at idle (${settleSeconds} s after ready), kubernetes backend, 10 peers`,
    `${small.toFixed(1)} MB`,
    `bare node ${floorMb.toFixed(1)} MB (+${(small - floorMb).toFixed(1)})`,
    "≤ floor + 12 MB",
    small <= floorMb + 12
  )
  console.log(
    `    (${treeLine(r.small.settled)}; 5 s after ready ${sum(r.small.early).toFixed(1)} MB; the API is plain http here: https also loads node:tls, bench/README.md)`
  )
  const large = sum(r.large.settled)
  row(
    `pod memory at idle (${settleSeconds} s after ready), kubernetes backend, 5000 peers`,
    `${large.toFixed(1)} MB`,
    "—",
    "≤ 64 MB",
    large <= 64
  )
  console.log(`    (${treeLine(r.large.settled)}; 5 s after ready ${sum(r.large.early).toFixed(1)} MB)`)
  row(
    "start to ready, 2 static peers",
    `${fmt(r.startToReady)}`,
    `bare node start ${fmt(r.floors.start)} (${(r.startToReady / r.floors.start).toFixed(1)}×)`,
    "≤ 3×",
    r.startToReady <= 3 * r.floors.start
  )
  const coldFloor = r.floors.start + r.raw5000
  row(
    "cold start to 5,000 peers programmed (kubernetes backend)",
    `${fmt(r.coldStart)}`,
    `start + bridge -batch ${fmt(coldFloor)} (${(r.coldStart / coldFloor).toFixed(1)}×)`,
    "≤ 2×",
    r.coldStart <= 2 * coldFloor
  )
  const cpuPercent = (100 * (r.large.cpu ?? 0)) / r.idleSeconds
  row(
    `CPU at idle over the next ${r.idleSeconds} s, 5,000 peers (agent and children)`,
    `${cpuPercent.toFixed(3)} % of a core`,
    `${((r.large.cpu ?? 0) * 1000).toFixed(0)} ms CPU`,
    "≤ 0.2 %",
    cpuPercent <= 0.2
  )
  console.log(
    `    (the same 10-peer pod with the JIT: ${sum(r.withJit.settled).toFixed(1)} MB, start to ready ${fmt(r.withJit.ready)}; with plain node: ${sum(r.plain.settled).toFixed(1)} MB, ${fmt(r.plain.ready)}; with the image's options ${fmt(r.small.ready)})`
  )
  const agentsShare = twenty.total - twenty.lastStart
  row(
    "20-replica apply in kubelan-sim: last agent started → full mesh",
    fmt(agentsShare),
    `whole apply ${fmt(twenty.total)}`,
    "≤ 1000 ms",
    agentsShare <= 1000
  )
  row(
    "event → FDB entry in the kernel, following 1,000 peers, p99",
    fmt(eventToKernel.p99),
    `p50 ${fmt(eventToKernel.p50)}`,
    "≤ 20 ms",
    eventToKernel.p99 <= 20
  )
}
