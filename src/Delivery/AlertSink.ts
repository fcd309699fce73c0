import { Context, Data, type Effect, type Option } from "effect"
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
  /**
   * The message may have been created although the send failed: the request was written, then it
   * timed out, the connection was reset, or the answer was a 5xx. Sending it again could repeat it.
   */
  readonly maybeSent?: boolean
}> {}

/** An edit Discord refused or couldn't take now. */
export class EditError extends Data.TaggedError("EditError")<{
  readonly reason: string
  /** The message is gone (404, Unknown Message 10008) or the webhook is: the edit ends quietly. */
  readonly gone: boolean
  /** 5xx, timeouts, network errors, 429: an edit is idempotent, so it is simply tried again. */
  readonly retryable: boolean
  readonly retryAfterMs?: number
}> {}

/** One alert of the message being edited, as it should read now. */
export interface EditEntry {
  readonly id: number
  /** The route whose message it is (ROUTES_FILE); absent means `default`. */
  readonly route?: string
  readonly alert: Alert
  readonly chart: ChartOutcome
  readonly possibleRepeat: boolean
}

export interface Delivered {
  readonly messageId: string | null
}

/** Who the alert is, for the message itself: its outbox id, and whether this send may repeat an earlier one. */
export interface SendContext {
  readonly id: number
  /** The route (ROUTES_FILE) the alert goes to; absent means `default`. */
  readonly route?: string
  readonly possibleRepeat: boolean
}

/** One alert of a packed send. */
export interface SendEntry {
  readonly alert: Alert
  readonly chart: ChartOutcome
  readonly context: SendContext
}

/** A sink that can carry several alerts in one message, for bursts its rate limit would otherwise spread out. */
export interface AlertPacking {
  /** Messages the sink could send right now without waiting for its rate limit. */
  readonly room: Effect.Effect<number>
  /** How many of the leading entries fit in one message (at least one). */
  readonly fitting: (entries: ReadonlyArray<SendEntry>) => number
  /**
   * One message with every entry, in the order given; like `send`, `beforeSend` runs right before it
   * leaves. Delivered: the one message carrying them all.
   */
  readonly sendMany: (
    entries: ReadonlyArray<SendEntry>,
    beforeSend?: Effect.Effect<void>
  ) => Effect.Effect<Delivered, DeliveryError>
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
      beforeSend?: Effect.Effect<void>,
      context?: SendContext
    ) => Effect.Effect<Delivered, DeliveryError>
    /**
     * Only for sinks that can read back what they delivered: the message that carries alert `id`, if it
     * is there. Asked before an alert whose earlier send may have landed goes out again.
     */
    readonly findDelivered?: (id: number, alert: Alert) => Effect.Effect<Option.Option<Delivered>, DeliveryError>
    /**
     * Rewrites a delivered message: `entries` are every alert it carries, in id order. `messageId` is
     * null for sinks that have none (stdout), which print a follow-up instead.
     */
    readonly edit: (messageId: string | null, entries: ReadonlyArray<EditEntry>) => Effect.Effect<void, EditError>
    /** Only for sinks with a rate limit worth packing for (Discord); stdout prints each alert as it comes. */
    readonly packing?: AlertPacking
    /**
     * Only for sinks rate-limited per route (Discord): milliseconds until the route's webhook may send
     * without waiting; delivery sends other routes' alerts meanwhile.
     */
    readonly rateLimitWait?: (route: string | undefined) => Effect.Effect<number>
  }
>() {
  static readonly Test = makeTestLayer(AlertSink)
}
