#!/usr/bin/env node
// kube-fake serve --listen HOST:PORT [--socket PATH] [--kubeconfig OUT] [--history N]
import { writeKubeconfig } from "./Kubeconfig.ts"
import { startKubeFake } from "./Server.ts"

const usage = `kube-fake — an in-memory Kubernetes API server for kubectl and client-node

Usage:
  kube-fake serve [--listen HOST:PORT] [--socket PATH] [--kubeconfig OUT] [--history N] [--bookmark-seconds S]

  --listen HOST:PORT   TCP address (default 127.0.0.1:6443; port 0 picks a free one)
  --socket PATH        also serve on a Unix socket
  --kubeconfig OUT     write a kubeconfig for this server (kubectl --kubeconfig OUT ...)
  --history N          changes kept for watch resumption; older resourceVersions get 410 (default 1000)
  --bookmark-seconds S period of BOOKMARK events on watches that allow them (default 10)

Admin: POST /_fake/faults {"dropWatches":true} {"failNext":{"count":3,"code":500}} {"latencyMillis":200}
       {"compact":true} {"hangMillis":5000} {"refuseMillis":5000} {"reset":true};
       GET /_fake/clients (per-client traffic).`

const fail = (message: string): never => {
  process.stderr.write(`kube-fake: ${message}\n${usage}\n`)
  process.exit(2)
}

const args = process.argv.slice(2).filter((arg) => arg !== "--")
if (args[0] === "--help" || args[0] === "-h") {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}
if (args[0] !== "serve") fail(args[0] === undefined ? "missing command" : `unknown command ${args[0]}`)
const options: Record<string, string> = {}
for (let i = 1; i < args.length; i += 2) {
  const flag = args[i] as string
  const value = args[i + 1]
  if (!["--listen", "--socket", "--kubeconfig", "--history", "--bookmark-seconds"].includes(flag)) fail(`unknown flag ${flag}`)
  if (value === undefined) fail(`${flag} needs a value`)
  options[flag.slice(2)] = value as string
}
const history = options.history === undefined ? undefined : Number(options.history)
if (history !== undefined && (!Number.isInteger(history) || history < 1))
  fail(`--history: ${options.history} is not a positive whole number`)

const server = await startKubeFake({
  listen: options.listen ?? "127.0.0.1:6443",
  ...(options.socket === undefined ? {} : { socket: options.socket }),
  ...(history === undefined ? {} : { history }),
  ...(options["bookmark-seconds"] === undefined ? {} : { bookmarkMillis: Number(options["bookmark-seconds"]) * 1000 })
})
if (options.kubeconfig !== undefined) writeKubeconfig(options.kubeconfig, server.url)
process.stdout.write(`kube-fake serving ${server.url}${server.socket ? ` and unix:${server.socket}` : ""}\n`)
if (options.kubeconfig !== undefined)
  process.stdout.write(`kubeconfig: ${options.kubeconfig} (kubectl --kubeconfig ${options.kubeconfig} get ns)\n`)
const stop = () => void server.close().then(() => process.exit(0))
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
