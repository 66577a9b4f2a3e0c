// Runs inside a node's namespace, as a kubelet's prober does: HTTP GET against pod addresses,
// one request per line on stdin ({"id", "url", "timeoutMillis"}), one answer per line on stdout
// ({"id", "status"}; status 0 = no answer). One process per node, however many pods probe.
import { request } from "node:http"
import { createInterface } from "node:readline"

createInterface({ input: process.stdin }).on("line", (line) => {
  const { id, url, timeoutMillis } = JSON.parse(line) as { id: number; url: string; timeoutMillis: number }
  let answered = false
  const answer = (status: number) => {
    if (answered) return
    answered = true
    process.stdout.write(`${JSON.stringify({ id, status })}\n`)
  }
  const req = request(url, { timeout: timeoutMillis, headers: { "user-agent": "kube-probe/1.32" } }, (response) => {
    response.resume()
    answer(response.statusCode ?? 0)
  })
  req.on("timeout", () => {
    req.destroy()
    answer(0)
  })
  req.on("error", () => answer(0))
  req.end()
})
process.stdin.on("end", () => process.exit(0))
