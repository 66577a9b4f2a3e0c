import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { type WebSocket, WebSocketServer } from "ws"
import { ApiError } from "./ApiError.ts"
import type { ExecOptions, ExecProcess } from "./PodStreams.ts"

/**
 * `kubectl exec` over WebSocket, as the API server speaks it since kubectl 1.30: one binary
 * frame per message, its first byte the channel (0 stdin, 1 stdout, 2 stderr, 3 the exit
 * Status, 4 terminal size); v5 adds 255 to close a channel (stdin's end of input).
 */
const protocols = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
const channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const

const upgrader = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  handleProtocols: (offered) => protocols.find((protocol) => offered.has(protocol)) ?? false
})

/** Whether the client offered a protocol this server speaks (older ones and SPDY are refused). */
export const speaksChannelProtocol = (request: IncomingMessage) =>
  request.headers.upgrade?.toLowerCase() === "websocket" &&
  (request.headers["sec-websocket-protocol"] ?? "").split(",").some((offered) => protocols.includes(offered.trim()))

/** The exit Status kubectl reads from the error channel: its message and exit code are what the user sees. */
const exitStatus = (code: number) =>
  code === 0
    ? { metadata: {}, status: "Success" }
    : {
        metadata: {},
        status: "Failure",
        message: `command terminated with non-zero exit code: exit status ${code}`,
        reason: "NonZeroExitCode",
        details: { causes: [{ reason: "ExitCode", message: String(code) }] }
      }

const failure = (message: string) => ({ metadata: {}, status: "Failure", message, reason: "InternalError", code: 500 })

/** Upgrades the request and runs the session: input in, output out, the exit Status last, then the close. */
export const runExecSession = (
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: Omit<ExecOptions, "size">,
  start: (options: ExecOptions) => Promise<ExecProcess>
) =>
  upgrader.handleUpgrade(request, socket, head, (ws: WebSocket) => {
    const input: Array<Buffer> = []
    let inputClosed = false
    let running: ExecProcess | undefined
    let size: { width: number; height: number } | undefined
    let sized: (() => void) | undefined
    ws.on("message", (data: Buffer) => {
      const frame = Buffer.isBuffer(data) ? data : Buffer.from(data)
      if (frame.length === 0) return
      const payload = frame.subarray(1)
      switch (frame[0]) {
        case channel.stdin:
          if (running === undefined) input.push(payload)
          else running.write(payload)
          return
        case channel.resize: {
          const asked = JSON.parse(payload.toString("utf8")) as { Width?: number; Height?: number }
          size = { width: asked.Width ?? 80, height: asked.Height ?? 24 }
          if (running === undefined) sized?.()
          else running.resize(size.width, size.height)
          return
        }
        case channel.close:
          if (payload[0] !== channel.stdin) return
          inputClosed = true
          running?.endInput()
          return
      }
    })
    const send = (stream: number, data: Buffer | string) => {
      if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([stream]), Buffer.from(data)]))
    }
    ws.on("close", () => running?.kill())
    void (async () => {
      // kubectl sends the terminal's size first: a shell that starts with it draws its prompt right.
      if (options.tty && size === undefined)
        await new Promise<void>((resolve) => {
          sized = resolve
          setTimeout(resolve, 200)
        })
      try {
        running = await start({ ...options, size })
        running.onOutput((stream, data) => send(stream === "stdout" ? channel.stdout : channel.stderr, data))
        for (const chunk of input.splice(0)) running.write(chunk)
        if (inputClosed || !options.stdin) running.endInput()
        send(channel.error, JSON.stringify(exitStatus(await running.exited)))
      } catch (error) {
        send(channel.error, JSON.stringify(failure(error instanceof ApiError ? error.message : String(error))))
      }
      ws.close(1000)
    })()
  })

/** An HTTP error on a connection that asked to upgrade: the Status, then the end of the connection. */
export const refuseUpgrade = (socket: Duplex, error: ApiError) => {
  const body = `${JSON.stringify(error.toStatus())}\n`
  const reason = error.code === 403 ? "Forbidden" : error.code === 404 ? "Not Found" : error.code === 401 ? "Unauthorized" : "Bad Request"
  socket.end(
    `HTTP/1.1 ${error.code} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  )
}
