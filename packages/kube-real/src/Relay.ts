import { rmSync } from "node:fs"
import { connect, createServer, type Server } from "node:net"

/**
 * A Unix socket whose connections are relayed to a loopback TCP port of this namespace. The API
 * server listens on the host's loopback, which a pod's network namespace cannot reach; a socket
 * path can be reached from any namespace, so a forwarder inside the pod's namespace (listening
 * where KUBERNETES_SERVICE_HOST points) connects to it.
 */
export const relayToLoopback = (socketPath: string, port: number): Promise<Server> =>
  new Promise((resolve, reject) => {
    rmSync(socketPath, { force: true })
    const server = createServer((client) => {
      const upstream = connect(port, "127.0.0.1")
      client.pipe(upstream).pipe(client)
      const close = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on("error", close)
      upstream.on("error", close)
    })
    server.once("error", reject)
    server.listen(socketPath, () => resolve(server))
  })
