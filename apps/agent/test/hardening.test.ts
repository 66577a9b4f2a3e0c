import {
  closeSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  type AgentProcess,
  eventually,
  fdbDestinations,
  floodEntryEvents,
  linkInfo,
  makePodNetwork,
  type PodNetwork,
  run,
  runInNetnsArgs,
  sleep,
  startAgent,
  watchFdbEvents
} from "@kubelan/testkit"
import { execa } from "execa"
import { afterEach, describe, expect, it } from "vitest"
import { lanConfig } from "./lan.ts"

/** What an SRE tries before production: hostile settings, two agents, signals, descriptor floods. */
let net: PodNetwork | undefined
const agents: Array<AgentProcess> = []
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.kill("SIGKILL")))
  await net?.destroy()
  net = undefined
})

const pod = async (purpose: string) => {
  net = await makePodNetwork({ purpose, pods: 1 })
  return net.pods[0]!
}
const begin = (options: Parameters<typeof startAgent>[0]) => {
  const agent = startAgent(options)
  agents.push(agent)
  return agent
}
/** The agent run to completion, as `kubectl logs` of a container that exited would show it. */
const runToExit = async (netns: string, yaml: string) => {
  const dir = mkdtempSync(join(tmpdir(), "kubelan-run-"))
  writeFileSync(join(dir, "kubelan.yaml"), yaml)
  return execa("ip", runInNetnsArgs(netns, ["--config", join(dir, "kubelan.yaml")]), { reject: false, timeout: 20_000 })
}
const links = async (netns: string) =>
  (JSON.parse((await run("ip", ["-n", netns, "-json", "link", "show"])).stdout) as Array<{ ifname: string }>)
    .map((link) => link.ifname)
    .sort()
/** The processes running inside a namespace, by command line. */
const processesIn = async (netns: string) => {
  const pids = (await run("ip", ["netns", "pids", netns], { allowFailure: true })).stdout.split(/\s+/).filter((pid) => pid !== "")
  return pids.flatMap((pid) => {
    try {
      return [{ pid: Number(pid), command: readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim() }]
    } catch {
      return []
    }
  })
}

describe("interface names that belong to the pod", () => {
  for (const name of ["eth0", "lo"])
    it(`vxlan.interface: ${name} exits 2 naming the key, and ${name} is untouched`, async () => {
      const p = await pod(`own${name}`)
      const before = await linkInfo(p.netns, name)
      const result = await runToExit(p.netns, lanConfig({ members: ["10.99.0.50"], extra: `vxlan:\n  interface: ${name}\n` }))
      expect(result.exitCode).toBe(2)
      expect(result.stderr).toMatch(
        new RegExp(
          `kubelan: vxlan\\.interface \\(file .*\\): "${name}" is an existing (veth|non-VXLAN) link, not a VXLAN interface; kubelan never deletes a link it did not make`
        )
      )
      expect(result.stderr).not.toContain("    at ")
      expect(await linkInfo(p.netns, name)).toEqual(before)
    })

  it("a reload to eth0 is refused, and the running interface and FDB stay", async () => {
    const p = await pod("reloadeth0")
    const agent = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50"] }) })
    await agent.waitReady()
    const before = await linkInfo(p.netns, "kubelan")
    agent.writeConfig(lanConfig({ members: ["10.99.0.50", "10.99.0.51"], extra: "vxlan:\n  interface: eth0\n" }))
    await eventually(async () => (agent.output().includes("config reload rejected") ? true : undefined), {
      what: "the reload to be rejected"
    })
    expect(agent.output()).toContain('\\"eth0\\" is an existing veth link')
    expect(await linkInfo(p.netns, "kubelan")).toEqual(before)
    expect(await fdbDestinations(p.netns, "kubelan")).toEqual(["10.99.0.50"])
  })
})

describe("one agent per interface", () => {
  it("a second agent in the namespace exits 2 and does not touch the first one's interface", async () => {
    const p = await pod("twoagents")
    const first = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50"] }) })
    await first.waitReady()
    const before = await linkInfo(p.netns, "kubelan")
    const second = await runToExit(p.netns, `${lanConfig({ members: ["10.99.0.60"] })}\nhttp_address: ":8282"\n`)
    expect(second.exitCode).toBe(2)
    expect(second.stderr).toContain(
      'another kubelan agent in this network namespace already manages "kubelan": only one agent may own an interface'
    )
    expect(await linkInfo(p.netns, "kubelan")).toEqual(before)
    expect(await fdbDestinations(p.netns, "kubelan")).toEqual(["10.99.0.50"])
    // The lock goes with its holder, however it ends: the next agent adopts.
    await first.kill("SIGKILL")
    const third = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50"] }) })
    await third.waitReady()
    expect(JSON.parse((await third.http("/peers")).body).interface.action).toBe("adopted")
  })
})

describe("settings only the pod can judge", () => {
  it("an ip or http_address that is not the pod's own exits 2 with one line each, before anything is made", async () => {
    const p = await pod("nonlocal")
    const before = await links(p.netns)
    const result = await runToExit(
      p.netns,
      `${lanConfig({ members: ["10.99.0.50"] })}\nip: 10.99.0.200\nhttp_address: "10.99.0.201:8181"\n`
    )
    expect(result.exitCode).toBe(2)
    const lines = result.stderr.split("\n").filter((line) => line.startsWith("kubelan: ") && line.includes("(file "))
    expect(lines.map((line) => line.split(" ")[1])).toEqual(["ip", "http_address"])
    expect(await links(p.netns)).toEqual(before)
  })

  it("a port another process holds exits 2 naming http_address", async () => {
    const p = await pod("portinuse")
    const holder = execa(
      "ip",
      ["netns", "exec", p.netns, process.execPath, "-e", "require('net').createServer().listen(8181); setTimeout(() => {}, 60000)"],
      {
        reject: false
      }
    )
    await sleep(500)
    const result = await runToExit(p.netns, lanConfig({ members: ["10.99.0.50"] }))
    holder.kill("SIGKILL")
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toMatch(/kubelan: http_address \(default\): :8181: the port is in use by another process/)
  })
})

describe("reloads", () => {
  it("a config rewritten in place, slowly, never drops a peer on the way", async () => {
    const p = await pod("halfwrite")
    const members = Array.from({ length: 60 }, (_, i) => `10.99.2.${i + 10}`)
    const agent = begin({ netns: p.netns, config: lanConfig({ members }) })
    await agent.waitReady()
    await eventually(async () => ((await fdbDestinations(p.netns, "kubelan")).length === 60 ? true : undefined), { what: "60 peers" })
    const monitor = await watchFdbEvents(p.netns)
    // Block style, as many write it: every prefix that ends a line is itself a valid, shorter config.
    const text = [
      "services: [default/lan]",
      "discovery:",
      "  backend: static",
      "  static:",
      "    default/lan:",
      ...[...members, "10.99.2.200"].map((member) => `      - ${member}`),
      ""
    ].join("\n")
    const fd = openSync(agent.configPath, "w")
    for (const line of text.match(/(?:.*\n){1,10}/g) ?? []) {
      writeSync(fd, line)
      fsyncSync(fd)
      await sleep(200)
    }
    closeSync(fd)
    await eventually(async () => ((await fdbDestinations(p.netns, "kubelan")).length === 61 ? true : undefined), { what: "the whole file" })
    expect(floodEntryEvents(await monitor.stop()).filter((line) => line.startsWith("Deleted"))).toEqual([])
  })

  it("a config directory removed and made again is still followed", async () => {
    const p = await pod("redir")
    const agent = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50"] }) })
    await agent.waitReady()
    rmSync(agent.dir, { recursive: true })
    mkdirSync(agent.dir)
    // The write comes after any reaction to the removal has passed.
    await sleep(1500)
    writeFileSync(agent.configPath, lanConfig({ members: ["10.99.0.50", "10.99.0.51"] }))
    await eventually(async () => ((await fdbDestinations(p.netns, "kubelan")).length === 2 ? true : undefined), {
      what: "the new directory's config",
      timeoutMillis: 10_000
    })
  })

  it("a reload that switches the backend keeps the running one with its members, and an http_address change waits for a restart", async () => {
    const p = await pod("backend")
    const agent = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50", "10.99.0.51"] }) })
    await agent.waitReady()
    agent.writeConfig('services: [default/lan]\nhttp_address: ":9191"\ndiscovery:\n  backend: dns\nhooks:\n  timeout: 7s\n')
    await eventually(async () => (agent.output().includes("restart the agent to switch") ? true : undefined), { what: "the warning" })
    expect(agent.output()).toContain(
      "discovery.backend changed from static to dns: restart the agent to switch; until then it keeps following static with its running discovery settings"
    )
    expect(agent.output()).toContain(
      'http_address changed from \\":8181\\" to \\":9191\\": it applies after a restart; still serving on :8181'
    )
    await eventually(async () => (JSON.parse((await agent.http("/config")).body).hooks.timeout === "7s" ? true : undefined), {
      what: "the rest of the reload to apply"
    })
    const effective = JSON.parse((await agent.http("/config")).body)
    expect(effective.discovery.backend).toBe("static")
    expect(effective.http_address).toBe(":8181")
    await sleep(1500)
    expect(await fdbDestinations(p.netns, "kubelan")).toEqual(["10.99.0.50", "10.99.0.51"])
  })
})

describe("process hygiene", () => {
  it("SIGHUP reads the config again and does not stop the agent", async () => {
    const p = await pod("sighup")
    const agent = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50"] }) })
    await agent.waitReady()
    process.kill(agent.pid!, "SIGHUP")
    await eventually(async () => (agent.output().includes("SIGHUP: reading the config again") ? true : undefined), { what: "the reload" })
    expect((await agent.http("/healthz")).status).toBe(200)
  })

  it("kill -9 leaves no monitor process behind (there is one, for links and FDB both)", async () => {
    const p = await pod("orphans")
    const agent = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50"] }) })
    await agent.waitReady()
    const monitors = async () => (await processesIn(p.netns)).filter((proc) => /monitor/.test(proc.command))
    expect((await monitors()).map((proc) => proc.command)).toEqual([expect.stringMatching(/^bridge .*monitor link fdb$/)])
    await agent.kill("SIGKILL")
    await eventually(async () => ((await monitors()).length === 0 ? true : undefined), { what: "the monitors to die with the agent" })
  })

  it("a monitor that dies is logged and started again, and what changed while it was gone is repaired (no resync)", async () => {
    const p = await pod("monitordies")
    const agent = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50"], resync: "1h" }) })
    await agent.waitReady()
    const bridgeMonitor = (await processesIn(p.netns)).find((proc) => /bridge .*monitor link fdb/.test(proc.command))
    expect(bridgeMonitor).toBeDefined()
    process.kill(bridgeMonitor!.pid, "SIGKILL")
    // Unseen: no monitor listens while the entry goes.
    await run("bridge", ["-n", p.netns, "fdb", "del", "00:00:00:00:00:00", "dev", "kubelan", "dst", "10.99.0.50"])
    await eventually(async () => (agent.output().includes("kernel monitor for kubelan failed, restarting it in 1s") ? true : undefined), {
      what: "the monitor's death in the log"
    })
    await eventually(
      async () => ((await processesIn(p.netns)).some((proc) => /bridge .*monitor link fdb/.test(proc.command)) ? true : undefined),
      {
        what: "a new monitor"
      }
    )
    await eventually(async () => ((await fdbDestinations(p.netns, "kubelan")).includes("10.99.0.50") ? true : undefined), {
      what: "the entry deleted while no monitor listened to come back"
    })
  })

  it("a removed working directory does not break iproute2", async () => {
    const p = await pod("nocwd")
    const cwd = mkdtempSync(join(tmpdir(), "kubelan-cwd-"))
    const agent = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50"] }), cwd })
    await agent.waitReady()
    rmSync(cwd, { recursive: true })
    agent.writeConfig(lanConfig({ members: ["10.99.0.50", "10.99.0.51"] }))
    await eventually(async () => ((await fdbDestinations(p.netns, "kubelan")).length === 2 ? true : undefined), { what: "the reload" })
  })

  it("hooks that print megabytes do not grow the agent", async () => {
    const p = await pod("hookoutput")
    const flood = "['sh', '-c', 'head -c 10000000 /dev/zero | tr \"\\\\0\" x']"
    const agent = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50"] }) })
    await agent.waitReady()
    const rss = () => Number(readFileSync(`/proc/${agent.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) * 1024
    await sleep(500)
    const before = rss()
    for (const extra of ["10.99.0.51", "10.99.0.52", "10.99.0.53"]) {
      agent.writeConfig(lanConfig({ members: ["10.99.0.50", extra], change: flood }))
      await eventually(async () => ((await fdbDestinations(p.netns, "kubelan")).includes(extra) ? true : undefined), { what: extra })
    }
    await eventually(async () => ((agent.output().match(/change hook ran/g) ?? []).length >= 5 ? true : undefined), {
      what: "the hooks",
      timeoutMillis: 20_000
    })
    // Whole outputs (10 MB each) used to be buffered in the agent (+19 MB measured); a bounded tail costs about 1 MB.
    expect(rss() - before).toBeLessThan(10 * 1024 * 1024)
  })

  it("thousands of idle connections are cut off: descriptors stay for bridge, and the agent lives", async () => {
    const p = await pod("connflood")
    const agent = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50"] }) })
    await agent.waitReady()
    await run("prlimit", ["--pid", String(agent.pid), "--nofile=512:512"])
    const flood = execa(
      "ip",
      [
        "netns",
        "exec",
        p.netns,
        process.execPath,
        "-e",
        `const net = require("net"); let open = 0; for (let i = 0; i < 3000; i++) { const s = net.connect(8181, "127.0.0.1"); s.on("connect", () => open++); s.on("error", () => {}); } setInterval(() => {}, 1000)`
      ],
      { reject: false }
    )
    await sleep(2000)
    agent.writeConfig(lanConfig({ members: ["10.99.0.50", "10.99.0.51"] }))
    await eventually(async () => ((await fdbDestinations(p.netns, "kubelan")).length === 2 ? true : undefined), {
      what: "a reload that runs bridge, while the connections are held",
      timeoutMillis: 15_000
    })
    // The cap keeps the agent's descriptors well under the limit, whatever the flood holds.
    expect(readdirSync(`/proc/${agent.pid}/fd`).length).toBeLessThan(300)
    flood.kill("SIGKILL")
    expect((await agent.http("/healthz")).status).toBe(200)
  })

  it("out of descriptors, a failed spawn is a failed pass to retry, not a crash", async () => {
    const p = await pod("emfile")
    const agent = begin({ netns: p.netns, config: lanConfig({ members: ["10.99.0.50", "10.99.0.51"] }) })
    await agent.waitReady()
    // Not one more descriptor: the next `bridge` cannot even get its pipes.
    const open = readdirSync(`/proc/${agent.pid}/fd`).length
    await run("prlimit", ["--pid", String(agent.pid), `--nofile=${open}:`])
    await run("bridge", ["-n", p.netns, "fdb", "del", "00:00:00:00:00:00", "dev", "kubelan", "dst", "10.99.0.51"])
    await eventually(async () => (agent.output().includes("reconcile failed, retrying in") ? true : undefined), { what: "the failed pass" })
    expect(agent.output()).toMatch(/EMFILE|too many open files/i)
    await run("prlimit", ["--pid", String(agent.pid), "--nofile=4096:"])
    await eventually(async () => ((await fdbDestinations(p.netns, "kubelan")).length === 2 ? true : undefined), {
      what: "the retry to repair the entry",
      timeoutMillis: 40_000
    })
    expect((await agent.http("/healthz")).status).toBe(200)
  })
})
