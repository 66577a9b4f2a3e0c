import { spawn } from "node:child_process"
import { readFileSync, readlinkSync } from "node:fs"
import type { ExecOptions, ExecProcess } from "@kubelan/kube-fake"
import { execa } from "execa"

/** One argument as the shell reads it back unchanged. */
const shellQuote = (argument: string) => `'${argument.replaceAll("'", `'\\''`)}'`

/** The environment a container's first process has: what `kubectl exec` gives a command, as a runtime does. */
export const processEnvironment = (pid: number | undefined): Record<string, string> | undefined => {
  if (pid === undefined) return undefined
  try {
    const entries = readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .filter((entry) => entry.includes("="))
      .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)] as const)
    return Object.fromEntries(entries)
  } catch {
    return undefined
  }
}

/** The terminal of a `script` session: the pty its one child has as stdin. */
const terminalOf = (scriptPid: number): string | undefined => {
  try {
    const child = readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, "utf8").trim().split(/\s+/)[0]
    return child === undefined || child === "" ? undefined : readlinkSync(`/proc/${child}/fd/0`)
  } catch {
    return undefined
  }
}

/**
 * Runs `argv` (already entering the container) as `kubectl exec` asked: pipes, or with `tty` a
 * pseudo-terminal made by util-linux `script` at the terminal's size, resized as the client's is.
 * Its exit code is the command's.
 */
export const startExec = (argv: ReadonlyArray<string>, env: Record<string, string>, options: ExecOptions): ExecProcess => {
  const size = options.size ?? { width: 80, height: 24 }
  const [file, ...args] = options.tty
    ? [
        "script",
        "--quiet",
        "--flush",
        "--return",
        "--command",
        `stty rows ${size.height} cols ${size.width} 2>/dev/null; exec ${argv.map(shellQuote).join(" ")}`,
        "/dev/null"
      ]
    : argv
  const child = spawn(file as string, args, {
    env: { ...env, ...(options.tty ? { SHELL: "/bin/sh", TERM: env.TERM ?? "xterm" } : {}) },
    stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
    detached: true
  })
  const exited = new Promise<number>((resolve, reject) => {
    child.once("error", reject)
    child.once("close", (code, signal) => resolve(code ?? 128 + (signal === "SIGKILL" ? 9 : 15)))
  })
  child.stdin?.on("error", () => {})
  return {
    onOutput: (handler) => {
      child.stdout?.on("data", (data: Buffer) => handler("stdout", data))
      // script merges the terminal's output into its stdout; its own stderr is not the command's.
      child.stderr?.on("data", (data: Buffer) => handler(options.tty ? "stdout" : "stderr", data))
    },
    write: (data) => {
      child.stdin?.write(data)
    },
    endInput: () => {
      child.stdin?.end()
    },
    resize: (width, height) => {
      const terminal = child.pid === undefined ? undefined : terminalOf(child.pid)
      if (options.tty && terminal !== undefined)
        void execa("stty", ["-F", terminal, "rows", String(height), "cols", String(width)], { reject: false })
    },
    kill: () => {
      if (child.pid === undefined || child.exitCode !== null) return
      try {
        process.kill(-child.pid, "SIGKILL")
      } catch {
        child.kill("SIGKILL")
      }
    },
    exited
  }
}
