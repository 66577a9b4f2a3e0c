import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { controlPlaneKinds } from "../src/real/ControlPlaneKind.ts"
import { exampleManifest, isolatedSim } from "./Sim.ts"

/**
 * deploy/networkpolicy.yaml enforced as a CNI plugin would: a pod outside the LAN cannot inject
 * frames into it, the members still reach each other (also one that joins later), TCP stays open.
 */
const policy = fileURLToPath(new URL("../../../deploy/networkpolicy.yaml", import.meta.url))
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))
const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMillis = 90_000) => {
  const deadline = Date.now() + timeoutMillis
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}

// A pod of another app with its own VXLAN interface on kubelan's VNI, aimed at kubelan-0.
const intruder = `apiVersion: v1
kind: Pod
metadata: { name: intruder, labels: { app: other } }
spec:
  containers:
    - name: shell
      image: debian:bookworm
      command: [sleep, infinity]
      securityContext: { capabilities: { add: [NET_ADMIN, NET_RAW] } }
`

describe.each(controlPlaneKinds)("NetworkPolicy in kubelan-sim, %s control plane", (controlPlane) => {
  const sim = isolatedSim()
  const ready = async (replicas: number) =>
    (await sim.kubectl(["get", "statefulset", "kubelan", "-o", "jsonpath={.status.readyReplicas}"])).stdout === String(replicas)
  const podIp = async (pod: string) => (await sim.kubectl(["get", "pod", pod, "-o", "jsonpath={.status.podIP}"])).stdout
  /** Whether a frame from the intruder reached kubelan-0's LAN: its ARP request leaves a neighbour entry there. */
  const injected = async () => {
    await sim.kubectl(["exec", "kubelan-0", "-c", "alpine", "--", "ip", "neigh", "flush", "dev", "kubelan"])
    await sim.kubectl(["exec", "intruder", "--", "arping", "-c", "2", "-w", "2", "-I", "lan", "192.168.69.1"])
    return (
      (await sim.kubectl(["exec", "kubelan-0", "-c", "alpine", "--", "ip", "neigh", "show", "192.168.69.99", "dev", "kubelan"])).stdout !==
      ""
    )
  }
  const arping = async (from: string, to: string) =>
    (await sim.kubectl(["exec", from, "-c", "alpine", "--", "arping", "-c", "1", "-w", "3", "-I", "kubelan", to])).exitCode === 0

  beforeAll(async () => {
    const up = await sim.sim(["up", "--listen", "127.0.0.1:0", "--control-plane", controlPlane])
    if (up.exitCode !== 0) throw new Error(up.all)
    expect((await sim.kubectl(["apply", "-f", exampleManifest])).exitCode).toBe(0)
    expect((await sim.kubectl(["apply", "-f", "-"], intruder)).exitCode).toBe(0)
    await waitFor("three Ready pods", () => ready(3))
    await waitFor("the intruder running", async () => (await sim.kubectl(["exec", "intruder", "--", "true"])).exitCode === 0)
    const target = await podIp("kubelan-0")
    const made = await sim.kubectl([
      "exec",
      "intruder",
      "--",
      "sh",
      "-c",
      `ip link add lan type vxlan id 6969 dstport 4789 dev eth0 && bridge fdb append 00:00:00:00:00:00 dev lan dst ${target} && ip addr add 192.168.69.99/24 dev lan && ip link set lan up`
    ])
    expect(made.exitCode, made.all).toBe(0)
  })
  afterAll(async () => {
    await sim.kubectl(["delete", "-f", exampleManifest, "--wait=false"])
    await sim.sim(["down"])
  })

  it("without a policy, any pod can inject frames into the LAN", async () => {
    expect(await injected()).toBe(true)
  })

  it("with deploy/networkpolicy.yaml, the intruder's VXLAN is dropped, members' passes, TCP stays open, probes still reach the pods", async () => {
    expect((await sim.kubectl(["apply", "-f", policy])).exitCode).toBe(0)
    await waitFor("the intruder cut off", async () => !(await injected()), 30_000)
    expect(await arping("kubelan-1", "192.168.69.1")).toBe(true)
    expect(await arping("kubelan-0", "192.168.69.3")).toBe(true)
    const healthz = await sim.kubectl([
      "exec",
      "intruder",
      "--",
      "curl",
      "-s",
      "-m",
      "3",
      `http://${await podIp("kubelan-0")}:8181/healthz`
    ])
    expect(healthz.exitCode, healthz.all).toBe(0)
    // Other UDP and ICMP are not admitted.
    expect((await sim.kubectl(["exec", "intruder", "--", "ping", "-c", "1", "-W", "2", await podIp("kubelan-0")])).exitCode).toBe(1)
    // The kubelet probes from the node: the pods stay Ready.
    await sleep(3000)
    expect(await ready(3)).toBe(true)
  })

  it("a member that joins later is admitted, as the rules follow the membership", async () => {
    expect((await sim.kubectl(["scale", "statefulset", "kubelan", "--replicas=4"])).exitCode).toBe(0)
    await waitFor("four Ready pods", () => ready(4))
    await waitFor("kubelan-3 reaching kubelan-0 over the LAN", () => arping("kubelan-3", "192.168.69.1"), 30_000)
    expect(await arping("kubelan-0", "192.168.69.4")).toBe(true)
    expect(await injected()).toBe(false)
  })

  it("deleting the policy opens the pods again", async () => {
    expect((await sim.kubectl(["delete", "-f", policy])).exitCode).toBe(0)
    await waitFor("the LAN open again", () => injected(), 30_000)
  })
})
