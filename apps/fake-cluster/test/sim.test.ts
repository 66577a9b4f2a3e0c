import { existsSync, readFileSync } from "node:fs"
import { fdbDestinations, linkInfo, listNamespaces } from "@kubelan/testkit"
import { execa } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { controlPlaneKinds } from "../src/real/ControlPlaneKind.ts"
import { demoScript, exampleManifest, isolatedSim } from "./Sim.ts"

/**
 * The seed's example on the simulator, as a user drives it: kubectl, kubelan-sim exec, arping.
 * One cluster per control plane (kube-fake, then the real kube-apiserver and
 * kube-controller-manager); each test leaves it in the state the next one starts from.
 */
for (const controlPlane of controlPlaneKinds) {
  const sim = isolatedSim()
  let demoOutput = ""
  let demoExit = -1

  const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))
  const overlay = (ordinal: number) => `192.168.69.${ordinal + 1}`
  const podIp = async (pod: string) => (await sim.kubectl(["get", "pod", pod, "-o", "jsonpath={.status.podIP}"])).stdout
  const readyReplicas = async () => (await sim.kubectl(["get", "statefulset", "kubelan", "-o", "jsonpath={.status.readyReplicas}"])).stdout
  const podNames = async () =>
    (await sim.kubectl(["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"])).stdout.split(" ").filter((name) => name !== "")

  const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMillis = 60_000) => {
    const deadline = Date.now() + timeoutMillis
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await sleep(200)
    }
  }

  const arping = (from: number, to: number) =>
    sim.sim(["exec", `kubelan-${from}`, "-c", "alpine", "--", "arping", "-c", "1", "-w", "3", "-I", "kubelan", overlay(to)])
  const expectFullMesh = async (count: number) => {
    for (let from = 0; from < count; from++)
      for (let to = 0; to < count; to++) {
        if (from === to) continue
        const result = await arping(from, to)
        expect(result.exitCode, `kubelan-${from} → ${overlay(to)}: ${result.all}`).toBe(0)
        expect(result.all).toContain(`Unicast reply from ${overlay(to)}`)
      }
  }

  describe(`kubelan-sim with the seed's example, ${controlPlane} control plane`, () => {
    beforeAll(async () => {
      // The demo itself: up, apply, wait for three pods, arping across kubelan.
      const demo = await execa(process.execPath, [demoScript, "--listen", "127.0.0.1:0", "--control-plane", controlPlane], {
        env: sim.env,
        reject: false,
        all: true
      })
      demoOutput = demo.all
      demoExit = demo.exitCode ?? -1
    })
    afterAll(async () => {
      await sim.kubectl(["delete", "-f", exampleManifest, "--wait=false"])
      await sim.sim(["down"])
    })

    it("the demo: kubectl apply, three pods, arping replies across kubelan", () => {
      expect(demoExit, demoOutput).toBe(0)
      expect(demoOutput).toContain("statefulset.apps/kubelan created")
      expect(demoOutput).toContain("$ kubectl exec kubelan-0 -c alpine -- arping -c 4 -I kubelan 192.168.69.3")
      expect(demoOutput).toContain("ARPING 192.168.69.3 from 192.168.69.1 kubelan")
      expect(demoOutput.match(/Unicast reply from 192\.168\.69\.3 /g)).toHaveLength(4)
      expect(demoOutput).toContain("Received 4 response(s)")
    })

    it("kubectl sees pods, endpoint slices and statuses as in a real cluster", async () => {
      const pods = JSON.parse((await sim.kubectl(["get", "pods", "-o", "json"])).stdout)
      expect(pods.items.map((pod: any) => pod.metadata.name)).toEqual(["kubelan-0", "kubelan-1", "kubelan-2"])
      for (const pod of pods.items) {
        expect(pod.status.phase).toBe("Running")
        expect(pod.status.podIP).toMatch(/^10\.244\.0\.\d+$/)
        expect(pod.status.conditions.find((condition: any) => condition.type === "Ready").status).toBe("True")
        expect(pod.status.conditions.find((condition: any) => condition.type === "Initialized").status).toBe("True")
        // kubelan is a native sidecar: an init container that keeps running, started and ready.
        expect(
          pod.status.initContainerStatuses.map((status: any) => [status.name, status.started, status.ready, status.restartCount])
        ).toEqual([["kubelan", true, true, 0]])
        expect(pod.status.containerStatuses.map((status: any) => [status.name, status.ready, status.restartCount])).toEqual([
          ["alpine", true, 0]
        ])
      }
      const slices = JSON.parse(
        (await sim.kubectl(["get", "endpointslices", "-l", "kubernetes.io/service-name=kubelan", "-o", "json"])).stdout
      )
      expect(slices.items).toHaveLength(1)
      const slice = slices.items[0]
      expect(slice.metadata.generateName).toBe("kubelan-")
      expect(slice.metadata.labels["endpointslice.kubernetes.io/managed-by"]).toBe("endpointslice-controller.k8s.io")
      expect(slice.metadata.ownerReferences[0]).toMatchObject({ kind: "Service", name: "kubelan", controller: true })
      expect(slice.endpoints.map((endpoint: any) => endpoint.targetRef.name)).toEqual(["kubelan-0", "kubelan-1", "kubelan-2"])
      const table = (await sim.kubectl(["get", "pods"])).stdout
      expect(table).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/)
      expect(table).toMatch(/^kubelan-0\s+2\/2\s+Running\s+0\s+\d+s$/m)
      const logs = await sim.sim(["logs", "kubelan-0"])
      expect(logs.all).toContain("ready: first full membership sync programmed")
    })

    it("scale 3 → 5 → 2: every pair arpings, and departed pods leave every FDB within 2 s of their deletion", async () => {
      expect((await sim.kubectl(["scale", "statefulset", "kubelan", "--replicas=5"])).exitCode).toBe(0)
      await waitFor("5 ready replicas", async () => (await readyReplicas()) === "5")
      await expectFullMesh(5)

      const departing = await Promise.all(
        [2, 3, 4].map(async (ordinal) => ({ pod: `kubelan-${ordinal}`, ip: await podIp(`kubelan-${ordinal}`) }))
      )
      const gone = new Map<string, number>()
      const left = new Map<string, number>()
      expect((await sim.kubectl(["scale", "statefulset", "kubelan", "--replicas=2"])).exitCode).toBe(0)
      const deadline = Date.now() + 60_000
      while (left.size < departing.length && Date.now() < deadline) {
        const names = await podNames()
        const fdbs = [
          ...(await fdbDestinations(await sim.netns("kubelan-0"), "kubelan")),
          ...(await fdbDestinations(await sim.netns("kubelan-1"), "kubelan"))
        ]
        const now = Date.now()
        for (const { pod, ip } of departing) {
          if (!names.includes(pod) && !gone.has(pod)) gone.set(pod, now)
          if (gone.has(pod) && !fdbs.includes(ip) && !left.has(pod)) left.set(pod, now)
        }
        await sleep(50)
      }
      for (const { pod } of departing) {
        expect(left.has(pod), `${pod} left the FDBs`).toBe(true)
        expect((left.get(pod) as number) - (gone.get(pod) as number)).toBeLessThanOrEqual(2000)
      }
      await expectFullMesh(2)
    })

    it("a deleted pod comes back with the same name and rejoins; the others keep their interfaces", async () => {
      const before = await linkInfo(await sim.netns("kubelan-0"), "kubelan")
      const oldUid = (await sim.kubectl(["get", "pod", "kubelan-1", "-o", "jsonpath={.metadata.uid}"])).stdout
      expect((await sim.kubectl(["delete", "pod", "kubelan-1"])).exitCode).toBe(0)
      await waitFor("kubelan-1 to come back", async () => {
        const uid = (await sim.kubectl(["get", "pod", "kubelan-1", "-o", "jsonpath={.metadata.uid}"])).stdout
        return uid !== "" && uid !== oldUid && (await readyReplicas()) === "2"
      })
      await expectFullMesh(2)
      expect(await linkInfo(await sim.netns("kubelan-0"), "kubelan")).toEqual(before)
    })

    it("editing the ConfigMap (kubectl apply) reloads the agents without recreating their interfaces", async () => {
      const before = await Promise.all([0, 1].map(async (ordinal) => linkInfo(await sim.netns(`kubelan-${ordinal}`), "kubelan")))
      const uids = async () => (await sim.kubectl(["get", "pods", "-o", "jsonpath={.items[*].metadata.uid}"])).stdout
      const podsBefore = await uids()
      const edited = readFileSync(exampleManifest, "utf8")
        .replace("log_level: info", "log_level: debug")
        .replace("replicas: 3", "replicas: 2")
      const applied = await sim.kubectl(["apply", "-f", "-"], edited)
      expect(applied.all).toContain("configmap/kubelan configured")
      await waitFor("both agents to reload", async () => {
        const logs = await Promise.all([0, 1].map((ordinal) => sim.sim(["logs", `kubelan-${ordinal}`])))
        return logs.every((log) => log.all.includes("config reloaded"))
      })
      expect(await Promise.all([0, 1].map(async (ordinal) => linkInfo(await sim.netns(`kubelan-${ordinal}`), "kubelan")))).toEqual(before)
      expect(await uids()).toBe(podsBefore)
      await expectFullMesh(2)
    })

    it("a failing liveness probe restarts the agent, as a kubelet would", async () => {
      const pod = [
        "apiVersion: v1",
        "kind: Pod",
        "metadata:",
        "  name: liveness",
        "spec:",
        "  containers:",
        "    - name: kubelan",
        "      image: kubelan",
        "      securityContext: { capabilities: { drop: [ALL], add: [NET_ADMIN] } }",
        "      env: [{ name: KL_VXLAN_INTERFACE, value: probe0 }]",
        "      ports: [{ name: http, containerPort: 8181 }]",
        "      livenessProbe:",
        "        httpGet: { path: /no-such-endpoint, port: http }",
        "        periodSeconds: 1",
        "        failureThreshold: 2"
      ].join("\n")
      expect((await sim.kubectl(["apply", "-f", "-"], pod)).exitCode).toBe(0)
      await waitFor(
        "a restart",
        async () =>
          Number((await sim.kubectl(["get", "pod", "liveness", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"])).stdout) >= 1
      )
      expect((await sim.sim(["logs", "liveness"])).all).toContain("liveness probe failed; restarting container kubelan")
      // As on a cluster: the kubelet's events say why, in kubectl get events and describe.
      const events = await sim.kubectl(["get", "events", "--field-selector", "involvedObject.name=liveness"])
      expect(events.stdout).toMatch(/^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/m)
      expect(events.stdout).toMatch(/Normal\s+Scheduled\s+pod\/liveness\s+Successfully assigned default\/liveness to node-\d/)
      expect(events.stdout).toMatch(/Normal\s+Started\s+pod\/liveness\s+Started container kubelan/)
      expect(events.stdout).toMatch(/Warning\s+Unhealthy\s+pod\/liveness\s+Liveness probe failed: HTTP probe failed with statuscode: 404/)
      expect(events.stdout).toMatch(/Normal\s+Killing\s+pod\/liveness\s+Container kubelan failed liveness probe, will be restarted/)
      const described = await sim.kubectl(["describe", "pod", "liveness"])
      expect(described.stdout).toMatch(/Warning\s+Unhealthy\s+.*kubelet\s+Liveness probe failed: HTTP probe failed with statuscode: 404/)
      const newer = await sim.kubectl(["get", "events.v1.events.k8s.io", "--field-selector", "regarding.name=liveness", "-o", "json"])
      expect(JSON.parse(newer.stdout).items.some((event: { note?: string }) => event.note?.startsWith("Liveness probe failed"))).toBe(true)
      expect((await sim.kubectl(["delete", "pod", "liveness"])).exitCode).toBe(0)
    })

    it("names a client writes never become paths: a pod named with ../ is refused, and pods live under their UIDs", async () => {
      const outside = `/tmp/kubelan-sim-escape-${process.pid}`
      const refused = await sim.kubectl(
        ["create", "-f", "-"],
        `apiVersion: v1\nkind: Pod\nmetadata:\n  name: "../../../..${outside}"\nspec:\n  containers: [{name: kubelan, image: kubelan}]\n`
      )
      expect(refused.exitCode).toBe(1)
      expect(refused.all).toContain("metadata.name: Invalid value")
      expect(existsSync(outside)).toBe(false)
      const uid = (await sim.kubectl(["get", "pod", "kubelan-0", "-o", "jsonpath={.metadata.uid}"])).stdout
      expect(existsSync(`${sim.env.KUBELAN_SIM_STATE}/pods/${uid}/kubelan.log`)).toBe(true)
      expect(await listNamespaces()).toContain(await sim.netns("kubelan-0"))
      expect((await sim.sim(["exec", "kubelan-0", "--", "hostname"])).exitCode).toBe(0)
    })

    it("kubectl delete -f, then down, leave nothing behind", async () => {
      expect((await sim.kubectl(["delete", "-f", exampleManifest])).exitCode).toBe(0)
      await waitFor("the pods to go", async () => (await podNames()).length === 0)
      expect((await listNamespaces()).filter((name) => name.startsWith(`${sim.env.KUBELAN_SIM_PREFIX}p-`))).toEqual([])
      const down = await sim.sim(["down"])
      expect(down.exitCode).toBe(0)
      expect((await listNamespaces()).filter((name) => name.startsWith(sim.env.KUBELAN_SIM_PREFIX))).toEqual([])
      expect(existsSync(sim.env.KUBELAN_SIM_STATE)).toBe(false)
      const leftovers = await execa("pgrep", ["-f", sim.env.KUBELAN_SIM_STATE], { reject: false })
      expect(leftovers.stdout).toBe("")
    })
  })
}
