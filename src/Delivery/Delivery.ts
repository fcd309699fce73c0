import { Clock, Duration, Effect, Fiber, Layer, Metric, Ref, Schedule } from "effect"
import { AdminChannel } from "../Kernel/AdminChannel.js"
import { AlertLatency } from "../Kernel/AlertLatency.js"
import { AlertSink, type DeliveryError } from "./AlertSink.js"
import { ChartRenderer } from "../Charts/ChartRenderer.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { ChartOutcome } from "../Kernel/Domain.js"
import { ErrorTracker } from "../Kernel/ErrorTracker.js"
import { cappedBy, Outbox, type OutboxRow, type StatusCounts } from "./Outbox.js"

const pollInterval = Duration.seconds(1)
const batchSize = 25
const maxBackoffMs = 300_000

export const alertsDelivered = Metric.counter("alerts_delivered_total", { description: "Alerts delivered by the sink" })
export const alertsDeadLettered = Metric.counter("alerts_dead_lettered_total", {
  description: "Alerts given up on (invalid, or out of retries)"
})

/** What `once` reports for the alerts of one cycle. */
export interface DrainReport {
  readonly delivered: number
  /** Still queued: waiting for a retry, a cap, or a usable webhook. */
  readonly deferred: number
  /** Dead-lettered, or in flight at a crash (uncertain). */
  readonly failed: number
  readonly dropped: number
  readonly timedOut: boolean
}

export const summarise = (counts: StatusCounts, timedOut: boolean): DrainReport => ({
  delivered: counts.delivered,
  deferred: counts.pending + counts.sending + counts.deferred,
  failed: counts.dead + counts.uncertain,
  dropped: counts.dropped,
  timedOut
})

/**
 * Drains the outbox through the sink one request at a time, taking turns between sources (oldest
 * first within each, see `Outbox.due`), and picks again as soon as new alerts arrive.
 * Each row is marked `sending` right before its request leaves, and `delivered` with the message id
 * after: a crash in between leaves the row parked as `uncertain`, never re-sent (at most once).
 */
export class Delivery extends Effect.Service<Delivery>()("Delivery/Delivery", {
  effect: Effect.gen(function* () {
    const { delivery: settings, charts: chartSettings } = yield* AppConfig
    const outbox = yield* Outbox
    const sink = yield* AlertSink
    const charts = yield* ChartRenderer
    const admin = yield* AdminChannel
    const errors = yield* ErrorTracker
    const latency = yield* AlertLatency
    const sinkUnavailable = yield* Ref.make(false)

    const backoffMs = (attempts: number) => {
      const base = Math.min(settings.retryBaseSeconds * 1000 * 2 ** attempts, maxBackoffMs)
      return Math.round(base * (0.8 + Math.random() * 0.4))
    }

    const deadLetter = Effect.fn("Delivery.deadLetter")(function* (row: OutboxRow, reason: string) {
      yield* outbox.deadLetter(row.id, reason)
      yield* Metric.increment(alertsDeadLettered)
      yield* Effect.logError(`alert ${row.id} (${row.alert.ticker.symbol}) dead-lettered: ${reason}`)
      yield* admin.notify({
        key: `dead-letter:${row.id}`,
        title: `alert for ${row.alert.ticker.symbol} not delivered`,
        detail: `"${row.alert.item.title}" was dead-lettered after ${row.attempts + 1} attempt(s): ${reason}`
      })
    })

    /** ALERTS_PER_TICKER_PER_MINUTE: true when the row may go now; otherwise it was deferred or dropped. */
    const withinTickerCap = Effect.fn("Delivery.tickerCap")(function* (row: OutboxRow) {
      const cap = settings.alertsPerTickerPerMinute
      if (cap <= 0) return true
      const now = yield* Clock.currentTimeMillis
      const sends = yield* outbox.tickerSends(row.alert.ticker.symbol, now - 60_000)
      if (sends.count < cap) return true
      const reason = `over ALERTS_PER_TICKER_PER_MINUTE=${cap} for ${row.alert.ticker.symbol}`
      if (settings.overflow === "drop") {
        yield* outbox.drop(row.id, reason)
        yield* Metric.increment(cappedBy("ticker", "dropped"))
        yield* Effect.logWarning(`alert ${row.id} dropped: ${reason}`)
      } else {
        yield* outbox.release(row.id, (sends.oldest ?? now) + 60_000)
        yield* Metric.increment(cappedBy("ticker", "deferred"))
        yield* Effect.logInfo(`alert ${row.id} deferred: ${reason}`)
      }
      return false
    })

    const chartFor = (row: OutboxRow) =>
      charts
        .forAlert(row.alert)
        .pipe(
          Effect.catchAllCause((cause) =>
            Effect.succeed<ChartOutcome>({ _tag: "Failed", reason: String(cause).split("\n")[0] ?? "chart failed" })
          )
        )

    /** Returns false when the batch must stop here (rate limited, or the sink is gone), to keep order. */
    const deliver = Effect.fn("Delivery.deliver")(function* (row: OutboxRow, nextChart: Effect.Effect<ChartOutcome>) {
      if (!(yield* withinTickerCap(row))) return true
      const chart = yield* nextChart
      const result = yield* Effect.either(sink.send(row.alert, chart, outbox.markSending(row.id)))
      const now = yield* Clock.currentTimeMillis
      if (result._tag === "Right") {
        yield* outbox.markDelivered(row.id, result.right.messageId)
        yield* Metric.increment(alertsDelivered)
        yield* latency.record(row.alert, now)
        return true
      }
      const error: DeliveryError = result.left
      yield* Effect.annotateCurrentSpan("delivery.error", error.reason)
      yield* errors.record({
        stage: "delivery",
        tag: "DeliveryError",
        message: error.reason,
        subject: row.alert.ticker.symbol
      })
      if (error.retryAfterMs !== undefined) {
        yield* outbox.release(row.id, now)
        return false
      }
      if (error.sinkUnavailable === true) {
        yield* outbox.release(row.id, now)
        if (!(yield* Ref.getAndSet(sinkUnavailable, true))) {
          yield* Effect.logError(`${sink.name} can't deliver any more; alerts stay queued: ${error.reason}`)
          yield* admin.notify({
            key: `sink-unavailable:${sink.name}`,
            title: `${sink.name} alert webhook unusable`,
            detail: `${error.reason}. Alerts stay queued in the outbox; fix DISCORD_WEBHOOK_URL and restart.`
          })
        }
        return false
      }
      if (!error.retryable) {
        yield* deadLetter(row, error.reason)
      } else if (row.attempts + 1 >= settings.maxAttempts) {
        yield* deadLetter(row, `gave up after DELIVERY_MAX_ATTEMPTS=${settings.maxAttempts}: ${error.reason}`)
      } else {
        const delay = backoffMs(row.attempts)
        yield* outbox.reschedule(row.id, error.reason, now + delay)
        yield* Effect.logWarning(
          `alert ${row.id} (${row.alert.ticker.symbol}) attempt ${row.attempts + 1} failed, retry in ${delay} ms: ${error.reason}`
        )
      }
      return true
    })

    /** One batch of due rows. Returns how many rows it handled. */
    const drainOnce = Effect.fn("Delivery.drainOnce")(function* () {
      if (yield* Ref.get(sinkUnavailable)) return 0
      const arrivals = yield* outbox.arrivalCount
      const rows = yield* outbox.due(batchSize)
      // Charts for the next rows render while this one waits for its rate-limit slot, a few at a
      // time (as many as there are chart workers), so sends stay in order but never wait on a chart.
      const lookahead = yield* Effect.makeSemaphore(chartSettings.workers)
      const upcoming = yield* Effect.forEach(rows, (row) => Effect.fork(lookahead.withPermits(1)(chartFor(row))))
      let handled = 0
      for (const [index, row] of rows.entries()) {
        handled += 1
        if (!(yield* deliver(row, Fiber.join(upcoming[index]!)))) break
        // New alerts arrived: pick again, so a fresh one waits for one send, not for the rest of this batch.
        if ((yield* outbox.arrivalCount) !== arrivals) break
      }
      yield* Fiber.interruptAll(upcoming)
      return handled
    })

    /** After a crash: rows left in flight are parked as uncertain, and the admin channel hears of them. */
    const recover = Effect.fn("Delivery.recover")(function* () {
      const parked = yield* outbox.parkInFlight()
      if (parked.length === 0) return
      const list = parked.map((row) => `• ${row.alert.ticker.symbol}: ${row.alert.item.title}`).join("\n")
      yield* Effect.logWarning(`${parked.length} alert(s) were in flight when the last process stopped; not re-sent`)
      yield* admin.notify({
        key: "uncertain-deliveries",
        title: `${parked.length} alert(s) may or may not have been delivered`,
        detail: `They were in flight when the previous process stopped; not re-sent to avoid duplicates.\n${list}`
      })
    })

    const idle = Effect.raceFirst(outbox.awaitWork, Effect.sleep(pollInterval))

    /** Drains until every alert enqueued after `afterId` is delivered or given up on, or `timeout` passes. */
    const awaitSettled = Effect.fn("Delivery.awaitSettled")(function* (afterId: number, timeout: Duration.Duration) {
      const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(timeout)
      while (true) {
        const counts = yield* outbox.counts(afterId)
        const open = counts.pending + counts.sending
        const now = yield* Clock.currentTimeMillis
        if (open === 0 || (yield* Ref.get(sinkUnavailable))) return summarise(counts, false)
        if (now >= deadline) return summarise(counts, true)
        const handled = yield* drainOnce()
        if (handled === 0) yield* Effect.sleep(Duration.millis(Math.min(100, deadline - now)))
      }
    })

    /** Most polls find nothing; checking untraced keeps Jaeger from filling with an empty trace per second. */
    const anythingDue = outbox.due(1).pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.withTracerEnabled(false)
    )

    const loop = anythingDue.pipe(
      Effect.flatMap((due) => (due ? drainOnce() : Effect.succeed(0))),
      Effect.flatMap((handled) => (handled > 0 ? Effect.void : idle)),
      Effect.catchAllCause((cause) => Effect.logError("delivery loop error", cause)),
      Effect.repeat(Schedule.forever)
    )

    return { drainOnce, recover, awaitSettled, loop } as const
  }).pipe(Effect.annotateLogs("module", "Delivery")),
  dependencies: [
    AppConfig.Default,
    Outbox.Default,
    ChartRenderer.Default,
    AdminChannel.Default,
    ErrorTracker.Default,
    AlertLatency.Default
  ]
}) {}

/** The long-lived delivery fiber: separate from polling, so a slow sink never stalls a cycle. */
export const DeliveryWorker = Layer.scopedDiscard(
  Effect.gen(function* () {
    const delivery = yield* Delivery
    yield* delivery.recover()
    yield* Effect.forkScoped(delivery.loop)
  }).pipe(Effect.annotateLogs("module", "Delivery"))
)
