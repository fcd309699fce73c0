import { Clock, Duration, Effect, Layer, Schedule } from "effect"
import { AlertLatency } from "./AlertLatency.js"
import { AlertSink } from "./AlertSink.js"
import { ChartRenderer } from "./ChartRenderer.js"
import { ErrorTracker } from "./ErrorTracker.js"
import { Outbox } from "./Outbox.js"

const pollInterval = Duration.seconds(1)
const retryDelay = (attempts: number) => Math.min(2 ** attempts, 300) * 1000

/** Drains one batch of due outbox rows through the sink, oldest first. Returns how many were handled. */
export const drainOnce = Effect.fn("Delivery.drainOnce")(function* () {
  const outbox = yield* Outbox
  const sink = yield* AlertSink
  const charts = yield* ChartRenderer
  const errors = yield* ErrorTracker
  const latency = yield* AlertLatency
  const rows = yield* outbox.due(25)
  for (const row of rows) {
    const chart = yield* charts.forAlert(row.alert)
    yield* sink.send(row.alert, chart).pipe(
      Effect.flatMap((delivered) => outbox.markDelivered(row.id, delivered.messageId)),
      Effect.zipRight(Effect.flatMap(Clock.currentTimeMillis, (now) => latency.record(row.alert, now))),
      Effect.catchTag("DeliveryError", (error) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          yield* errors.record({
            stage: "delivery",
            tag: "DeliveryError",
            message: error.reason,
            subject: row.alert.ticker.symbol
          })
          yield* Effect.logWarning(`delivery of ${row.alert.ticker.symbol} via ${sink.name} failed: ${error.reason}`)
          yield* outbox.reschedule(row.id, error.reason, now + retryDelay(row.attempts))
        })
      )
    )
  }
  return rows.length
})

/** The long-lived delivery fiber: separate from polling, so a slow sink never stalls a cycle. */
export const DeliveryWorker = Layer.scopedDiscard(
  Effect.gen(function* () {
    const outbox = yield* Outbox
    const loop = drainOnce().pipe(
      Effect.flatMap((handled) =>
        handled > 0 ? Effect.void : Effect.raceFirst(outbox.awaitWork, Effect.sleep(pollInterval))
      ),
      Effect.catchAllCause((cause) => Effect.logError("delivery loop error", cause)),
      Effect.repeat(Schedule.forever)
    )
    yield* Effect.forkScoped(loop)
  }).pipe(Effect.annotateLogs("module", "Delivery"))
)
