// The sidecar image: its size, and how long its kubelan container takes from start to ready on
// kubelan-sim under the image runtime (podman, runc) against the process runtime, in the same run.
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { testPrefix } from "@kubelan/testkit"
import { execa } from "execa"
import { agentImage, type ContainerRuntime, containersConf } from "../apps/fake-cluster/src/kubelet/Image.ts"
import { fmt, median } from "./stats.ts"

const root = fileURLToPath(new URL("..", import.meta.url))

/** Milliseconds from the kubelet starting the kubelan container to the agent's ready line, per start in its log. */
const startsToReady = (log: string) => {
  const spans: Array<number> = []
  let started: number | undefined
  for (const line of log.split("\n")) {
    const start = /^kubelan-sim: (\S+) starting container kubelan$/.exec(line)
    if (start) started = Date.parse(start[1] as string)
    else if (started !== undefined && line.includes('"msg":"ready: first full membership sync programmed"')) {
      spans.push(Date.parse(JSON.parse(line).time) - started)
      started = undefined
    }
  }
  return spans
}

/** One pod of the example, deleted and recreated `starts` times; each start's start-to-ready. */
const measureRuntime = async (runtime: ContainerRuntime, starts: number) => {
  const env = {
    KUBELAN_SIM_STATE: mkdtempSync(join(tmpdir(), "klsim-bench-")),
    KUBELAN_SIM_PREFIX: `${testPrefix}bench-img${randomBytes(2).toString("hex")}-`
  }
  const sim = (args: ReadonlyArray<string>) =>
    execa(process.execPath, [`${root}apps/fake-cluster/src/cli.ts`, ...args], { env, reject: false, all: true })
  const kubectl = (args: ReadonlyArray<string>, input?: string) =>
    execa(
      "kubectl",
      ["--kubeconfig", join(env.KUBELAN_SIM_STATE, "kubeconfig"), "--cache-dir", join(env.KUBELAN_SIM_STATE, "cache"), ...args],
      { reject: false, all: true, ...(input ? { input } : {}) }
    )
  const up = await sim(["up", "--listen", "127.0.0.1:0", "--runtime", runtime])
  if (up.exitCode !== 0) throw new Error(up.all)
  const manifest = readFileSync(`${root}deploy/k8s-example.yaml`, "utf8").replace("replicas: 3", "replicas: 1")
  const spans: Array<number> = []
  try {
    const applied = await kubectl(["apply", "-f", "-"], manifest)
    if (applied.exitCode !== 0) throw new Error(applied.all)
    for (let i = 0; i < starts; i++) {
      const uid = async () => (await kubectl(["get", "pod", "kubelan-0", "-o", "jsonpath={.metadata.uid}"])).stdout
      const ready = async () =>
        (await kubectl(["get", "pod", "kubelan-0", "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).stdout === "True"
      for (let tries = 0; !(await ready()); tries++) {
        if (tries > 600) throw new Error(`kubelan-0 (${runtime}) did not become Ready in 120 s`)
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      const id = await uid()
      spans.push(...startsToReady(readFileSync(join(env.KUBELAN_SIM_STATE, "pods", id, "kubelan.log"), "utf8")))
      if (i < starts - 1) await kubectl(["delete", "pod", "kubelan-0", "--wait=true"])
    }
  } finally {
    await kubectl(["delete", "-f", "-", "--wait=false"], manifest)
    await sim(["down"])
  }
  return spans
}

export const benchImage = async (starts: number) => {
  const inspected = await execa("podman", ["image", "inspect", "--format", "{{.Size}}", agentImage], {
    reject: false,
    env: { ...process.env, CONTAINERS_CONF: containersConf }
  })
  if (inspected.exitCode !== 0) throw new Error(`no image ${agentImage}: run scripts/image first (${inspected.stderr})`)
  const process_ = await measureRuntime("process", starts)
  const image = await measureRuntime("image", starts)
  return { sizeBytes: Number(inspected.stdout.trim()), process: process_, image }
}

export const printImage = (r: Awaited<ReturnType<typeof benchImage>>) => {
  const image = median(r.image)
  const processRuntime = median(r.process)
  console.log(
    `image: ${agentImage}, ${(r.sizeBytes / 1e6).toFixed(0)} MB (Debian bookworm minbase + iproute2 + iptables + Node 24 + the bundle)`
  )
  console.log(
    `  kubelan container start → ready (median of ${r.image.length}): image runtime ${fmt(image)}, process runtime ${fmt(processRuntime)}` +
      ` = ${(image / processRuntime).toFixed(2)}× (podman and runc's share: ${fmt(image - processRuntime)})`
  )
}
