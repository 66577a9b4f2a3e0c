import { type ChildProcess, spawn } from "node:child_process"
import { createSocket } from "node:dgram"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { Cause, Effect, Layer, Option, Queue, Stream } from "effect"
import {
  type Announcement,
  type AnnouncementPlan,
  announcePort,
  type Claim,
  datagramProblem,
  parseClaim,
  sendDatagrams
} from "./Announce.ts"
import { ensureVxlanWith, type LinkOps } from "./ensureVxlan.ts"
import { unsafeFdbDestination } from "./FdbSafety.ts"
import { floodDestinations } from "./FdbShow.ts"
import { makeFdbWriter } from "./FdbWriter.ts"
import { parseAddresses, parseDefaultRoute, parseLinks, zeroMac } from "./Iproute2Json.ts"
import { type MemberFilterSpec, parseFilterState, parseRecent, recentPath, renderFilter, renderRemoval } from "./MemberFilter.ts"
import { addressChanges, monitorChanges } from "./MonitorLines.ts"
import { type FdbDiff, type InterfaceLock, type KernelChange, listening, Netlink } from "./Netlink.ts"
import { ForeignLinkError, InterfaceLocked, NetlinkCommandError, UnderlayError, UnsafeFdbEntry } from "./NetlinkError.ts"
import { dyingWithParent, onPath, spawnTool } from "./Processes.ts"
import { type Underlay, underlayForAddress, underlayFromDefaultRoute } from "./Underlay.ts"
import type { VxlanSpec } from "./Vxlan.ts"

export interface Iproute2Options {
  /** A named network namespace (`ip netns`) to operate in; default: the process's own. */
  readonly netns?: string | undefined
}

const missingDevice = /does not exist|Cannot find device/

const make = (options: Iproute2Options, writer: ReturnType<typeof makeFdbWriter>) => {
  const namespaceArgs = options.netns === undefined ? [] : ["-n", options.netns]

  const run = (tool: "ip" | "bridge", args: ReadonlyArray<string>, input?: string) =>
    Effect.gen(function* () {
      const argv = [...namespaceArgs, ...args]
      const result = yield* spawnTool(tool, argv, input)
      if (result.failed)
        return yield* new NetlinkCommandError({ command: `${tool} ${argv.join(" ")}`, exitCode: result.exitCode, stderr: result.stderr })
      return result.stdout
    })

  const decode = <A>(command: string, parse: () => A) =>
    Effect.try({
      try: parse,
      catch: (error) => new NetlinkCommandError({ command, exitCode: 0, stderr: `unreadable output: ${String(error)}` })
    })

  const readLink: LinkOps["readLink"] = (name) =>
    // `address show` has the link's details and its addresses, in one process.
    run("ip", ["-json", "-details", "address", "show", "dev", name]).pipe(
      Effect.flatMap((text) => decode("ip link show", () => Option.fromUndefinedOr(parseLinks(text)[0]))),
      Effect.catchTag("NetlinkCommandError", (error) =>
        missingDevice.test(error.stderr) ? Effect.succeed(Option.none()) : Effect.fail(error)
      )
    )

  // `name` spelled out: a link called `help` or `type` is still a name to iproute2. One command
  // makes it with its MTU and up, and `-echo` answers with the new link, so nothing is read after.
  const makeLink = (spec: VxlanSpec) =>
    run("ip", [
      "-echo",
      "-json",
      "link",
      "add",
      "name",
      spec.name,
      ...(spec.mac === undefined ? [] : ["address", spec.mac]),
      "mtu",
      String(spec.mtu),
      "up",
      "type",
      "vxlan",
      "id",
      String(spec.vni),
      "local",
      spec.local,
      "dstport",
      String(spec.port),
      "learning"
    ]).pipe(
      Effect.flatMap((text) => decode("ip link add", () => parseLinks(text)[0]?.ifindex)),
      // An iproute2 without -echo answers nothing: read the new link instead.
      Effect.flatMap((ifindex) =>
        ifindex !== undefined
          ? Effect.succeed(ifindex)
          : readLink(spec.name).pipe(Effect.map((link) => Option.match(link, { onNone: () => -1, onSome: (found) => found.ifindex })))
      )
    )

  // Its FDB is filled next: the batch writer starts while the link is made.
  const createVxlan = (spec: VxlanSpec) => Effect.sync(writer.warm).pipe(Effect.andThen(makeLink(spec)))

  const deleteLink = (name: string) =>
    run("ip", ["link", "delete", "dev", name]).pipe(
      Effect.asVoid,
      Effect.catchTag("NetlinkCommandError", (error) => (missingDevice.test(error.stderr) ? Effect.void : Effect.fail(error)))
    )

  /** Deletes the VXLAN interface; a link of another kind under that name is left alone. */
  const deleteVxlan = (name: string) =>
    Effect.gen(function* () {
      const link = yield* readLink(name)
      if (Option.isNone(link)) return
      if (link.value.kind !== "vxlan") return yield* new ForeignLinkError({ name, kind: link.value.kind })
      yield* deleteLink(name)
    })

  const setMtuUp = (name: string, mtu: number, mac: string | undefined) =>
    run("ip", ["link", "set", "dev", name, ...(mac === undefined ? [] : ["address", mac]), "mtu", String(mtu), "up"]).pipe(Effect.asVoid)

  const readFdb = (name: string) => run("bridge", ["fdb", "show", "dev", name]).pipe(Effect.map(floodDestinations))

  /**
   * The whole diff in one batch, through the batch writer: ~100x faster than a process per entry.
   * `-force` applies every line even when one fails; deleting an entry that is already gone is the
   * outcome wanted, so only other failures are errors. A batch that fails is tried once more in a
   * fresh `bridge`: a long-lived one remembers interface names by index, and the interface may
   * have been made again since (`unknown ifindex`). Every line may run twice: appends and deletes
   * are idempotent, and a delete that finds nothing is not a failure.
   */
  const applyFdb = (name: string, diff: FdbDiff) => {
    if (diff.add.length === 0 && diff.remove.length === 0) return Effect.void
    const unsafe = [...diff.add, ...diff.remove].find(unsafeFdbDestination)
    if (unsafe !== undefined) return Effect.fail(new UnsafeFdbEntry({ dst: unsafe }))
    const lines = [
      ...diff.remove.map((dst) => `fdb del ${zeroMac} dev ${name} dst ${dst}`),
      ...diff.add.map((dst) => `fdb append ${zeroMac} dev ${name} dst ${dst}`)
    ]
    const attempt = writer.write(lines).pipe(
      Effect.flatMap((reported) => {
        const failures = reported.filter(
          (failure) => !(lines[failure.line - 1]?.startsWith("fdb del ") && /No such file or directory/.test(failure.message))
        )
        if (failures.length === 0) return Effect.void
        const stderr = failures.map((failure) => `line ${failure.line} (${lines[failure.line - 1]}): ${failure.message}`).join("\n")
        return Effect.fail(new NetlinkCommandError({ command: writer.command, exitCode: 1, stderr }))
      })
    )
    return attempt.pipe(
      Effect.catchTag("NetlinkCommandError", () => Effect.sync(() => writer.close("a batch failed")).pipe(Effect.andThen(attempt)))
    )
  }

  /**
   * The interfaces and, when `ip` is not given, the IPv4 default route, in one `ip -batch` (one
   * JSON array a line, in order); the IPv6 default route only when there is no IPv4 one.
   */
  const detectUnderlay = (ip: string) =>
    Effect.gen(function* () {
      const [addresses = "", routes = ""] = (yield* run(
        "ip",
        ["-json", "-batch", "-"],
        ip === "" ? "address show\nroute show default\n" : "address show\n"
      )).split("\n")
      const interfaces = yield* decode("ip address show", () => parseAddresses(addresses))
      if (ip !== "") {
        const underlay = underlayForAddress(ip, interfaces)
        if (underlay !== undefined) return underlay
        return yield* new UnderlayError({
          reason: `ip ${ip} is not assigned to any interface here: set ip (KL_IP) to this pod's own address`
        })
      }
      for (const family of [4, 6] as const) {
        const text = family === 4 ? routes : yield* run("ip", ["-6", "-json", "route", "show", "default"])
        const route = yield* decode("ip route show default", () => parseDefaultRoute(text))
        const underlay: Underlay | undefined = route && underlayFromDefaultRoute(route, family, interfaces)
        if (underlay !== undefined) return underlay
      }
      return yield* new UnderlayError({
        reason: "no default route to take the underlay address from: set ip (KL_IP) to this pod's address"
      })
    })

  /**
   * One `ip -force -batch`: `replace` makes an address that is there already no error; a delete
   * that finds the address gone already is the outcome wanted.
   */
  const changeAddresses = (name: string, change: { readonly add: ReadonlyArray<string>; readonly remove: ReadonlyArray<string> }) => {
    const lines = [
      ...change.remove.map((cidr) => `address del ${cidr} dev ${name}`),
      ...change.add.map((cidr) => `address replace ${cidr} dev ${name}`)
    ]
    if (lines.length === 0) return Effect.void
    return spawnTool("ip", [...namespaceArgs, "-force", "-batch", "-"], `${lines.join("\n")}\n`).pipe(
      Effect.flatMap((result) => {
        const failures = result.stderr
          .split("\n")
          .filter((line) => line.trim() !== "" && !/Cannot assign requested address|Address not found|Command failed -:\d+/.test(line))
        return result.failed && failures.length > 0
          ? Effect.fail(
              new NetlinkCommandError({
                command: `ip -force -batch - (${lines.join("; ")})`,
                exitCode: result.exitCode,
                stderr: failures.join("\n")
              })
            )
          : Effect.void
      })
    )
  }

  /** In a named namespace (tests), the datagrams are sent by a node inside it. */
  const datagrams = (plan: AnnouncementPlan) =>
    options.netns === undefined
      ? Effect.promise(() => sendDatagrams(plan.datagrams, plan.payload, announcePort))
      : spawnTool("ip", [
          "netns",
          "exec",
          options.netns,
          process.execPath,
          "-e",
          `(${sendDatagrams.toString()})(${JSON.stringify(plan.datagrams)}, ${JSON.stringify(plan.payload)}, ${announcePort}).then((sent) => process.stdout.write(JSON.stringify(sent)))`
        ]).pipe(
          Effect.map((result): ReadonlyArray<string> => {
            if (result.failed) return plan.datagrams.map(() => `could not run node in ${options.netns}: ${result.stderr.trim()}`)
            return JSON.parse(result.stdout) as ReadonlyArray<string>
          })
        )

  /** Set once arping is missing or may not open its socket (no CAP_NET_RAW): not tried again. */
  let arpUnavailable: string | undefined
  const gratuitousArp = (name: string, address: string) =>
    spawnTool(options.netns === undefined ? "arping" : "ip", [
      ...(options.netns === undefined ? [] : ["netns", "exec", options.netns, "arping"]),
      "-U",
      "-c",
      "1",
      "-I",
      name,
      address
    ]).pipe(
      Effect.map((result) => {
        if (!result.failed) return undefined
        const why = result.stderr.trim().split("\n").at(-1) ?? `exit ${result.exitCode}`
        // A capability arping's file holds and the container may not have makes exec itself fail (EPERM).
        if (/EPERM|not permitted|permission denied/i.test(why)) arpUnavailable = "arping needs CAP_NET_RAW, which this container lacks"
        else if (/could not start/.test(why)) arpUnavailable = `arping could not start: ${why}`
        return arpUnavailable === undefined ? `gratuitous ARP for ${address}: ${why}` : undefined
      })
    )

  const announce = (name: string, plan: AnnouncementPlan) =>
    Effect.gen(function* () {
      const problems: Array<string> = []
      const outcomes = yield* datagrams(plan)
      for (const [index, target] of plan.datagrams.entries()) {
        const problem = datagramProblem(target, outcomes[index] ?? "not tried")
        if (problem !== undefined) problems.push(problem)
      }
      const sent = outcomes.filter((outcome) => outcome === "sent").length
      let gratuitousArps = 0
      if (arpUnavailable === undefined && plan.arp.length > 0 && !onPath("arping")) arpUnavailable = "arping (iputils) is not installed"
      for (const address of plan.arp) {
        if (arpUnavailable !== undefined) break
        const problem = yield* gratuitousArp(name, address)
        if (problem !== undefined) problems.push(problem)
        else if (arpUnavailable === undefined) gratuitousArps += 1
      }
      if (arpUnavailable !== undefined && plan.arp.length > 0 && gratuitousArps === 0)
        problems.push(`no gratuitous ARP (the datagrams still go): ${arpUnavailable}`)
      return { datagrams: sent, gratuitousArps, problems } satisfies Announcement
    })

  /** iptables (IPv4) or ip6tables, in the namespace; `-w`: wait for the xtables lock. */
  const xtables = (family: 4 | 6, command: "save" | "restore", input?: string) => {
    const tool = `${family === 4 ? "iptables" : "ip6tables"}-${command}`
    const args = command === "save" ? ["-c", "-t", "filter"] : ["-w", "5", "--noflush"]
    const argv = options.netns === undefined ? args : ["netns", "exec", options.netns, tool, ...args]
    return spawnTool(options.netns === undefined ? tool : "ip", argv, input).pipe(
      Effect.flatMap((result) =>
        result.failed
          ? Effect.fail(new NetlinkCommandError({ command: `${tool} ${args.join(" ")}`, exitCode: result.exitCode, stderr: result.stderr }))
          : Effect.succeed(result.stdout)
      )
    )
  }

  /** Who the drop rule remembered; nothing yet (no list before the first drop) is an empty answer. */
  const readRecent = (name: string) =>
    (options.netns === undefined
      ? Effect.sync(() => {
          try {
            return readFileSync(recentPath(name), "utf8")
          } catch {
            return ""
          }
        })
      : spawnTool("ip", ["netns", "exec", options.netns, "cat", recentPath(name)]).pipe(
          Effect.map((result) => (result.failed ? "" : result.stdout))
        )
    ).pipe(Effect.map(parseRecent))

  const applyMemberFilter = (spec: MemberFilterSpec) =>
    Effect.gen(function* () {
      const current = parseFilterState(yield* xtables(spec.family, "save"), spec.name, spec.port)
      yield* xtables(spec.family, "restore", renderFilter(spec, current))
      const droppedFrom = yield* readRecent(spec.name)
      return { ...current, installed: true, ports: [spec.port], members: spec.members, exists: true, droppedFrom }
    })

  const removeMemberFilter = (name: string, family: 4 | 6) =>
    Effect.gen(function* () {
      const current = parseFilterState(yield* xtables(family, "save"), name, 0)
      if (current.exists || current.ports.length > 0) yield* xtables(family, "restore", renderRemoval(name, current))
    })

  /**
   * The announcements other agents send on the interface (to ff02::1, from their link-local
   * addresses). In this process's own namespace only: a layer for another namespace hears none.
   */
  const claims = (name: string): Stream.Stream<Claim> =>
    options.netns !== undefined
      ? Stream.never
      : Stream.callback<Claim>((queue) =>
          Effect.acquireRelease(
            Effect.sync(() => {
              const socket = createSocket({ type: "udp6", reuseAddr: true })
              socket.on("error", () => socket.close())
              socket.on("message", (message, from) => {
                // An announcement is a few hundred bytes: anything larger is not one, and not parsed.
                if (!from.address.endsWith(`%${name}`) || message.length > 4096) return
                const claim = parseClaim(message.toString("utf8"), from.address)
                if (claim !== undefined) Queue.offerUnsafe(queue, claim)
              })
              socket.bind(announcePort, "::")
              return socket
            }),
            (socket) =>
              Effect.sync(() => {
                try {
                  socket.close()
                } catch {}
              })
          )
        )

  /**
   * A monitor child: its lines, read by `parse`, go to the stream. It dies with the agent, and
   * its own end (exit, or failure to start) fails the stream.
   */
  const monitor = (
    tool: "ip" | "bridge",
    args: ReadonlyArray<string>,
    parse: (lines: ReadonlyArray<string>) => ReadonlyArray<KernelChange>,
    opens: boolean
  ) =>
    Stream.callback<KernelChange, NetlinkCommandError>((queue) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const command = `${tool} ${args.join(" ")}`
          const stopped = (how: string) =>
            Queue.failCauseUnsafe(
              queue,
              Cause.fail(new NetlinkCommandError({ command, exitCode: undefined, stderr: `the monitor stopped (${how})` }))
            )
          const [file = tool, ...argv] = dyingWithParent([tool, ...args])
          let child: ChildProcess | undefined
          try {
            child = spawn(file, argv, { cwd: "/", stdio: ["ignore", "pipe", "pipe"] })
          } catch (error) {
            stopped(`could not start: ${error instanceof Error ? error.message : String(error)}`)
            return undefined
          }
          // A burst can overflow the monitor's socket: the kernel drops events and says so once
          // (ENOBUFS, which the monitor prints and survives). Anything may have changed: look again
          // (an FDB change that names no entries means: read everything).
          child.stderr?.setEncoding("utf8").on("data", (text: string) => {
            if (!/No buffer space/.test(text)) return
            for (const kind of ["link", "fdb"] as const)
              Queue.offerUnsafe(queue, { kind, detail: `the monitor lost events: ${text.trim()}` })
          })
          child.stderr?.on("error", () => {})
          let pending = ""
          // A change is only a cue to look again: one of each kind per read chunk is enough,
          // however many lines it holds (programming 5000 peers makes 5000 lines).
          child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
            pending += chunk
            const lines = pending.split("\n")
            pending = lines.pop() ?? ""
            for (const change of parse(lines)) Queue.offerUnsafe(queue, change)
          })
          child.stdout?.on("error", () => {})
          // Started: its netlink socket is open a moment later, before any pass this cue starts reads.
          if (opens) child.once("spawn", () => Queue.offerUnsafe(queue, listening))
          child.once("error", (error) => stopped(`could not start: ${error.message}`))
          child.once("exit", (code, signal) => stopped(`exit ${code ?? signal}`))
          return child
        }),
        (child) => Effect.sync(() => child?.kill("SIGKILL"))
      )
    )

  /**
   * One `bridge monitor link fdb` for both kinds of change (one child process, not two: it counts
   * toward the pod's memory), filtered to lines about the interface; `ip monitor address` beside
   * it only when the agent keeps addresses.
   */
  const changes = (name: string, watch?: { readonly addresses: boolean }) => {
    const linkAndFdb = monitor("bridge", [...namespaceArgs, "monitor", "link", "fdb"], (lines) => monitorChanges(lines, name), true)
    return watch?.addresses === true
      ? Stream.merge(
          linkAndFdb,
          monitor("ip", [...namespaceArgs, "-oneline", "monitor", "address"], (lines) => addressChanges(lines, name), false)
        )
      : linkAndFdb
  }

  /**
   * An abstract Unix socket is this network namespace's own name space: binding it is an
   * exclusive lock every container of the pod sees (they share no filesystem), and the kernel
   * releases it when the process ends, however it ends.
   */
  const lockInterface = (name: string) =>
    Effect.callback<InterfaceLock, InterfaceLocked>((resume) => {
      const server = createServer()
      server.once("error", () => resume(Effect.fail(new InterfaceLocked({ name }))))
      server.listen({ path: `\0kubelan/${options.netns ?? ""}/${name}` }, () => {
        server.unref()
        resume(Effect.succeed({ name, release: Effect.callback<void>((done) => void server.close(() => done(Effect.void))) }))
      })
    })

  const ops: LinkOps = { readLink, createVxlan, deleteLink, setMtuUp }
  return Netlink.of({
    ensureVxlan: ensureVxlanWith(ops),
    deleteVxlan,
    readLink,
    readFdb,
    applyFdb,
    detectUnderlay,
    changeAddresses,
    announce,
    applyMemberFilter,
    removeMemberFilter,
    claims,
    changes,
    lockInterface
  })
}

/** The live layer: iproute2 commands, optionally inside a named network namespace. */
export const layer = (options: Iproute2Options = {}): Layer.Layer<Netlink> =>
  Layer.effect(
    Netlink,
    Effect.acquireRelease(
      Effect.sync(() => makeFdbWriter(options.netns === undefined ? [] : ["-n", options.netns])),
      (writer) => Effect.sync(writer.close)
    ).pipe(Effect.map((writer) => make(options, writer)))
  )
