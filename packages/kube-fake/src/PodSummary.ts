/**
 * A pod's READY, STATUS and RESTARTS as `kubectl get pods` prints them, computed as the real
 * server's table printer does (pkg/printers/internalversion, printPod): init containers first
 * ("Init:0/2", "Init:CrashLoopBackOff"), native sidecars (init containers with
 * `restartPolicy: Always`) counted among the containers once started, then the app containers'
 * waiting or terminated reasons ("CrashLoopBackOff", "PodInitializing"), and "Terminating".
 */

interface ContainerStateView {
  running?: Record<string, unknown>
  waiting?: { reason?: string }
  terminated?: { reason?: string; exitCode?: number; signal?: number }
}
interface ContainerStatusView {
  name?: string
  ready?: boolean
  started?: boolean
  restartCount?: number
  state?: ContainerStateView
}
interface PodView {
  metadata?: { deletionTimestamp?: string }
  spec?: { initContainers?: Array<{ name?: string; restartPolicy?: string }>; containers?: Array<unknown> }
  status?: {
    phase?: string
    reason?: string
    conditions?: Array<{ type?: string; status?: string }>
    initContainerStatuses?: Array<ContainerStatusView>
    containerStatuses?: Array<ContainerStatusView>
  }
}

export interface PodSummary {
  /** "ready/total", the total counting app containers and native sidecars. */
  readonly ready: string
  readonly status: string
  readonly restarts: number
}

const terminatedReason = (terminated: NonNullable<ContainerStateView["terminated"]>) =>
  terminated.reason || (terminated.signal ? `Signal:${terminated.signal}` : `ExitCode:${terminated.exitCode ?? 0}`)

export const podSummary = (object: Record<string, unknown>): PodSummary => {
  const pod = object as PodView
  const initSpecs = pod.spec?.initContainers ?? []
  const sidecars = new Set(initSpecs.filter((spec) => spec.restartPolicy === "Always").map((spec) => spec.name))
  const total = (pod.spec?.containers ?? []).length + sidecars.size
  let ready = 0
  let restarts = 0
  let reason = pod.status?.reason || pod.status?.phase || "Pending"
  const initialized = (pod.status?.conditions ?? []).some((condition) => condition.type === "Initialized" && condition.status === "True")

  let initializing = false
  const initStatuses = pod.status?.initContainerStatuses ?? []
  for (const [index, status] of initStatuses.entries()) {
    restarts += status.restartCount ?? 0
    const sidecar = sidecars.has(status.name)
    if (sidecar && status.started === true && status.ready === true) ready += 1
    const terminated = status.state?.terminated
    const waiting = status.state?.waiting
    if (terminated !== undefined && (terminated.exitCode ?? 0) === 0) continue
    if (sidecar && status.started === true) continue
    if (terminated !== undefined) reason = `Init:${terminatedReason(terminated)}`
    else if (waiting?.reason && waiting.reason !== "PodInitializing") reason = `Init:${waiting.reason}`
    else reason = `Init:${index}/${initSpecs.length}`
    initializing = true
    break
  }

  if (!initializing || initialized) {
    let running = false
    const statuses = pod.status?.containerStatuses ?? []
    for (let index = statuses.length - 1; index >= 0; index--) {
      const status = statuses[index] as ContainerStatusView
      restarts += status.restartCount ?? 0
      if (status.state?.waiting?.reason) reason = status.state.waiting.reason
      else if (status.state?.terminated !== undefined) reason = terminatedReason(status.state.terminated)
      else if (status.ready === true && status.state?.running !== undefined) {
        running = true
        ready += 1
      }
    }
    if (reason === "Completed" && running) reason = "Running"
  }
  if (pod.metadata?.deletionTimestamp) reason = "Terminating"
  return { ready: `${ready}/${total}`, status: reason, restarts }
}
