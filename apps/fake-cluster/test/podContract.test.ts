import { readFileSync } from "node:fs"
import { fdbDestinations } from "@kubelan/testkit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { exampleManifest, isolatedSim } from "./Sim.ts"

/**
 * The kubelan container under the pod's own contract, as a kubelet gives it: only the
 * capabilities its securityContext keeps, a read-only root, the ServiceAccount's token and the
 * cluster's CA mounted where client libraries look, the `kubernetes` Service in its environment
 * and no KUBECONFIG; the API over TLS, authorizing the token with the shipped Role.
 */
// The application notes, as it starts, what L2 network it finds: kubelan's interface, its address and FDB.
const atStart = "ip -br address show dev kubelan > /tmp/network-at-start 2>&1; bridge fdb show dev kubelan >> /tmp/network-at-start 2>&1"
const example = readFileSync(exampleManifest, "utf8").replace(
  "command: [sleep, infinity]",
  `command: [sh, -c, '${atStart}; exec sleep infinity']`
)

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))
const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMillis = 60_000) => {
  const deadline = Date.now() + timeoutMillis
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}
// Both runtimes give the container the same contract: the image under podman, the bundle as a process;
// and so do both control planes, kube-fake and the real kube-apiserver with its RBAC.
describe.each([
  ["image", "fake"],
  ["process", "fake"],
  ["process", "real"]
] as const)("the kubelan container's contract, %s runtime, %s control plane", (runtime, controlPlane) => {
  const sim = isolatedSim()
  const readyReplicas = async () => (await sim.kubectl(["get", "statefulset", "kubelan", "-o", "jsonpath={.status.readyReplicas}"])).stdout

  /** The agent process of a pod's kubelan container: the one child of its unshare, or of conmon for the image. */
  const agentProcess = async (pod: string) => {
    const uid = (await sim.kubectl(["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"])).stdout
    const spec = JSON.parse((await sim.kubectl(["get", "pod", pod, "-o", "jsonpath={.spec}"])).stdout) as {
      initContainers?: Array<{ name: string }>
      containers: Array<{ name: string }>
    }
    // The kubelet numbers containers in start order: init containers (the native sidecar), then the app's.
    const index = [...(spec.initContainers ?? []), ...spec.containers].findIndex((container) => container.name === "kubelan")
    const unshare = readFileSync(`${sim.env.KUBELAN_SIM_STATE}/pods/${uid}/container-${index}.pid`, "utf8").trim()
    return readFileSync(`/proc/${unshare}/task/${unshare}/children`, "utf8").trim()
  }

  // kube-apiserver has no fault to end the open watches: there the agents' own watches end in 3 s.
  const shortWatches = (manifest: string) =>
    controlPlane === "real"
      ? manifest.replace("    log_level: info\n", "    log_level: info\n    discovery: { kubernetes: { watch_timeout: 3s } }\n")
      : manifest

  beforeAll(async () => {
    const up = await sim.sim(["up", "--listen", "127.0.0.1:0", "--runtime", runtime, "--control-plane", controlPlane])
    if (up.exitCode !== 0) throw new Error(up.all)
  })
  afterAll(async () => {
    await sim.kubectl(["delete", "-f", "-", "--wait=false"], example)
    await sim.sim(["down"])
  })

  it("converges with the shipped Role as its ServiceAccount: NET_ADMIN only, a read-only root, no KUBECONFIG", async () => {
    expect((await sim.kubectl(["apply", "-f", "-"], shortWatches(example))).exitCode).toBe(0)
    await waitFor("three Ready pods", async () => (await readyReplicas()) === "3")
    const netns = await sim.netns("kubelan-0")
    await waitFor("a full mesh", async () => (await fdbDestinations(netns, "kubelan")).length === 2)

    const pid = await agentProcess("kubelan-0")
    // The agent is the image's (its entrypoint, its /app) or the bundle built here.
    const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
    if (runtime === "image") expect(command.at(-2)).toBe("/app/kubelan.mjs")
    else expect(command.at(-2)).toMatch(/\/apps\/agent\/dist\/kubelan\.mjs$/)
    expect((await sim.sim(["status"])).stdout).toContain(`containers: ${runtime}`)
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    expect(/^CapEff:\s*(\S+)$/m.exec(status)?.[1]).toBe("0000000000001000")
    expect(/^CapBnd:\s*(\S+)$/m.exec(status)?.[1]).toBe("0000000000001000")
    const environment = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")
    expect(environment.some((variable) => variable.startsWith("KUBECONFIG="))).toBe(false)
    expect(environment).toContain("KUBERNETES_SERVICE_HOST=10.242.0.1")
    expect(environment).toContain("KUBERNETES_SERVICE_PORT=443")

    const inAgent = (...command: Array<string>) => sim.sim(["exec", "kubelan-0", "-c", "kubelan", "--", ...command])
    const write = await inAgent("touch", "/kubelan-was-here")
    expect(write.exitCode).not.toBe(0)
    expect(write.all).toContain("Read-only file system")
    expect((await inAgent("ls", "/var/run/secrets/kubernetes.io/serviceaccount")).stdout.split("\n").sort()).toEqual([
      "ca.crt",
      "namespace",
      "token"
    ])
    // The token is the ServiceAccount's, bound to this pod.
    const token = (await inAgent("cat", "/var/run/secrets/kubernetes.io/serviceaccount/token")).stdout
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString())
    expect(claims.sub).toBe("system:serviceaccount:default:kubelan")
    expect(claims["kubernetes.io"].pod.name).toBe("kubelan-0")
  })

  it("as a native sidecar, kubelan is ready before the application container starts: it finds the interface, its address and its peers", async () => {
    const pod = JSON.parse((await sim.kubectl(["get", "pod", "kubelan-1", "-o", "json"])).stdout)
    expect(pod.status.initContainerStatuses.map((status: any) => [status.name, status.started, status.ready])).toEqual([
      ["kubelan", true, true]
    ])
    expect(pod.status.conditions.find((condition: any) => condition.type === "Initialized").status).toBe("True")
    // kubelan-1 starts after kubelan-0 is Ready (OrderedReady): its first membership already holds kubelan-0.
    const peer = (await sim.kubectl(["get", "pod", "kubelan-0", "-o", "jsonpath={.status.podIP}"])).stdout
    const seen = (await sim.sim(["exec", "kubelan-1", "-c", "alpine", "--", "cat", "/tmp/network-at-start"])).stdout
    expect(seen).toMatch(/^kubelan\s+\S+\s+192\.168\.69\.2\/24/m)
    expect(seen).toContain(`00:00:00:00:00:00 dst ${peer} `)
    // The kubelet's log: the startup probe passed before the application container was started.
    const uid = pod.metadata.uid as string
    const kubelanLog = readFileSync(`${sim.env.KUBELAN_SIM_STATE}/pods/${uid}/kubelan.log`, "utf8")
    const alpineLog = readFileSync(`${sim.env.KUBELAN_SIM_STATE}/pods/${uid}/alpine.log`, "utf8")
    const startedAt = /kubelan-sim: (\S+) container kubelan started \(startup probe passed\)/.exec(kubelanLog)?.[1]
    const appAt = /kubelan-sim: (\S+) starting container alpine/.exec(alpineLog)?.[1]
    expect(startedAt).toBeDefined()
    expect(Date.parse(appAt ?? "")).toBeGreaterThanOrEqual(Date.parse(startedAt ?? ""))
  })

  it("without watch in its Role, the agent logs the 403, keeps the last membership, and kubectl auth can-i agrees", async () => {
    const asAgent = (verb: string) =>
      sim.kubectl(["auth", "can-i", verb, "endpointslices.discovery.k8s.io", "--as=system:serviceaccount:default:kubelan"])
    expect((await asAgent("watch")).stdout.trim()).toBe("yes")
    const netns = await sim.netns("kubelan-1")
    const before = (await fdbDestinations(netns, "kubelan")).sort()
    const role = shortWatches(example.replace("verbs: [list, watch]", "verbs: [list]"))
    expect(role).not.toBe(example)
    expect((await sim.kubectl(["apply", "-f", "-"], role)).exitCode).toBe(0)
    expect((await asAgent("watch")).stdout.trim()).toBe("no")
    expect((await asAgent("list")).stdout.trim()).toBe("yes")
    // Every open watch ends now (the agents would otherwise ask again only when theirs times out).
    const url = JSON.parse((await sim.kubectl(["config", "view", "-o", "json"])).stdout).clusters[0].cluster.server as string
    if (controlPlane === "fake") await fetch(`${url}/_fake/faults`, { method: "POST", body: JSON.stringify({ dropWatches: true }) })
    const uid = (await sim.kubectl(["get", "pod", "kubelan-1", "-o", "jsonpath={.metadata.uid}"])).stdout
    const log = () => readFileSync(`${sim.env.KUBELAN_SIM_STATE}/pods/${uid}/kubelan.log`, "utf8")
    await waitFor("the 403 in the agent's log", async () =>
      log().includes(
        'HTTP 403: endpointslices.discovery.k8s.io is forbidden: User \\"system:serviceaccount:default:kubelan\\" cannot watch resource \\"endpointslices\\" in API group \\"discovery.k8s.io\\" in the namespace \\"default\\"; keeping the last membership and retrying'
      )
    )
    expect((await fdbDestinations(netns, "kubelan")).sort()).toEqual(before)
    // The shipped Role again: the agents follow once more.
    expect((await sim.kubectl(["apply", "-f", "-"], example)).exitCode).toBe(0)
    expect((await asAgent("watch")).stdout.trim()).toBe("yes")
  })

  it("without NET_ADMIN, the kubelan container fails with the one line naming it, and kubectl describe shows it", async () => {
    const noCapability = example.replace("add: [NET_ADMIN]", "add: []").replace("replicas: 3", "replicas: 1")
    expect(noCapability).toContain("add: []")
    const uid = (await sim.kubectl(["get", "pod", "kubelan-2", "-o", "jsonpath={.metadata.uid}"])).stdout
    await sim.kubectl(["delete", "statefulset", "kubelan"])
    await waitFor("the pods to go", async () => (await sim.kubectl(["get", "pods", "-o", "name"])).stdout.trim() === "")
    // Deleted, the pod stops its application first and kubelan only after it: the L2 network outlives the app.
    const at = (container: string, what: string) =>
      Date.parse(
        new RegExp(`kubelan-sim: (\\S+) ${what} container ${container}`).exec(
          readFileSync(`${sim.env.KUBELAN_SIM_STATE}/pods/${uid}/${container}.log`, "utf8")
        )?.[1] ?? ""
      )
    expect(at("kubelan", "stopping")).toBeGreaterThanOrEqual(at("alpine", "stopping"))
    expect(at("kubelan", "stopping")).toBeGreaterThanOrEqual(
      Date.parse(
        /kubelan-sim: (\S+) container alpine stopped/.exec(
          readFileSync(`${sim.env.KUBELAN_SIM_STATE}/pods/${uid}/alpine.log`, "utf8")
        )?.[1] ?? ""
      )
    )
    expect((await sim.kubectl(["apply", "-f", "-"], noCapability)).exitCode).toBe(0)
    const line =
      "kubelan: the container lacks the NET_ADMIN capability, which kubelan needs to create its VXLAN interface and program its FDB: add it to the kubelan container's securityContext (capabilities: { add: [NET_ADMIN] })"
    const lastState = async () =>
      (
        await sim.kubectl([
          "get",
          "pod",
          "kubelan-0",
          "-o",
          'jsonpath={.status.initContainerStatuses[?(@.name=="kubelan")].lastState.terminated}'
        ])
      ).stdout
    await waitFor("the kubelan container to have failed", async () => (await lastState()) !== "")
    expect(JSON.parse(await lastState())).toMatchObject({ exitCode: 2, reason: "Error", message: line })
    const described = await sim.kubectl(["describe", "pod", "kubelan-0"])
    expect(described.stdout).toContain("Exit Code:    2")
    expect(described.stdout).toContain(line)
    // The app container never starts: the pod stays in its init phase, as kubectl get shows it.
    await waitFor("kubectl get to show the sidecar's crash loop", async () =>
      /^kubelan-0\s+0\/2\s+Init:CrashLoopBackOff\s+[1-9]/m.test((await sim.kubectl(["get", "pod", "kubelan-0"])).stdout)
    )
    expect(
      (await sim.kubectl(["get", "pod", "kubelan-0", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}"])).stdout
    ).toBe("PodInitializing")
    const logs = await sim.sim(["logs", "kubelan-0", "-c", "kubelan"])
    expect(logs.stdout).toContain(line)
    expect((await sim.netns("kubelan-0")) !== "").toBe(true)
    expect(await fdbDestinations(await sim.netns("kubelan-0"), "kubelan").catch(() => "no interface")).toBe("no interface")
  })
})
