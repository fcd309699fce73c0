import { Context, Data, type Effect } from "effect"
import type { Alert, ChartOutcome } from "../Kernel/Domain.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

export class DeliveryError extends Data.TaggedError("DeliveryError")<{
  readonly reason: string
  /** A retry can succeed (network error, 5xx); otherwise the alert is dead-lettered at once. */
  readonly retryable: boolean
  /** The sink refused before anything was delivered (rate limited): send again after this, no attempt used. */
  readonly retryAfterMs?: number
  /** The sink can't deliver anything any more (deleted webhook): the alert stays queued. */
  readonly sinkUnavailable?: boolean
}> {}

export interface Delivered {
  readonly messageId: string | null
}

/** Where alerts end up: a Discord webhook, or stdout when none is configured. */
export class AlertSink extends Context.Tag("Delivery/AlertSink")<
  AlertSink,
  {
    readonly name: string
    /**
     * `beforeSend` runs right before the alert leaves the process (after any rate-limit wait):
     * the outbox marks the row in flight there, so a crash never leads to a blind re-send.
     */
    readonly send: (
      alert: Alert,
      chart: ChartOutcome,
      beforeSend?: Effect.Effect<void>
    ) => Effect.Effect<Delivered, DeliveryError>
  }
>() {
  static readonly Test = makeTestLayer(AlertSink)
}
