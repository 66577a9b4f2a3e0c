import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { eventually, fdbDestinations, makePodNetwork, type PodNetwork, run, startAgent } from "@kubelan/testkit"
import { afterEach, describe, expect, it } from "vitest"
import { lanConfig } from "./lan.ts"

let net: PodNetwork | undefined
let stop: (() => Promise<unknown>) | undefined
afterEach(async () => {
  await stop?.()
  await net?.destroy()
  net = undefined
})

const lines = (path: string) =>
  existsSync(path)
    ? readFileSync(path, "utf8")
        .split("\n")
        .filter((line) => line !== "")
    : []

describe("hooks", () => {
  it("change runs once per service per change with IFACE, SERVICE, IPS and DELETED", async () => {
    net = await makePodNetwork({ purpose: "change", pods: 1 })
    const log = join(mkdtempSync(join(tmpdir(), "kubelan-hooks-")), "change.log")
    const change = `['sh', '-c', 'echo "$IFACE|$SERVICE|$IPS|$DELETED" >> ${log}']`
    const agent = startAgent({ netns: net.pods[0]!.netns, config: lanConfig({ members: ["10.99.0.50", "10.99.0.51"], change }) })
    stop = () => agent.kill("SIGKILL")
    await agent.waitReady()
    await eventually(async () => (lines(log).length === 1 ? true : undefined), { what: "the first change hook" })
    agent.writeConfig(lanConfig({ members: ["10.99.0.51", "10.99.0.52", "10.99.0.53"], change }))
    await eventually(async () => (lines(log).length === 3 ? true : undefined), { what: "the change hooks of the reload" })
    expect(lines(log)).toEqual([
      "kubelan|default/lan|10.99.0.50 10.99.0.51|false",
      "kubelan|default/lan|10.99.0.52 10.99.0.53|false",
      "kubelan|default/lan|10.99.0.50|true"
    ])
  })

  it("a hook that hangs is killed at hooks.timeout and convergence goes on", async () => {
    net = await makePodNetwork({ purpose: "hang", pods: 1 })
    const marker = `kubelan-hang-${process.pid}-${Date.now()}`
    const config = lanConfig({
      members: ["10.99.0.50"],
      up: `['sh', '-c', 'sleep 600 # ${marker}']`,
      change: `['sh', '-c', 'sleep 600 # ${marker}']`
    })
    const agent = startAgent({ netns: net.pods[0]!.netns, config: config.replace("timeout: 5s", "timeout: 1s") })
    stop = () => agent.kill("SIGKILL")
    await agent.waitReady()
    expect(await fdbDestinations(net.pods[0]!.netns, "kubelan")).toEqual(["10.99.0.50"])
    agent.writeConfig(lanConfig({ members: ["10.99.0.50", "10.99.0.51"], up: "[]", change: "[]" }))
    await eventually(async () => ((await fdbDestinations(net!.pods[0]!.netns, "kubelan")).length === 2 ? true : undefined), {
      what: "convergence while hooks hang"
    })
    await eventually(
      async () => {
        const metrics = (await agent.http("/metrics")).body
        return metrics.includes('kubelan_hook_runs_total{hook="up",result="timeout"} 1') &&
          metrics.includes('kubelan_hook_runs_total{hook="change",result="timeout"} 1')
          ? true
          : undefined
      },
      { what: "both hooks to time out" }
    )
    const left = await run("pgrep", ["-f", marker], { allowFailure: true })
    expect(left.stdout).toBe("")
    expect(agent.output()).toContain("up hook killed after 1000ms (hooks.timeout)")
  })
})
