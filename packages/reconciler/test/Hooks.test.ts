import { it } from "@effect/vitest"
import { Effect } from "effect"
import { execa } from "execa"
import { describe, expect } from "vitest"
import { Hooks } from "../src/index.ts"

const hook = (script: string, timeoutMillis = 5000): Hooks.HookRun => ({
  hook: "change",
  argv: ["sh", "-c", script],
  env: { IFACE: "kubelan", SERVICE: "lan/a", IPS: "10.0.0.2", DELETED: "false" },
  timeoutMillis
})
const marker = () => `kubelan-hook-${process.pid}-${Math.random().toString(16).slice(2)}`
const running = async (tag: string) => (await execa("pgrep", ["-f", tag], { reject: false })).stdout.trim() !== ""

describe("hooks", () => {
  it.live("a hook that exits 0 while a setsid child keeps its output open is ok at once", () =>
    Effect.gen(function* () {
      const tag = marker()
      const outcome = yield* Hooks.runHook(hook(`setsid sh -c 'sleep 30' ${tag} &\necho started`, 10_000))
      expect(outcome.result).toBe("ok")
      expect(outcome.exitCode).toBe(0)
      expect(outcome.output).toBe("started\n")
      expect(outcome.millis).toBeLessThan(5000)
      expect(yield* Effect.promise(() => running(tag))).toBe(true)
      yield* Effect.promise(() => execa("pkill", ["-f", tag], { reject: false }))
    })
  )

  it.live("a hook past its timeout is killed with its whole process group and reported as timeout", () =>
    Effect.gen(function* () {
      const tag = marker()
      const outcome = yield* Hooks.runHook(hook(`sh -c 'sleep 30' ${tag} & sh -c 'sleep 30' ${tag}`, 300))
      expect(outcome.result).toBe("timeout")
      yield* Effect.sleep("200 millis")
      expect(yield* Effect.promise(() => running(tag))).toBe(false)
    })
  )

  it.live("keeps only a bounded tail of a hook's output", () =>
    Effect.gen(function* () {
      const outcome = yield* Hooks.runHook(hook("head -c 30000000 /dev/zero | tr '\\0' x; echo; echo the end"))
      expect(outcome.result).toBe("ok")
      expect(outcome.output.length).toBeLessThanOrEqual(4000)
      expect(outcome.output.endsWith("the end\n")).toBe(true)
    })
  )

  it.live("gets PATH, HOSTNAME and its documented variables, nothing else the agent holds", () =>
    Effect.gen(function* () {
      process.env.KUBECONFIG = "/secret/kubeconfig"
      process.env.HOSTNAME = "lan-2"
      const outcome = yield* Hooks.runHook(hook("env | sort")).pipe(Effect.ensuring(Effect.sync(() => void delete process.env.KUBECONFIG)))
      const names = outcome.output
        .trim()
        .split("\n")
        .map((line) => line.split("=")[0])
      // sh itself adds PWD (and may add SHLVL and _).
      expect(names.filter((name) => !["PWD", "SHLVL", "_"].includes(name ?? ""))).toEqual([
        "DELETED",
        "HOSTNAME",
        "IFACE",
        "IPS",
        "PATH",
        "SERVICE"
      ])
      expect(outcome.output).toContain("HOSTNAME=lan-2\n")
      expect(outcome.output).toContain("PWD=/\n")
    })
  )

  it.live("a hook that cannot start is a failure with the reason", () =>
    Effect.gen(function* () {
      const outcome = yield* Hooks.runHook({ ...hook(""), argv: ["/nonexistent/hook"] })
      expect(outcome.result).toBe("failed")
      expect(outcome.output).toContain('could not start "/nonexistent/hook": spawn /nonexistent/hook ENOENT')
    })
  )
})
