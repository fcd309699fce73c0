import { SqlClient } from "@effect/sql"
import { Clock, Effect, Queue, Schema } from "effect"
import { Alert } from "./Domain.js"
import { SqlLive } from "./Sql.js"

export interface OutboxRow {
  readonly id: number
  readonly alert: Alert
  readonly attempts: number
}

const encodeAlert = Schema.encodeSync(Schema.parseJson(Alert))
const decodeAlert = Schema.decodeUnknownSync(Schema.parseJson(Alert))

/**
 * Durable queue of alerts. Rows are written in the same transaction that marks their items seen,
 * so a crash can neither lose an alert nor enqueue it twice (item_id is UNIQUE).
 */
export class Outbox extends Effect.Service<Outbox>()("Delivery/Outbox", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const wakeups = yield* Queue.sliding<void>(1)

    const enqueue = Effect.fn("Outbox.enqueue")(function* (alerts: ReadonlyArray<Alert>) {
      if (alerts.length === 0) return
      const now = yield* Clock.currentTimeMillis
      for (const alert of alerts) {
        yield* sql`INSERT OR IGNORE INTO outbox ${sql.insert({
          item_id: alert.item.id,
          ticker: alert.ticker.symbol,
          payload: encodeAlert(alert),
          created_at: now,
          next_attempt_at: now
        })}`
      }
      yield* Queue.offer(wakeups, undefined)
    }, Effect.orDie)

    /** The oldest rows due for delivery, in enqueue order. */
    const due = Effect.fn("Outbox.due")(function* (limit: number) {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql<{ id: number; payload: string; attempts: number }>`
        SELECT id, payload, attempts FROM outbox
        WHERE status = 'pending' AND next_attempt_at <= ${now}
        ORDER BY id LIMIT ${limit}`
      return rows.map((row): OutboxRow => ({ id: row.id, alert: decodeAlert(row.payload), attempts: row.attempts }))
    }, Effect.orDie)

    const markDelivered = Effect.fn("Outbox.markDelivered")(function* (id: number, messageId: string | null) {
      const now = yield* Clock.currentTimeMillis
      yield* sql`UPDATE outbox SET status = 'delivered', delivered_at = ${now}, message_id = ${messageId},
        attempts = attempts + 1 WHERE id = ${id}`
    }, Effect.orDie)

    const reschedule = Effect.fn("Outbox.reschedule")(function* (id: number, error: string, at: number) {
      yield* sql`UPDATE outbox SET attempts = attempts + 1, last_error = ${error}, next_attempt_at = ${at} WHERE id = ${id}`
    }, Effect.orDie)

    const pendingCount = sql<{ n: number }>`SELECT count(*) AS n FROM outbox WHERE status = 'pending'`.pipe(
      Effect.map((rows) => rows[0]?.n ?? 0),
      Effect.orDie,
      Effect.withSpan("Outbox.pendingCount")
    )

    /** Pending rows and the enqueue time of the oldest one (null when the outbox is empty), for metrics and /health. */
    const pendingStats = sql<{ depth: number; oldest: number | null }>`
      SELECT count(*) AS depth, min(created_at) AS oldest FROM outbox WHERE status = 'pending'`.pipe(
      Effect.map((rows) => ({ depth: rows[0]?.depth ?? 0, oldestCreatedAt: rows[0]?.oldest ?? null })),
      Effect.orDie,
      Effect.withSpan("Outbox.pendingStats")
    )

    /** Resolves when new work was enqueued; delivery loops also poll, so a missed wake-up only delays. */
    const awaitWork = Queue.take(wakeups)

    return { enqueue, due, markDelivered, reschedule, pendingCount, pendingStats, awaitWork } as const
  }),
  dependencies: [SqlLive]
}) {}
