/**
 * Telling the overlay that this interface is here: after it is made, adopted by a new agent, or
 * given addresses. Peers learn which VTEP holds a MAC from the frames they receive (learning is
 * on); until they get one from the new pod, a learned entry still sends its frames to the pod it
 * replaced. One broadcast frame reaches every peer (the flood entries carry it) and moves that
 * entry at once.
 *
 * Two kinds of frame, both made by the kernel:
 * - a UDP datagram to each IPv4 subnet's broadcast address and to ff02::1 on the interface: any
 *   process may send one (no capability), and it carries the interface's MAC as its source;
 * - a gratuitous ARP (`arping -U`, iputils) for each IPv4 address, where the pod has arping and
 *   CAP_NET_RAW: it also puts right a peer's neighbour entry when the MAC changed.
 */

export interface DatagramTarget {
  readonly family: 4 | 6
  /** The address to bind (IPv4: the interface's own, so the frame leaves through it). */
  readonly source: string | undefined
  readonly destination: string
}

export interface Announcement {
  /** Datagrams the kernel took. */
  readonly datagrams: number
  readonly gratuitousArps: number
  /** What could not be sent, and why (a missing arping, no CAP_NET_RAW). */
  readonly problems: ReadonlyArray<string>
}

/**
 * The port announcements go to. Every agent listens there on its interface (IPv6, from the
 * senders' link-local addresses) to hear which addresses the others claim: two members claiming
 * one address is a duplicate. Where nothing listens the kernel drops them (no ICMP error is ever
 * sent for a broadcast or multicast); the frame did its work.
 */
export const announcePort = 6969

/** What an announcement says: who sends it (a random id per agent, so an agent ignores its own) and its addresses. */
export interface Claim {
  readonly instance: string
  readonly interface: string
  readonly mac: string
  readonly addresses: ReadonlyArray<string>
  /** Where it came from (the sender's link-local address). */
  readonly from: string
}

export const claimPayload = (claim: Omit<Claim, "from">): string => `${JSON.stringify({ kubelan: "announce", ...claim })}\n`

/** An announcement's claim, or undefined for anything else that reaches the port. */
export const parseClaim = (text: string, from: string): Claim | undefined => {
  try {
    const value = JSON.parse(text) as Record<string, unknown>
    const { instance, mac, addresses } = value
    if (value.kubelan !== "announce" || typeof instance !== "string" || typeof mac !== "string" || !Array.isArray(addresses))
      return undefined
    if (!addresses.every((address) => typeof address === "string") || addresses.length > 64) return undefined
    return { instance, interface: String(value.interface ?? ""), mac, addresses, from }
  } catch {
    return undefined
  }
}

/** What to send: the reconciler plans it from the interface's addresses. */
export interface AnnouncementPlan {
  readonly datagrams: ReadonlyArray<DatagramTarget>
  /** IPv4 addresses a gratuitous ARP is sent for. */
  readonly arp: ReadonlyArray<string>
  /** Text carried by the datagrams (a peer sees it with tcpdump). */
  readonly payload: string
}

/**
 * Sends one datagram to each target; answers, for each, "sent" or the error's code. Self-contained
 * (it finds its module itself) so that it can also run as `node -e` inside another network namespace.
 */
export const sendDatagrams = async (
  targets: ReadonlyArray<DatagramTarget>,
  payload: string,
  port: number
): Promise<ReadonlyArray<string>> => {
  const dgram = process.getBuiltinModule("node:dgram") as typeof import("node:dgram")
  const sendOne = (target: DatagramTarget) =>
    new Promise<string>((resolve) => {
      const socket = dgram.createSocket(target.family === 4 ? "udp4" : "udp6")
      const done = (error: unknown) => {
        socket.close()
        resolve(error === null || error === undefined ? "sent" : String((error as { code?: string }).code ?? error))
      }
      socket.once("error", done)
      socket.bind({ address: target.source, port: 0 }, () => {
        try {
          if (target.family === 4) socket.setBroadcast(true)
        } catch (error) {
          return done(error)
        }
        socket.send(payload, port, target.destination, done)
      })
    })
  const outcomes: Array<string> = []
  for (const target of targets) outcomes.push(await sendOne(target))
  return outcomes
}

/**
 * Why a datagram was not sent, or undefined when that is no problem: an interface made a moment
 * ago has a tentative IPv6 link-local address (EADDRNOTAVAIL) until DAD ends; the repeats send it.
 */
export const datagramProblem = (target: DatagramTarget, outcome: string): string | undefined =>
  outcome === "sent" || (target.family === 6 && outcome === "EADDRNOTAVAIL") ? undefined : `datagram to ${target.destination}: ${outcome}`
