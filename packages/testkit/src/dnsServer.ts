// A tiny authoritative DNS server for tests: `node dnsServer.ts RECORDS.json [PORT]`.
// RECORDS.json maps a name to its addresses ({"lan.default.svc.cluster.local": ["10.99.0.11"]}),
// re-read on every query so a test changes answers by rewriting the file. Names it does not
// hold get NXDOMAIN; held names without records of the asked type get an empty answer. A
// "delays" entry ({"delays": {"NAME": millis}}) holds the answers for a name that long, and
// every query is printed (`query NAME TYPE`) as it arrives.
import { createSocket } from "node:dgram"
import { readFileSync } from "node:fs"
import { isIP } from "node:net"

const [recordsFile = "", port = "53"] = process.argv.slice(2)
const records = (): Record<string, Array<string>> & { delays?: Record<string, number> } => JSON.parse(readFileSync(recordsFile, "utf8"))

const readName = (message: Buffer, offset: number): [string, number] => {
  const labels: Array<string> = []
  let at = offset
  while ((message[at] as number) > 0) {
    const length = message[at] as number
    labels.push(message.subarray(at + 1, at + 1 + length).toString("ascii"))
    at += length + 1
  }
  return [labels.join(".").toLowerCase(), at + 1]
}

const addressBytes = (address: string) => {
  if (isIP(address) === 4) return Buffer.from(address.split(".").map(Number))
  const halves = address.split("::")
  const head = (halves[0] ?? "").split(":").filter((part) => part !== "")
  const tail = halves.length > 1 ? (halves[1] ?? "").split(":").filter((part) => part !== "") : []
  const groups = [...head, ...Array(8 - head.length - tail.length).fill("0"), ...tail]
  return Buffer.from(groups.flatMap((group) => [parseInt(group, 16) >> 8, parseInt(group, 16) & 255]))
}

const socket = createSocket(isIP(process.env.DNS_LISTEN ?? "127.0.0.1") === 6 ? "udp6" : "udp4")
socket.on("message", (query, peer) => {
  const [name, after] = readName(query, 12)
  const type = query.readUInt16BE(after)
  const question = query.subarray(12, after + 4)
  const table = records()
  const delay = table.delays?.[name] ?? 0
  process.stdout.write(`query ${name} ${type}\n`)
  const known = name !== "delays" && Object.hasOwn(table, name)
  const wanted = (table[name] ?? []).filter((address) => isIP(address) === (type === 28 ? 6 : type === 1 ? 4 : 0))
  const answers = wanted.map((address) => {
    const data = addressBytes(address)
    const answer = Buffer.alloc(12)
    answer.writeUInt16BE(0xc00c, 0)
    answer.writeUInt16BE(type, 2)
    answer.writeUInt16BE(1, 4)
    answer.writeUInt32BE(1, 6)
    answer.writeUInt16BE(data.length, 10)
    return Buffer.concat([answer, data])
  })
  const header = Buffer.alloc(12)
  query.copy(header, 0, 0, 2)
  header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2)
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(answers.length, 6)
  const reply = Buffer.concat([header, question, ...answers])
  setTimeout(() => socket.send(reply, peer.port, peer.address), delay)
})
socket.bind(Number(port), process.env.DNS_LISTEN ?? "127.0.0.1", () => process.stdout.write("listening\n"))
