import { readFileSync } from "node:fs"
import { linkAddresses } from "@kubelan/testkit"
import { execa } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { controlPlaneKinds } from "../src/real/ControlPlaneKind.ts"
import { exampleManifest, isolatedSim } from "./Sim.ts"

/**
 * The example as shipped (vxlan.address templates, mac: stable, announcements) on the simulator:
 * a pod replaced under its name keeps its address and MAC, and a peer's ping to it resumes as
 * soon as it is ready again; an address removed by hand comes back.
 */
for (const controlPlane of controlPlaneKinds) {
  const sim = isolatedSim()
  const twoReplicas = readFileSync(exampleManifest, "utf8").replace("replicas: 3", "replicas: 2")

  const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))
  const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMillis = 90_000) => {
    const deadline = Date.now() + timeoutMillis
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await sleep(200)
    }
  }
  const jsonpath = async (what: string, path: string) => (await sim.kubectl(["get", ...what.split(" "), "-o", `jsonpath=${path}`])).stdout
  const readyReplicas = () => jsonpath("statefulset kubelan", "{.status.readyReplicas}")
  const macOf = async (pod: string) => {
    const result = await execa("ip", ["-n", await sim.netns(pod), "-json", "link", "show", "dev", "kubelan"], { reject: false })
    return result.exitCode === 0 ? (JSON.parse(result.stdout)[0]?.address as string | undefined) : undefined
  }
  /** When the agent said it was ready, from its JSON log. */
  const readyAt = async (pod: string): Promise<number | undefined> => {
    const logs = await sim.sim(["logs", pod, "-c", "kubelan"])
    for (const line of logs.stdout.split("\n")) {
      if (!line.startsWith("{")) continue
      const entry = JSON.parse(line) as { time: string; msg: string }
      if (entry.msg.startsWith("ready:")) return Date.parse(entry.time)
    }
    return undefined
  }

  describe(`the example's addresses, stable MACs and announcements, ${controlPlane} control plane`, () => {
    beforeAll(async () => {
      const up = await sim.sim(["up", "--listen", "127.0.0.1:0", "--control-plane", controlPlane])
      if (up.exitCode !== 0) throw new Error(up.all)
      const applied = await sim.kubectl(["apply", "-f", "-"], twoReplicas)
      if (applied.exitCode !== 0) throw new Error(applied.all)
      await waitFor("two ready replicas", async () => (await readyReplicas()) === "2")
    }, 180_000)
    afterAll(async () => {
      await sim.kubectl(["delete", "-f", "-", "--wait=false"], twoReplicas)
      await sim.sim(["down"])
    }, 120_000)

    it("each pod has the address its ordinal gives, with no hook; one deleted by hand is put back", async () => {
      for (const ordinal of [0, 1])
        expect(await linkAddresses(await sim.netns(`kubelan-${ordinal}`), "kubelan")).toEqual([`192.168.69.${ordinal + 1}/24`])
      const netns = await sim.netns("kubelan-1")
      await execa("ip", ["-n", netns, "address", "del", "192.168.69.2/24", "dev", "kubelan"])
      await waitFor("the address to come back", async () => (await linkAddresses(netns, "kubelan")).includes("192.168.69.2/24"), 10_000)
      const logs = await sim.sim(["logs", "kubelan-1", "-c", "kubelan"])
      expect(logs.stdout).toContain("restored address 192.168.69.2/24 on kubelan: it was removed by someone else")
    }, 60_000)

    it("a replaced pod keeps its MAC, and a peer's continuous ping reaches it within 1 s of its agent being ready", async () => {
      const macBefore = await macOf("kubelan-1")
      const uidBefore = await jsonpath("pod kubelan-1", "{.metadata.uid}")
      // ping -D prints each reply with its time (seconds since the epoch); -w ends it on its own.
      const ping = sim.sim(["exec", "kubelan-0", "-c", "alpine", "--", "ping", "-D", "-i", "0.2", "-W", "1", "-w", "40", "192.168.69.2"])
      await sleep(1500)
      expect((await sim.kubectl(["delete", "pod", "kubelan-1"])).exitCode).toBe(0)
      await waitFor("kubelan-1 to come back ready", async () => {
        const uid = await jsonpath("pod kubelan-1", "{.metadata.uid}")
        return uid !== "" && uid !== uidBefore && (await readyReplicas()) === "2" && (await readyAt("kubelan-1")) !== undefined
      })
      const ready = (await readyAt("kubelan-1")) as number
      const output = (await ping).all ?? ""
      const replies = [...output.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from 192\.168\.69\.2/gm)].map((match) => Number(match[1]) * 1000)
      // It answered before the pod was deleted, and answers at the end.
      expect(replies.filter((at) => at < ready).length, output).toBeGreaterThan(0)
      expect(replies.filter((at) => at > ready + 5000).length, output).toBeGreaterThan(0)
      const firstAfterReady = replies.find((at) => at >= ready)
      expect(firstAfterReady, `no reply after the agent was ready at ${new Date(ready).toISOString()}:\n${output}`).toBeDefined()
      expect((firstAfterReady as number) - ready, output).toBeLessThanOrEqual(1000)
      // The same MAC, and the peer's neighbour entry holds it.
      expect(await macOf("kubelan-1")).toBe(macBefore)
      const neighbour = await execa("ip", ["-n", await sim.netns("kubelan-0"), "neigh", "show", "192.168.69.2", "dev", "kubelan"])
      expect(neighbour.stdout).toContain(`lladdr ${macBefore}`)
    }, 180_000)

    it("the agents' Events show in kubectl get events and describe pod: a failing hook once with a growing count, a rejected reload, a recreated interface", async () => {
      const withConfig = (lines: string) => twoReplicas.replace("    vxlan:\n", `${lines}\n    vxlan:\n`)
      const failingHook = withConfig("    hooks:\n      change: ['sh', '-c', 'echo no route >&2; exit 3']")
      expect(failingHook).not.toBe(twoReplicas)
      expect((await sim.kubectl(["apply", "-f", "-"], failingHook)).exitCode).toBe(0)
      const logOf = async (pod: string) => (await sim.sim(["logs", pod, "-c", "kubelan"])).stdout
      await waitFor("kubelan-0 to reload", async () => (await logOf("kubelan-0")).includes("config reloaded"))
      // Membership changes (kubelan-1 replaced) run the failing hook on kubelan-0, more than once.
      expect((await sim.kubectl(["delete", "pod", "kubelan-1"])).exitCode).toBe(0)
      const events = async () => (await sim.kubectl(["get", "events", "--field-selector", "involvedObject.name=kubelan-0"])).stdout
      // As kube-apiserver prints them: `get events` shows one line, its count under -o wide; describe says "(x3 over 20s)".
      const count = async () =>
        Number(
          (await sim.kubectl(["get", "events", "--field-selector", "involvedObject.name=kubelan-0,reason=HookFailed", "-o", "wide"])).stdout
            .split("\n")[1]
            ?.trim()
            .split(/\s+/)
            .at(-2) ?? 0
        )
      await waitFor("a HookFailed Event with a count", async () => (await count()) >= 2)
      expect((await sim.kubectl(["describe", "pod", "kubelan-0"])).stdout).toMatch(
        /Warning\s+HookFailed\s+\S+ \(x\d+ over \S+\)\s+kubelan\.io\/agent\s+change hook "sh" failed \(exit 3\): no route/
      )
      expect((await events()).match(/HookFailed/g)).toHaveLength(1)
      expect(await events()).toMatch(/Warning\s+HookFailed\s+pod\/kubelan-0\s+change hook "sh" failed \(exit 3\): no route/)
      // A reload the agents refuse, then one that recreates the interface.
      expect((await sim.kubectl(["apply", "-f", "-"], failingHook.replace("mac: stable", "mac: stable\n      vni: 0"))).exitCode).toBe(0)
      await waitFor("a ConfigRejected Event", async () =>
        /Warning\s+ConfigRejected\s+pod\/kubelan-0\s+config reload rejected/.test(await events())
      )
      expect((await sim.kubectl(["apply", "-f", "-"], failingHook.replace("mac: stable", "mac: stable\n      vni: 77"))).exitCode).toBe(0)
      await waitFor("an InterfaceRecreated Event", async () =>
        /Warning\s+InterfaceRecreated\s+pod\/kubelan-0\s+.*vni: 6969 vs 77/.test(await events())
      )
      const described = await sim.kubectl(["describe", "pod", "kubelan-0"])
      for (const reason of ["HookFailed", "ConfigRejected", "InterfaceRecreated"])
        expect(described.stdout).toMatch(new RegExp(`Warning\\s+${reason}\\s+.*kubelan\\.io/agent`))
      // Only create and patch on events were needed: the agents' ServiceAccount may do no more.
      const canI = (verb: string) =>
        sim.kubectl(["auth", "can-i", verb, "events.events.k8s.io", "--as=system:serviceaccount:default:kubelan"])
      expect((await canI("create")).stdout.trim()).toBe("yes")
      expect((await canI("delete")).stdout.trim()).toBe("no")
    }, 180_000)
  })
}
