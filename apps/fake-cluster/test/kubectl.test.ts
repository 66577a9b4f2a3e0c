import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { execa } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { controlPlaneKinds } from "../src/real/ControlPlaneKind.ts"
import { exampleManifest, isolatedSim } from "./Sim.ts"

/** The everyday kubectl commands against kubelan-sim, typed as a user types them. */
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))
const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMillis = 90_000) => {
  const deadline = Date.now() + timeoutMillis
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}

// On both control planes: with the real one, logs and exec go from kube-apiserver to the kubelets' server.
describe.each(controlPlaneKinds)("kubectl against kubelan-sim: logs, exec and rollouts, %s control plane", (controlPlane) => {
  const sim = isolatedSim()
  const kubeconfig = () => `${sim.env.KUBELAN_SIM_STATE}/kubeconfig`
  const ready = async () => (await sim.kubectl(["get", "statefulset", "kubelan", "-o", "jsonpath={.status.readyReplicas}"])).stdout === "3"

  /** The agent of a pod's kubelan container as the host sees it: the one child of its runtime's process. */
  const agentProcess = async (pod: string) => {
    const uid = (await sim.kubectl(["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"])).stdout
    const parent = readFileSync(`${sim.env.KUBELAN_SIM_STATE}/pods/${uid}/container-0.pid`, "utf8").trim()
    return Number(readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim().split(/\s+/)[0])
  }

  beforeAll(async () => {
    const up = await sim.sim(["up", "--listen", "127.0.0.1:0", "--control-plane", controlPlane])
    if (up.exitCode !== 0) throw new Error(up.all)
    expect((await sim.kubectl(["apply", "-f", exampleManifest])).exitCode).toBe(0)
    await waitFor("three Ready pods", ready)
  })
  afterAll(async () => {
    await sim.kubectl(["delete", "-f", exampleManifest, "--wait=false"])
    await sim.sim(["down"])
  })

  it("kubectl exec runs the seed README's arping, verbatim, and the peer answers", async () => {
    const arping = await sim.kubectl(["exec", "kubelan-0", "-c", "alpine", "--", "arping", "-c", "1", "-I", "kubelan", "192.168.69.2"])
    expect(arping.exitCode, arping.all).toBe(0)
    expect(arping.stdout).toContain("Received 1 response(s)")
  })

  it("exec runs in the container: its hostname, its environment, its capabilities and read-only root; exit codes and stdin carry", async () => {
    expect((await sim.kubectl(["exec", "kubelan-0", "-c", "alpine", "--", "hostname"])).stdout).toBe("kubelan-0")
    const env = await sim.kubectl(["exec", "kubelan-0", "-c", "kubelan", "--", "printenv", "KL_IP", "KUBERNETES_SERVICE_HOST"])
    expect(env.stdout.split("\n")[0]).toMatch(/^10\.\d+\.\d+\.\d+$/)
    // Only NET_ADMIN (bit 12), as the container's securityContext keeps.
    const caps = await sim.kubectl(["exec", "kubelan-0", "-c", "kubelan", "--", "grep", "CapEff", "/proc/self/status"])
    expect(caps.stdout).toMatch(/^CapEff:\s+0000000000001000$/)
    const write = await sim.kubectl(["exec", "kubelan-0", "-c", "kubelan", "--", "sh", "-c", "touch /written-by-exec"])
    expect(write.exitCode).toBe(1)
    expect(write.stderr).toContain("Read-only file system")
    const failed = await sim.kubectl(["exec", "kubelan-0", "-c", "alpine", "--", "sh", "-c", "echo to-stderr >&2; exit 3"])
    expect(failed.exitCode).toBe(3)
    expect(failed.stderr).toContain("to-stderr")
    expect(failed.stderr).toContain("command terminated with exit code 3")
    const upper = await sim.kubectl(["exec", "-i", "kubelan-0", "-c", "alpine", "--", "tr", "a-z", "A-Z"], "hello over stdin\n")
    expect(upper.stdout).toBe("HELLO OVER STDIN")
    const missing = await sim.kubectl(["exec", "kubelan-0", "-c", "nope", "--", "true"])
    expect(missing.exitCode).toBe(1)
    expect(missing.stderr).toContain("container nope is not valid for pod kubelan-0")
  })

  it("an interactive exec -it sh gets a terminal of the client's size, and its exit code", async () => {
    // script gives kubectl the terminal it wants, sized as a user's window might be.
    const session = await execa(
      "script",
      [
        "--quiet",
        "--flush",
        "--return",
        "--command",
        `stty rows 33 cols 101; kubectl --kubeconfig ${kubeconfig()} exec -it kubelan-0 -c alpine -- sh`,
        "/dev/null"
      ],
      { reject: false, input: "tty; stty size; echo marker-$((6*7)); exit 5\n", timeout: 30_000 }
    )
    expect(session.stdout).toMatch(/\/dev\/pts\/\d+/)
    expect(session.stdout).toContain("33 101")
    expect(session.stdout).toContain("marker-42")
    expect(session.exitCode).toBe(5)
  })

  it("kubectl logs shows the container's output; --tail, --timestamps, -f and --previous work as on a cluster", async () => {
    const logs = await sim.kubectl(["logs", "kubelan-0", "-c", "kubelan"])
    expect(logs.exitCode, logs.stderr).toBe(0)
    expect(logs.stdout).toContain('"msg":"ready: first full membership sync programmed"')
    const last = await sim.kubectl(["logs", "kubelan-0", "-c", "kubelan", "--tail=1", "--timestamps"])
    expect(last.stdout.split("\n")).toHaveLength(1)
    expect(last.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \{/)
    const none = await sim.kubectl(["logs", "kubelan-0", "-c", "kubelan", "--previous"])
    expect(none.exitCode).toBe(1)
    expect(none.stderr).toContain('previous terminated container "kubelan" in pod "kubelan-0" not found')

    // -f: a peer leaving is logged while kubectl follows.
    const follow = execa("kubectl", ["--kubeconfig", kubeconfig(), "logs", "-f", "kubelan-0", "-c", "kubelan", "--tail=0"], {
      reject: false,
      buffer: false
    })
    let followed = ""
    follow.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      followed += chunk
    })
    await sleep(1000)
    expect((await sim.kubectl(["delete", "pod", "kubelan-2", "--wait=false"])).exitCode).toBe(0)
    await waitFor("the followed log to show the peer removed", async () => /"removed":1/.test(followed), 30_000)
    follow.kill()
    expect(followed).not.toContain("first full membership sync")
    await waitFor("three Ready pods again", ready)

    // --previous: the agent is killed; the restarted one's log starts afresh and the killed one's is kept.
    process.kill(await agentProcess("kubelan-0"), "SIGKILL")
    // The restarted agent adopts the interface its predecessor left.
    await waitFor("the kubelan container to restart", async () =>
      (await sim.kubectl(["logs", "kubelan-0", "-c", "kubelan"])).stdout.includes('"msg":"adopted interface kubelan"')
    )
    const restarts = await sim.kubectl(["get", "pod", "kubelan-0", "-o", "jsonpath={.status.initContainerStatuses[0].restartCount}"])
    expect(restarts.stdout).toBe("1")
    const previous = await sim.kubectl(["logs", "kubelan-0", "-c", "kubelan", "--previous"])
    expect(previous.exitCode, previous.stderr).toBe(0)
    expect(previous.stdout).toContain('"removed":1')
    const current = await sim.kubectl(["logs", "kubelan-0", "-c", "kubelan"])
    expect(current.stdout).not.toContain('"removed":1')
  })

  it("a partitioned pod fails its probes from the node and turns NotReady; healed, it is Ready again", async () => {
    const readyCondition = async () =>
      (await sim.kubectl(["get", "pod", "kubelan-2", "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).stdout
    const cut = await sim.sim(["partition", "kubelan-2"])
    expect(cut.exitCode, cut.all).toBe(0)
    await waitFor("kubelan-2 NotReady", async () => (await readyCondition()) === "False", 30_000)
    const events = await sim.kubectl(["get", "events", "--field-selector", "involvedObject.name=kubelan-2,reason=Unhealthy"])
    expect(events.stdout).toMatch(/Warning\s+Unhealthy\s+pod\/kubelan-2\s+Readiness probe failed: Get "http:\/\/[\d.]+:8181\/readyz"/)
    expect((await sim.sim(["partition", "kubelan-2", "--heal"])).exitCode).toBe(0)
    await waitFor("kubelan-2 Ready again", async () => (await readyCondition()) === "True", 30_000)
    await waitFor("three Ready pods", ready)
  })

  // kube-fake's faults make the API refuse; kube-apiserver has none (and serves ephemeral containers, which this kubelet does not run).
  it.skipIf(controlPlane === "real")(
    "while the API refuses, kubelan-sim says so in one line; kubectl debug gets an error, not a crash",
    async () => {
      const server = (readFileSync(kubeconfig(), "utf8").match(/"server": "([^"]+)"/) as RegExpMatchArray)[1]
      const fault = (body: object) => fetch(`${server}/_fake/faults`, { method: "POST", body: JSON.stringify(body) })
      await fault({ refuseMillis: 3000 })
      const status = await sim.sim(["status"])
      expect(status.exitCode).toBe(1)
      expect(status.all).toMatch(/^kubelan-sim: the API \(unix:.*\) is not answering: .+; this command works again once it does$/m)
      expect(status.all).not.toContain("    at ")
      await sleep(3000)
      await fault({ failNext: { count: 1, code: 503 } })
      const exec = await sim.sim(["exec", "kubelan-0", "--", "true"])
      expect(exec.all).toContain("is not answering: it answered 503")
      expect((await sim.sim(["status"])).exitCode).toBe(0)
      const debug = await sim.kubectl(["debug", "kubelan-0", "--image=busybox", "--profile=general", "--", "true"])
      expect(debug.exitCode).toBe(1)
      expect(debug.stderr).toContain("ephemeral containers are disabled for this cluster")
      expect(debug.stderr).not.toContain("panic")
    }
  )

  it("a pod on two networks runs both of its kubelan containers, and kubectl cp reaches a container's files", async () => {
    const agent = (name: string, vni: number, port: number) => `
    - name: ${name}
      image: ghcr.io/kubelan/kubelan:latest
      securityContext: { readOnlyRootFilesystem: true, capabilities: { drop: [ALL], add: [NET_ADMIN] } }
      env:
        - { name: KL_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
        - { name: KL_VXLAN_INTERFACE, value: ${name} }
        - { name: KL_VXLAN_VNI, value: "${vni}" }
        - { name: KL_HTTP_ADDRESS, value: "0.0.0.0:${port}" }
        - { name: KL_DISCOVERY_BACKEND, value: static }
        - { name: KL_SERVICES, value: default/${name} }
        - { name: KL_DISCOVERY_STATIC, value: "default/${name}=10.99.0.${vni % 250}" }
      ports: [{ containerPort: ${port} }]
      readinessProbe: { httpGet: { path: /readyz, port: ${port} }, periodSeconds: 1 }`
    const pod = `apiVersion: v1
kind: Pod
metadata: { name: two-nets }
spec:
  containers:${agent("lan-a", 101, 8181)}${agent("lan-b", 102, 8182)}
    - { name: shell, image: debian:bookworm, command: [sleep, infinity] }
`
    expect((await sim.kubectl(["apply", "-f", "-"], pod)).exitCode).toBe(0)
    await waitFor(
      "both agents ready",
      async () => (await sim.kubectl(["get", "pod", "two-nets", "--no-headers"])).stdout.split(/\s+/)[1] === "3/3"
    )
    const links = await sim.kubectl(["exec", "two-nets", "-c", "shell", "--", "ip", "-d", "-o", "link", "show", "type", "vxlan"])
    expect(links.stdout).toMatch(/lan-a:.* vxlan id 101 /)
    expect(links.stdout).toMatch(/lan-b:.* vxlan id 102 /)
    for (const container of ["lan-a", "lan-b"])
      expect((await sim.kubectl(["logs", "two-nets", "-c", container])).stdout).toContain(
        '"msg":"ready: first full membership sync programmed"'
      )
    const local = join(mkdtempSync(join(tmpdir(), "kubectl-cp-")), "note")
    writeFileSync(local, "carried by kubectl cp\n")
    expect((await sim.kubectl(["cp", local, "two-nets:/tmp/note", "-c", "shell"])).exitCode).toBe(0)
    expect((await sim.kubectl(["exec", "two-nets", "-c", "shell", "--", "cat", "/tmp/note"])).stdout).toBe("carried by kubectl cp")
    expect((await sim.kubectl(["cp", "two-nets:/tmp/note", `${local}.back`, "-c", "shell"])).exitCode).toBe(0)
    expect(readFileSync(`${local}.back`, "utf8")).toBe("carried by kubectl cp\n")
    expect((await sim.kubectl(["delete", "pod", "two-nets"])).exitCode).toBe(0)
  })

  const history = async (target: string) =>
    (await sim.kubectl(["rollout", "history", target])).stdout
      .split("\n")
      .filter((line) => /^\d+\s/.test(line))
      .map((line) => Number(line.split(/\s+/)[0]))
  const rolledOut = async (target: string) => {
    const status = await sim.kubectl(["rollout", "status", target, "--timeout=170s"])
    expect(status.exitCode, status.all).toBe(0)
    return status.stdout
  }

  it("kubectl rollout status, restart, history and undo for the example's StatefulSet", async () => {
    expect(await rolledOut("statefulset/kubelan")).toContain("partitioned roll out complete: 3 new pods have been updated...")
    expect(await history("statefulset/kubelan")).toEqual([1])
    const before = (await sim.kubectl(["get", "pods", "-l", "app=kubelan", "-o", "jsonpath={.items[*].metadata.uid}"])).stdout
    expect((await sim.kubectl(["rollout", "restart", "statefulset/kubelan"])).stdout).toBe("statefulset.apps/kubelan restarted")
    await rolledOut("statefulset/kubelan")
    const after = (await sim.kubectl(["get", "pods", "-l", "app=kubelan", "-o", "jsonpath={.items[*].metadata.uid}"])).stdout
    // Every pod was replaced, one at a time, and the network converged again.
    expect(after.split(" ").some((uid) => before.includes(uid))).toBe(false)
    expect(await history("statefulset/kubelan")).toEqual([1, 2])
    expect((await sim.kubectl(["rollout", "undo", "statefulset/kubelan"])).stdout).toBe("statefulset.apps/kubelan rolled back")
    await rolledOut("statefulset/kubelan")
    // The first template is current again, renumbered as the newest revision.
    expect(await history("statefulset/kubelan")).toEqual([2, 3])
    const template = await sim.kubectl(["get", "statefulset", "kubelan", "-o", "jsonpath={.spec.template.metadata.annotations}"])
    expect(template.stdout).not.toContain("kubectl.kubernetes.io/restartedAt")
    await waitFor("three Ready pods", ready)
    const arping = await sim.kubectl([
      "exec",
      "kubelan-0",
      "-c",
      "alpine",
      "--",
      "arping",
      "-c",
      "1",
      "-w",
      "5",
      "-I",
      "kubelan",
      "192.168.69.3"
    ])
    expect(arping.exitCode, arping.all).toBe(0)
  })

  it("kubectl rollout status, restart, history and undo for a Deployment, through its ReplicaSets", async () => {
    const created = await sim.kubectl(["create", "deployment", "idle", "--image=busybox:1.36", "--replicas=2", "--", "sleep", "infinity"])
    expect(created.exitCode, created.all).toBe(0)
    expect(await rolledOut("deployment/idle")).toContain('deployment "idle" successfully rolled out')
    expect((await sim.kubectl(["set", "image", "deployment/idle", "busybox=busybox:1.37"])).exitCode).toBe(0)
    await rolledOut("deployment/idle")
    const images = async () =>
      (await sim.kubectl(["get", "pods", "-l", "app=idle", "-o", "jsonpath={.items[*].spec.containers[0].image}"])).stdout
    await waitFor("the old pods gone", async () => (await images()) === "busybox:1.37 busybox:1.37")
    expect(await history("deployment/idle")).toEqual([1, 2])
    expect((await sim.kubectl(["rollout", "undo", "deployment/idle"])).stdout).toBe("deployment.apps/idle rolled back")
    await rolledOut("deployment/idle")
    await waitFor("the first image back", async () => (await images()) === "busybox:1.36 busybox:1.36")
    expect(await history("deployment/idle")).toEqual([2, 3])
    expect((await sim.kubectl(["rollout", "restart", "deployment/idle"])).stdout).toBe("deployment.apps/idle restarted")
    await rolledOut("deployment/idle")
    expect(await history("deployment/idle")).toEqual([2, 3, 4])
    const sets = await sim.kubectl(["get", "replicasets", "-l", "app=idle", "--no-headers"])
    expect(sets.stdout.trim().split("\n")).toHaveLength(3)
    const events = await sim.kubectl(["get", "events", "--field-selector", "involvedObject.name=idle"])
    expect(events.stdout).toMatch(/Normal\s+ScalingReplicaSet\s+deployment\/idle\s+Scaled up replica set idle-[0-9a-f]{10} from 0 to 1/)
    expect((await sim.kubectl(["delete", "deployment", "idle"])).exitCode).toBe(0)
    await waitFor("its ReplicaSets and pods collected", async () => {
      const left = await sim.kubectl(["get", "replicasets,pods", "-l", "app=idle", "--no-headers"])
      return left.stdout.trim() === ""
    })
  })
})
