import { Clock, Effect, Ref } from "effect"

/** What a sink last learned about its ability to deliver, as it publishes it after every send. */
export interface SinkHealth {
  /** How operators know it, e.g. "Discord". */
  readonly sink: string
  /** Epoch ms of the last delivered alert (null: none yet in this process). */
  readonly lastSuccessAt: number | null
  /** Failed sends since the last delivered one. */
  readonly consecutiveFailures: number
  /** Epoch ms of the first of those failures (null while the last send succeeded). */
  readonly failingSince: number | null
  readonly lastError: string | null
  /**
   * Set when the sink refused for good (a deleted webhook, a wrong token): nothing can be delivered
   * until the configuration is fixed and the bot restarted.
   */
  readonly unusable: string | null
}

/** A sink failing without a single success for this long is an outage, not a blip. */
export const failingUnhealthyAfterSeconds = 60

export type SinkVerdict =
  { readonly level: "ok" } | { readonly level: "degraded" | "unhealthy"; readonly problem: string }

/** What /health and the heartbeat say about a sink at `now`. */
export const sinkVerdict = (sink: SinkHealth, now: number): SinkVerdict => {
  if (sink.unusable !== null) return { level: "unhealthy", problem: `${sink.unusable}: alerts can't be delivered` }
  if (sink.failingSince === null) return { level: "ok" }
  const seconds = Math.max(0, Math.round((now - sink.failingSince) / 1000))
  const problem =
    `${sink.sink} failing for ${seconds} s (${sink.consecutiveFailures} failed send(s) in a row` +
    `${sink.lastError === null ? "" : `; last: ${sink.lastError}`})`
  return { level: seconds >= failingUnhealthyAfterSeconds ? "unhealthy" : "degraded", problem }
}

const fresh = (sink: string): SinkHealth => ({
  sink,
  lastSuccessAt: null,
  consecutiveFailures: 0,
  failingSince: null,
  lastError: null,
  unusable: null
})

/**
 * Delivery state per sink, published by the sink adapters and read by /health, /metrics and the
 * heartbeat, so a dead webhook or a long outage shows up there instead of only in the logs.
 */
export class DeliveryHealth extends Effect.Service<DeliveryHealth>()("Delivery/DeliveryHealth", {
  effect: Effect.gen(function* () {
    const sinks = yield* Ref.make<ReadonlyMap<string, SinkHealth>>(new Map())

    const update = (sink: string, f: (state: SinkHealth, now: number) => SinkHealth) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.update(sinks, (map) => new Map(map).set(sink, f(map.get(sink) ?? fresh(sink), now)))
      )

    const succeeded = Effect.fn("DeliveryHealth.succeeded")(function* (sink: string) {
      yield* update(sink, (state, now) => ({
        ...state,
        lastSuccessAt: now,
        consecutiveFailures: 0,
        failingSince: null,
        lastError: null
      }))
    })

    /** A send that may succeed later (5xx, timeout, connection error, 429). */
    const failed = Effect.fn("DeliveryHealth.failed")(function* (sink: string, error: string) {
      yield* update(sink, (state, now) => ({
        ...state,
        consecutiveFailures: state.consecutiveFailures + 1,
        failingSince: state.failingSince ?? now,
        lastError: error
      }))
    })

    /** The sink can never deliver with this configuration; `reason` names what it answered. */
    const unusable = Effect.fn("DeliveryHealth.unusable")(function* (sink: string, reason: string) {
      yield* update(sink, (state) => ({ ...state, unusable: reason, lastError: reason }))
    })

    const snapshot = Effect.map(Ref.get(sinks), (map) => Array.from(map.values()))

    return { succeeded, failed, unusable, snapshot } as const
  })
}) {}
