import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { eventually, fdbDestinations, linkInfo, makePodNetwork, type PodNetwork, testPrefix } from "@kubelan/testkit"
import { execa } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { agentImage, bundleDigest, bundleLabel, containersConf } from "../src/kubelet/Image.ts"

/** The sidecar image as scripts/image builds it, run with plain podman as a container runtime would. */
const podman = (args: ReadonlyArray<string>) =>
  execa("podman", args, { reject: false, all: true, env: { ...process.env, CONTAINERS_CONF: containersConf } })
const name = `${testPrefix}image-${process.pid}`

let net: PodNetwork
beforeAll(async () => {
  net = await makePodNetwork({ purpose: "image", pods: 2 })
})
afterAll(async () => {
  await podman(["rm", "--force", "--time", "0", name])
  await net?.destroy()
})

describe("the kubelan image", () => {
  it("holds the bundle built here, and runs it as its entrypoint", async () => {
    const label = await podman(["image", "inspect", "--format", `{{index .Labels "${bundleLabel}"}}`, agentImage])
    expect(label.exitCode, label.all).toBe(0)
    expect(label.stdout.trim()).toBe(bundleDigest())
    const version = await podman(["run", "--rm", "--pull=never", "--network", "none", agentImage, "--version"])
    expect(version.stdout).toMatch(/^kubelan \d+\.\d+\.\d+$/)
  })

  it("in a pod's namespace with NET_ADMIN alone it converges, writes nothing to its filesystem, and leaves cleanly on SIGTERM", async () => {
    const [pod, peer] = net.pods
    if (pod === undefined || peer === undefined) throw new Error("two pods")
    const config = mkdtempSync(join(tmpdir(), "kubelan-image-"))
    writeFileSync(
      join(config, "kubelan.yaml"),
      `services: [default/lan]\ndiscovery:\n  backend: static\n  static:\n    default/lan: ["${pod.ip}", "${peer.ip}"]\n`
    )
    const started = await podman([
      "run",
      "--detach",
      "--pull=never",
      "--name",
      name,
      "--network",
      `ns:/run/netns/${pod.netns}`,
      "--cap-drop",
      "ALL",
      "--cap-add",
      "NET_ADMIN",
      "--env",
      `KL_IP=${pod.ip}`,
      "--volume",
      `${config}:/run/config:ro`,
      agentImage
    ])
    expect(started.exitCode, started.all).toBe(0)
    await eventually(async () => ((await fdbDestinations(pod.netns, "kubelan")).includes(peer.ip) ? true : undefined), {
      what: "the peer in the FDB"
    })
    // Past the agent's code-cache flush (5 s after start), which finds the image's cache complete.
    await new Promise((resolve) => setTimeout(resolve, 6000))
    // A writable root, and still nothing written: no cache, no state, no logs on disk. What the
    // runtime made is left out: the volume's mount point and /etc, where it mounts hosts and resolv.conf.
    const diff = await podman(["diff", name])
    expect(diff.exitCode, diff.all).toBe(0)
    const runtimeMade = new Set(["C /etc", "C /run", "A /run/config"])
    expect(diff.stdout.split("\n").filter((line) => line !== "" && !runtimeMade.has(line))).toEqual([])
    expect((await podman(["kill", "--signal", "TERM", name])).exitCode).toBe(0)
    const waited = await podman(["wait", name])
    expect(waited.stdout.trim()).toBe("0")
    expect((await podman(["logs", name])).stdout).toContain("deleted interface kubelan")
    expect(await linkInfo(pod.netns, "kubelan")).toBeUndefined()
  })
})
