// A worker thread that records a Service's membership from kube-apiserver on an event loop of
// its own. In the runner's thread, thousands of pod events for the kubelets and the scheduler
// would delay the recorder's clock behind the agents' (separate processes watching the same
// server), and their removals would look early.
import { parentPort, Worker, workerData } from "node:worker_threads"
import { Store } from "@kubelan/kube-fake"
import type { Endpoint } from "@kubelan/kube-real"
import { startMirror } from "../real/Mirror.ts"
import type { MembershipEvent } from "./Analysis.ts"
import { type Clock, recordMembership } from "./Recorders.ts"

interface Asked {
  readonly endpoint: Endpoint
  readonly service: string
  /** The run's start, in ms since the epoch: the worker's clock is the runner's. */
  readonly startedAt: number
}

if (parentPort !== null && workerData?.service !== undefined) {
  const { endpoint, service, startedAt } = workerData as Asked
  const port = parentPort
  const store = new Store({ history: 100 })
  const name = service.split("/")[1] as string
  recordMembership(store, service, { now: () => Date.now() - startedAt, step: () => "" }, (event) => port.postMessage({ event }))
  const mirror = startMirror(
    endpoint,
    store,
    [{ resource: "endpointslices", labelSelector: `kubernetes.io/service-name=${name}` }],
    (message) => port.postMessage({ log: message })
  )
  void mirror.synced.then(() => port.postMessage({ synced: true }))
}

/** The membership recorder for the real control plane: the same record, kept off the runner's thread. */
export const recordMembershipInWorker = (endpoint: Endpoint, service: string, startedAt: number, clock: Clock) => {
  const events: Array<MembershipEvent> = []
  const worker = new Worker(new URL(import.meta.url), { workerData: { endpoint, service, startedAt } satisfies Asked })
  let synced: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    synced = resolve
  })
  worker.on("message", (message: { event?: MembershipEvent; log?: string; synced?: boolean }) => {
    // The step is the runner's to know; the time is the worker's.
    if (message.event !== undefined) events.push({ ...message.event, step: clock.step() })
    if (message.log !== undefined) process.stderr.write(`membership recorder: ${message.log}\n`)
    if (message.synced === true) synced()
  })
  worker.on("error", (error) => process.stderr.write(`membership recorder: ${error.message}\n`))
  return { events, ready, stop: () => void worker.terminate() }
}
