// The demo until the fake cluster exists: two "pods" (network namespaces on one bridge), each
// running the real kubelan bundle with static membership and the seed's `up` hook, then
// `arping -I kubelan` from one to the other. Everything it makes, it removes.
import { type AgentProcess, arping, linkAddresses, makePodNetwork, type PodNetwork, startAgent } from "@kubelan/testkit"

const say = (text: string) => process.stdout.write(`${text}\n`)
let net: PodNetwork | undefined
const agents: Array<AgentProcess> = []
const cleanUp = async () => {
  await Promise.all(agents.map((agent) => agent.kill("SIGTERM")))
  await net?.destroy()
}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.on(signal, () => {
    void cleanUp().then(() => process.exit(130))
  })

try {
  net = await makePodNetwork({ purpose: "demo", pods: 2 })
  const members = net.pods.map((pod) => pod.ip)
  say(`pods: ${net.pods.map((pod) => `${pod.netns} (${pod.ip})`).join(", ")}`)
  for (const pod of net.pods) {
    const config = [
      "log_level: info",
      "services: [default/kubelan]",
      "hooks:",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax for the hook, not a template
      "  up: ['sh', '-c', 'ip addr add 192.168.69.$(( ${HOSTNAME##*-} + 1 ))/24 dev $IFACE']",
      "discovery:",
      "  backend: static",
      "  static:",
      `    default/kubelan: [${members.join(", ")}]`
    ].join("\n")
    agents.push(startAgent({ netns: pod.netns, config, env: { HOSTNAME: `kubelan-${pod.index}` } }))
  }
  await Promise.all(agents.map((agent) => agent.waitReady()))
  for (const pod of net.pods)
    say(
      `kubelan-${pod.index}: kubelan ${(await linkAddresses(pod.netns, "kubelan")).join(" ")}, peers ${members.filter((ip) => ip !== pod.ip).join(" ")}`
    )
  say("")
  say("$ arping -c 4 -I kubelan 192.168.69.2   # from kubelan-0")
  const result = await arping(net.pods[0]!.netns, "kubelan", "192.168.69.2", 4)
  say(result.stdout)
  say("")
  say((await agents[0]!.http("/peers")).body)
  if (result.exitCode !== 0) throw new Error("arping got no reply")
  say("\nThe agents stop on SIGTERM and delete their interfaces; the namespaces are removed now.")
} finally {
  await cleanUp()
}
