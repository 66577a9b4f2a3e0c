// README command one: the seed's example on one machine. Brings up kubelan-sim, applies
// deploy/k8s-example.yaml with kubectl, waits for the three pods, and arpings across the LAN
// exactly as the seed README does. Leaves the cluster up to explore.
//   node scripts/demo.ts [--listen HOST:PORT] [--control-plane fake|real]

import { fileURLToPath } from "node:url"
import { execa } from "execa"

const root = fileURLToPath(new URL("..", import.meta.url))
const sim = (args: ReadonlyArray<string>) =>
  execa(process.execPath, [`${root}apps/fake-cluster/src/cli.ts`, ...args], { reject: false, all: true })
const say = (text: string) => process.stdout.write(`${text}\n`)
const passed = (flag: string) => (process.argv.includes(flag) ? [flag, process.argv[process.argv.indexOf(flag) + 1] as string] : [])

const upped = await sim(["up", ...passed("--listen"), ...passed("--control-plane")])
say(upped.all)
if (upped.exitCode !== 0) process.exit(1)
const kubeconfig = (await sim(["kubeconfig"])).stdout.trim()
const kubectl = (args: ReadonlyArray<string>) => execa("kubectl", ["--kubeconfig", kubeconfig, ...args], { reject: false, all: true })

say("$ kubectl apply -f deploy/k8s-example.yaml")
const applied = await kubectl(["apply", "-f", `${root}deploy/k8s-example.yaml`])
say(applied.all)
if (applied.exitCode !== 0) process.exit(1)

process.stdout.write("waiting for the 3 pods to be ready ")
const started = Date.now()
for (;;) {
  const ready = (await kubectl(["get", "statefulset", "kubelan", "-o", "jsonpath={.status.readyReplicas}"])).stdout
  if (ready === "3") break
  if (Date.now() - started > 120_000) {
    say("\nthe pods did not become ready in 2 minutes; see `kubelan-sim status` and `kubelan-sim logs kubelan-0`")
    process.exit(1)
  }
  process.stdout.write(".")
  await new Promise((resolve) => setTimeout(resolve, 500))
}
say(` ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
say((await kubectl(["get", "pods", "-o", "wide"])).all)
say("")
say("$ kubectl exec kubelan-0 -c alpine -- arping -c 4 -I kubelan 192.168.69.3")
const arping = await kubectl(["exec", "kubelan-0", "-c", "alpine", "--", "arping", "-c", "4", "-I", "kubelan", "192.168.69.3"])
say(arping.all)
say(`
Explore (the cluster stays up):
  export KUBECONFIG=${kubeconfig}
  kubectl get pods,endpointslices
  kubectl exec kubelan-1 -c alpine -- ip addr show kubelan
  kubectl logs kubelan-0 -c kubelan -f
  kubectl exec -it kubelan-0 -c alpine -- sh
  scripts/kubelan-sim status
  kubectl scale statefulset kubelan --replicas=5

Tear down:
  kubectl delete -f deploy/k8s-example.yaml
  scripts/kubelan-sim down`)
process.exit(arping.exitCode === 0 ? 0 : 1)
