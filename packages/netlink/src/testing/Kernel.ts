import { execa } from "execa"
import { run } from "./run.ts"

/** What a user would check by hand with iproute2, inside a namespace. */
export const fdbDestinations = async (netns: string, dev: string): Promise<Array<string>> => {
  const result = await run("bridge", ["-n", netns, "-json", "fdb", "show", "dev", dev])
  const entries = JSON.parse(result.stdout || "[]") as Array<{ mac: string; dst?: string }>
  return entries
    .filter((entry) => entry.mac === "00:00:00:00:00:00" && entry.dst !== undefined)
    .map((entry) => entry.dst as string)
    .sort()
}

export const linkInfo = async (netns: string, dev: string) => {
  const result = await run("ip", ["-n", netns, "-json", "-details", "link", "show", "dev", dev], { allowFailure: true })
  if (result.exitCode !== 0) return undefined
  const [link] = JSON.parse(result.stdout) as Array<{ ifindex: number; mtu: number; linkinfo?: { info_data?: { id?: number } } }>
  return link && { ifindex: link.ifindex, mtu: link.mtu, vni: link.linkinfo?.info_data?.id }
}

export const linkAddresses = async (netns: string, dev: string): Promise<Array<string>> => {
  const result = await run("ip", ["-n", netns, "-json", "address", "show", "dev", dev])
  const [link] = JSON.parse(result.stdout) as Array<{ addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>
  return (link?.addr_info ?? []).filter((info) => info.scope === "global").map((info) => `${info.local}/${info.prefixlen}`)
}

export const arping = (netns: string, dev: string, target: string, count = 2) =>
  run("ip", ["netns", "exec", netns, "arping", "-c", String(count), "-w", "5", "-I", dev, target], { allowFailure: true })

export const ping = (netns: string, target: string, count = 2) =>
  run("ip", ["netns", "exec", netns, "ping", "-c", String(count), "-W", "2", "-i", "0.2", target], { allowFailure: true })

/** The events about zero-MAC (flood) entries: the ones kubelan owns; learned MACs are the kernel's. */
export const floodEntryEvents = (lines: ReadonlyArray<string>) => lines.filter((line) => /^(Deleted )?00:00:00:00:00:00 /.test(line))

/** `bridge monitor fdb` for the duration of a change: every FDB event the kernel reports. */
export const watchFdbEvents = async (netns: string) => {
  const child = execa("bridge", ["-n", netns, "monitor", "fdb"], { reject: false, buffer: false })
  let text = ""
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk
  })
  await new Promise((resolve) => setTimeout(resolve, 300))
  return {
    stop: async () => {
      await new Promise((resolve) => setTimeout(resolve, 300))
      child.kill("SIGKILL")
      await child
      return text.split("\n").filter((line) => line.trim() !== "")
    }
  }
}
