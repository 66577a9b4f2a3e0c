// Runs inside the node namespace: accepts TCP on the bridge address and relays each connection
// to the API server's Unix socket, which path-based sockets make reachable across namespaces.
//   node forwarder.ts SOCKET HOST PORT
import { connect, createServer } from "node:net"

const [socketPath = "", host = "", port = "0"] = process.argv.slice(2)
createServer((client) => {
  const upstream = connect(socketPath)
  client.pipe(upstream).pipe(client)
  const close = () => {
    client.destroy()
    upstream.destroy()
  }
  client.on("error", close)
  upstream.on("error", close)
}).listen(Number(port), host, () => process.stdout.write("forwarding\n"))
