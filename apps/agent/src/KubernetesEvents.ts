import type { LoadedConfig } from "@kubelan/config"
import { Events, utcTimestamp } from "@kubelan/reconciler"
import { Effect, Layer, Queue } from "effect"

/**
 * Events as events.k8s.io/v1 objects about this pod, recorded as client-go's recorder does: the
 * first of a kind is created, the same again grows its series (`series.count`, a merge patch),
 * and new kinds are rate-limited (Events.correlate). One fiber sends them, so recording never
 * waits for the API server; one that cannot be sent is logged once per reason, never retried.
 */

/** `2026-12-03T07:27:55.362000Z`: the API's MicroTime. */
const microTime = (millis: number) => utcTimestamp(millis).replace("Z", "000Z")

export const layer = (loaded: LoadedConfig): Layer.Layer<Events.EventRecorder> =>
  Layer.effect(
    Events.EventRecorder,
    Effect.gen(function* () {
      const { namespace, podName, podUid } = loaded.config
      if (namespace === "") {
        yield* Effect.logInfo("Events are not recorded: namespace is unset (set it from metadata.namespace, KL_NAMESPACE)")
        return Events.EventRecorder.of({ record: () => Effect.void })
      }
      const kubernetes = yield* Effect.promise(() => import("@kubelan/discovery/kubernetes"))
      // The discovery backend has already loaded these credentials, or stopped the agent.
      const kubeConfig = kubernetes.loadKubeConfig()
      const collection = `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`
      const regarding = { apiVersion: "v1", kind: "Pod", namespace, name: podName, ...(podUid === "" ? {} : { uid: podUid }) }
      const queue = yield* Queue.unbounded<{ readonly event: Events.AgentEvent; readonly at: number }>()
      let sequence = 0
      const newName = () => `${podName}.${(BigInt(Date.now()) * 1_000_000n + BigInt(sequence++ % 1_000_000)).toString(16)}`
      const reported = new Set<string>()

      const send = (event: Events.AgentEvent, at: number, decision: Events.Decision) => {
        if (decision.kind === "drop") return Effect.void
        const request =
          decision.kind === "create"
            ? kubernetes.createJson(
                kubeConfig,
                collection,
                {
                  apiVersion: "events.k8s.io/v1",
                  kind: "Event",
                  metadata: { name: decision.name, namespace },
                  eventTime: microTime(at),
                  reportingController: "kubelan.io/agent",
                  reportingInstance: podName,
                  action: event.action,
                  reason: event.reason,
                  type: event.type,
                  note: event.note.slice(0, 1024),
                  regarding
                },
                `create Event ${event.reason}`
              )
            : kubernetes.mergePatchJson(
                kubeConfig,
                `${collection}/${encodeURIComponent(decision.name)}`,
                { series: { count: decision.count, lastObservedTime: microTime(at) } },
                `update Event ${event.reason}`
              )
        return request.pipe(
          Effect.asVoid,
          Effect.catch((error) => {
            const why = `${error.status ?? "transport"} ${event.reason}`
            if (reported.has(why)) return Effect.void
            reported.add(why)
            const hint = error.status === 403 ? " (the Role needs create and patch on events.k8s.io events)" : ""
            return Effect.logWarning(`could not record the Event ${event.reason}: ${error.message}${hint}`)
          })
        )
      }

      yield* Effect.gen(function* () {
        let state = Events.initialCorrelation(Date.now())
        for (;;) {
          const batch = yield* Queue.takeAll(queue)
          // Updates of one series in a batch: only the last count is sent.
          const updates = new Map<string, { event: Events.AgentEvent; at: number; decision: Events.Decision }>()
          for (const { event, at } of batch) {
            const correlated = Events.correlate(state, event, at, newName)
            state = correlated.state
            const { decision } = correlated
            if (decision.kind === "update") updates.set(decision.key, { event, at, decision })
            else yield* send(event, at, decision)
          }
          for (const { event, at, decision } of updates.values()) yield* send(event, at, decision)
        }
      }).pipe(Effect.forkScoped)

      return Events.EventRecorder.of({ record: (event) => Queue.offer(queue, { event, at: Date.now() }).pipe(Effect.asVoid) })
    })
  )
