import { Context, Data, type Effect } from "effect"
import type { Alert, ChartOutcome } from "./Domain.js"

export class DeliveryError extends Data.TaggedError("DeliveryError")<{
  readonly reason: string
  /** A retry can succeed (network error, 5xx); otherwise the alert is dead-lettered at once. */
  readonly retryable: boolean
}> {}

export interface Delivered {
  readonly messageId: string | null
}

/** Where alerts end up: a Discord webhook, or stdout when none is configured. */
export class AlertSink extends Context.Tag("Delivery/AlertSink")<
  AlertSink,
  {
    readonly name: string
    readonly send: (alert: Alert, chart: ChartOutcome) => Effect.Effect<Delivered, DeliveryError>
  }
>() {}
