import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { execa } from "execa"
import { describe, expect, it } from "vitest"
import { kubectlAgainstKubeFake } from "./KubectlFixture.ts"

/** The real kubectl against kube-fake, with the manifests users apply. */
const fixture = kubectlAgainstKubeFake()
const { kubectl } = fixture

const deploy = (file: string) => join(import.meta.dirname, "../../../deploy", file)
const manifests = [deploy("k8s-example.yaml"), deploy("rbac-cluster.yaml"), join(import.meta.dirname, "manifests/other-kinds.yaml")]

const everyKind: ReadonlyArray<[string, string, string | undefined]> = [
  ["serviceaccount", "kubelan", "default"],
  ["role", "kubelan", "default"],
  ["rolebinding", "kubelan", "default"],
  ["configmap", "kubelan", "default"],
  ["service", "kubelan", "default"],
  ["statefulset", "kubelan", "default"],
  ["clusterrole", "kubelan", undefined],
  ["clusterrolebinding", "kubelan", undefined],
  ["namespace", "lan-test", undefined],
  ["pod", "solo", "lan-test"],
  ["endpointslice", "lan-manual", "lan-test"],
  ["deployment", "web", "lan-test"],
  ["networkpolicy", "vxlan-from-members", "lan-test"]
]
const where = (namespace: string | undefined) => (namespace === undefined ? [] : ["-n", namespace])

describe("kubectl against kube-fake", () => {
  it("apply -f creates every kind, and applying again reports them unchanged", async () => {
    for (const file of manifests) {
      const created = await kubectl(["apply", "-f", file])
      expect(created.exitCode, created.stderr).toBe(0)
      expect(created.stdout).toMatch(/ created$/m)
    }
    for (const file of manifests) {
      const again = await kubectl(["apply", "-f", file])
      expect(again.exitCode, again.stderr).toBe(0)
      expect(again.stdout).not.toMatch(/ (created|configured)$/m)
    }
  })

  it("get and get -o yaml show every kind", async () => {
    for (const [kind, name, namespace] of everyKind) {
      const table = await kubectl(["get", kind, name, ...where(namespace)])
      expect(table.exitCode, `${kind}: ${table.stderr}`).toBe(0)
      expect(table.stdout).toMatch(new RegExp(`^NAME\\s.*\\n${name}\\s`, "m"))
      const yaml = await kubectl(["get", kind, name, ...where(namespace), "-o", "yaml"])
      expect(yaml.exitCode, yaml.stderr).toBe(0)
      expect(yaml.stdout).toContain(`  name: ${name}\n`)
      expect(yaml.stdout).toMatch(/resourceVersion: "\d+"/)
      expect(yaml.stdout).toMatch(/uid: [0-9a-f-]{36}/)
    }
  })

  it("the server fills in defaults and prints columns as the real one does", async () => {
    const sts = JSON.parse((await kubectl(["get", "sts", "kubelan", "-o", "json"])).stdout)
    expect(sts.spec.updateStrategy).toEqual({ type: "RollingUpdate", rollingUpdate: { partition: 0 } })
    expect(sts.spec.podManagementPolicy).toBe("OrderedReady")
    expect(sts.spec.revisionHistoryLimit).toBe(10)
    const pod = sts.spec.template.spec
    expect(pod).toMatchObject({ restartPolicy: "Always", dnsPolicy: "ClusterFirst", schedulerName: "default-scheduler" })
    expect(pod.initContainers[0]).toMatchObject({ terminationMessagePath: "/dev/termination-log", imagePullPolicy: "Always" })
    expect(pod.initContainers[0].startupProbe).toMatchObject({ timeoutSeconds: 1, successThreshold: 1 })
    const service = JSON.parse((await kubectl(["get", "svc", "kubelan", "-o", "json"])).stdout)
    expect(service.spec).toMatchObject({ type: "ClusterIP", sessionAffinity: "None" })
    expect(service.spec.ports[0].targetPort).toBe(service.spec.ports[0].port)
    const services = await kubectl(["get", "svc", "kubelan"])
    expect(services.stdout).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/m)
    expect(services.stdout).toMatch(/^kubelan\s+ClusterIP\s+None\s+<none>\s+4789\/UDP\s+\d+s$/m)
    expect((await kubectl(["get", "cm", "kubelan"])).stdout).toMatch(/^kubelan\s+1\s+\d+s$/m)
    expect((await kubectl(["get", "sts", "kubelan"])).stdout).toMatch(/^NAME\s+READY\s+AGE\nkubelan\s+0\/3\s+\d+s$/m)
    const slices = await kubectl(["get", "endpointslice", "lan-manual", "-n", "lan-test"])
    expect(slices.stdout).toMatch(/^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE$/m)
  })

  it("apply of a changed manifest patches the object (strategic merge) and bumps generation", async () => {
    const changed = readFileSync(deploy("k8s-example.yaml"), "utf8")
      .replace("replicas: 3", "replicas: 5")
      .replace("log_level: info", "log_level: debug")
    const file = join(fixture.dir, "changed.yaml")
    writeFileSync(file, changed)
    const applied = await kubectl(["apply", "-f", file])
    expect(applied.exitCode, applied.stderr).toBe(0)
    expect(applied.stdout).toContain("statefulset.apps/kubelan configured")
    expect(applied.stdout).toContain("configmap/kubelan configured")
    const sts = JSON.parse((await kubectl(["get", "sts", "kubelan", "-o", "json"])).stdout)
    expect(sts.spec.replicas).toBe(5)
    expect(sts.metadata.generation).toBe(2)
    expect(sts.spec.template.spec.initContainers.map((container: { name: string }) => container.name)).toEqual(["kubelan"])
    expect(sts.spec.template.spec.containers.map((container: { name: string }) => container.name)).toEqual(["alpine"])
  })

  it("get pods shows init progress and native sidecars as kubectl's printer does", async () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "sidecar" },
      spec: {
        initContainers: [
          { name: "setup", image: "i" },
          { name: "kubelan", image: "k", restartPolicy: "Always" }
        ],
        containers: [{ name: "app", image: "a" }]
      }
    }
    expect((await kubectl(["create", "-f", "-"], JSON.stringify(pod))).exitCode).toBe(0)
    const running = { running: { startedAt: "2026-12-02T00:00:00Z" } }
    const completed = { terminated: { exitCode: 0, reason: "Completed" } }
    const status = (init: Array<object>, app: Array<object>, initialized: boolean, phase = "Pending") =>
      kubectl([
        "patch",
        "pod",
        "sidecar",
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify({
          status: {
            phase,
            conditions: [{ type: "Initialized", status: initialized ? "True" : "False" }],
            initContainerStatuses: init,
            containerStatuses: app
          }
        })
      ])
    const row = async () => (await kubectl(["get", "pod", "sidecar", "--no-headers"])).stdout.trim().split(/\s+/).slice(1, 4)
    const waitingApp = [{ name: "app", ready: false, restartCount: 0, state: { waiting: { reason: "PodInitializing" } } }]
    await status(
      [
        { name: "setup", ready: false, restartCount: 0, state: running },
        { name: "kubelan", ready: false, started: false, restartCount: 0, state: { waiting: { reason: "PodInitializing" } } }
      ],
      waitingApp,
      false
    )
    expect(await row()).toEqual(["0/2", "Init:0/2", "0"])
    await status(
      [
        { name: "setup", ready: true, restartCount: 0, state: completed },
        { name: "kubelan", ready: false, started: false, restartCount: 3, state: { waiting: { reason: "CrashLoopBackOff" } } }
      ],
      waitingApp,
      false
    )
    expect(await row()).toEqual(["0/2", "Init:CrashLoopBackOff", "3"])
    await status(
      [
        { name: "setup", ready: true, restartCount: 0, state: completed },
        { name: "kubelan", ready: true, started: true, restartCount: 3, state: running }
      ],
      waitingApp,
      true
    )
    expect(await row()).toEqual(["1/2", "PodInitializing", "3"])
    await status(
      [
        { name: "setup", ready: true, restartCount: 0, state: completed },
        { name: "kubelan", ready: true, started: true, restartCount: 3, state: running }
      ],
      [{ name: "app", ready: true, restartCount: 1, state: running }],
      true,
      "Running"
    )
    expect(await row()).toEqual(["2/2", "Running", "4"])
    expect((await kubectl(["delete", "pod", "sidecar", "--wait=false"])).exitCode).toBe(0)
  })

  it("imperative create commands, which kubectl sends as protobuf, create what they say", async () => {
    const commands: ReadonlyArray<ReadonlyArray<string>> = [
      ["create", "namespace", "imperative"],
      ["create", "configmap", "settings", "-n", "imperative", "--from-literal=mode=l2", "--from-literal=mtu=1450"],
      ["create", "secret", "generic", "key", "-n", "imperative", "--from-literal=psk=s3cret"],
      ["create", "serviceaccount", "agent", "-n", "imperative"],
      ["create", "deployment", "idle", "-n", "imperative", "--image=busybox", "--replicas=0", "--port=8080"],
      ["create", "service", "clusterip", "lan", "-n", "imperative", "--tcp=4789:4789"],
      ["create", "role", "reader", "-n", "imperative", "--verb=get,list,watch", "--resource=endpointslices.discovery.k8s.io"],
      ["create", "rolebinding", "reader", "-n", "imperative", "--role=reader", "--serviceaccount=imperative:agent"]
    ]
    for (const command of commands) {
      const created = await kubectl(command)
      expect(created.exitCode, `${command.join(" ")}: ${created.stderr}`).toBe(0)
      expect(created.stdout).toMatch(/ created$/m)
    }
    const get = async (...args: ReadonlyArray<string>) =>
      JSON.parse((await kubectl(["get", ...args, "-n", "imperative", "-o", "json"])).stdout)
    expect((await get("configmap", "settings")).data).toEqual({ mode: "l2", mtu: "1450" })
    const secret = await get("secret", "key")
    expect(Buffer.from(secret.data.psk, "base64").toString()).toBe("s3cret")
    expect(secret.type).toBe("Opaque")
    const deployment = await get("deployment", "idle")
    // A pointer field set to zero is kept: replicas 0 is not "unset".
    expect(deployment.spec.replicas).toBe(0)
    expect(deployment.spec.template.spec.containers[0].ports[0].containerPort).toBe(8080)
    const service = await get("service", "lan")
    expect(service.spec.ports[0]).toMatchObject({ name: "4789-4789", port: 4789, targetPort: 4789, protocol: "TCP" })
    expect((await get("role", "reader")).rules[0]).toEqual({
      apiGroups: ["discovery.k8s.io"],
      resources: ["endpointslices"],
      verbs: ["get", "list", "watch"]
    })
    expect((await get("rolebinding", "reader")).subjects).toEqual([{ kind: "ServiceAccount", name: "agent", namespace: "imperative" }])
    const namespace = JSON.parse((await kubectl(["get", "namespace", "imperative", "-o", "json"])).stdout)
    expect(namespace.status.phase).toBe("Active")
    expect(namespace.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect((await kubectl(["delete", "namespace", "imperative"])).exitCode).toBe(0)
  })

  it("kubectl explain reads the real OpenAPI v3 documents; unknown fields are refused or dropped as fieldValidation says", async () => {
    const explained = await kubectl(["explain", "statefulset.spec.updateStrategy"])
    expect(explained.exitCode, explained.stderr).toBe(0)
    expect(explained.stdout).toContain("FIELD: updateStrategy <StatefulSetUpdateStrategy>")
    expect(explained.stdout).toMatch(/^ {2}rollingUpdate\t<RollingUpdateStatefulSetStrategy>$/m)
    const typo = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndatta:\n  a: b\n"
    const strict = await kubectl(["apply", "-f", "-"], typo)
    expect(strict.exitCode).toBe(1)
    expect(strict.stderr).toContain(
      'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "datta"'
    )
    const warned = await kubectl(["apply", "--validate=warn", "-f", "-"], typo)
    expect(warned.exitCode, warned.stderr).toBe(0)
    expect(warned.stderr).toContain('Warning: unknown field "datta"')
    expect(JSON.parse((await kubectl(["get", "cm", "typo", "-o", "json"])).stdout).datta).toBeUndefined()
    expect((await kubectl(["delete", "cm", "typo"])).exitCode).toBe(0)
  })

  it("get -w sees later changes", async () => {
    const watch = execa(
      "kubectl",
      [
        "--kubeconfig",
        join(fixture.dir, "kubeconfig"),
        "--cache-dir",
        join(fixture.dir, "cache"),
        "get",
        "configmaps",
        "-w",
        "--output-watch-events"
      ],
      {
        reject: false,
        buffer: false
      }
    )
    let seen = ""
    watch.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      seen += chunk
    })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await kubectl(["apply", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: later\ndata:\n  a: b\n")
    await kubectl(["label", "configmap", "later", "stage=two"])
    await kubectl(["delete", "configmap", "later"])
    for (let i = 0; i < 50 && !/DELETED\s+later/.test(seen); i++) await new Promise((resolve) => setTimeout(resolve, 100))
    watch.kill()
    expect(seen).toMatch(/ADDED\s+kubelan/)
    expect(seen).toMatch(/ADDED\s+later/)
    expect(seen).toMatch(/MODIFIED\s+later/)
    expect(seen).toMatch(/DELETED\s+later/)
  })

  it("delete removes every kind, and get then says NotFound", async () => {
    for (const file of [...manifests].reverse()) {
      const deleted = await kubectl(["delete", "-f", file])
      expect(deleted.exitCode, deleted.stderr).toBe(0)
      expect(deleted.stdout).toMatch(/ deleted$/m)
    }
    await new Promise((resolve) => setTimeout(resolve, 800))
    for (const [kind, name, namespace] of everyKind) {
      const gone = await kubectl(["get", kind, name, ...where(namespace)])
      expect(gone.exitCode).toBe(1)
      expect(gone.stderr).toMatch(/Error from server \(NotFound\): .* not found/)
    }
  })
})
