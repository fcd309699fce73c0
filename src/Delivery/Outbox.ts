import { SqlClient } from "@effect/sql"
import { Clock, Effect, Metric, Queue, Schema } from "effect"
import { Alert, type EnqueueResult } from "../Kernel/Domain.js"
import { SqlLive } from "../Kernel/Sql.js"

export interface OutboxRow {
  readonly id: number
  readonly alert: Alert
  readonly attempts: number
  /** When the row (re)entered the queue (epoch ms): delivery gives up ALERT_MAX_DELAY_MINUTES after it. */
  readonly queuedAt: number
  /** An earlier attempt may have created the message; the next one must not repeat it silently. */
  readonly maybeSent: boolean
}

export type OutboxStatus =
  "pending" | "sending" | "delivered" | "dead" | "uncertain" | "deferred" | "dropped" | "expired"

/** Rows delivery gave up on, which `catalyst-bot outbox` lists and `outbox retry` can re-queue. */
export const failedStatuses = ["dead", "expired", "uncertain"] as const
export type FailedStatus = (typeof failedStatuses)[number]

export interface FailedRow {
  readonly id: number
  readonly status: FailedStatus
  readonly ticker: string
  readonly title: string
  readonly createdAt: number
  readonly attempts: number
  readonly lastError: string | null
}

export interface RequeueResult {
  readonly requeued: ReadonlyArray<number>
  /** Ids that were not re-queued, and why (unknown, or not a failed row). */
  readonly refused: ReadonlyArray<{ readonly id: number; readonly reason: string }>
}

/** MAX_ALERTS_PER_CYCLE: how many alerts one cycle may release, and what happens to the rest. */
export interface CycleCap {
  readonly maxPerCycle: number
  readonly overflow: "defer" | "drop"
}

export type StatusCounts = Readonly<Record<OutboxStatus, number>>

export const alertsCapped = Metric.counter("alerts_capped_total", {
  description: "Alerts held back by ALERTS_PER_TICKER_PER_MINUTE or MAX_ALERTS_PER_CYCLE, by cap and action"
})

export const cappedBy = (cap: "ticker" | "cycle", action: "deferred" | "dropped") =>
  Metric.tagged(Metric.tagged(alertsCapped, "cap", cap), "action", action)

const encodeAlert = Schema.encodeSync(Schema.parseJson(Alert))
const decodeAlert = Schema.decodeUnknownSync(Schema.parseJson(Alert))

const emptyCounts = (): Record<OutboxStatus, number> => ({
  pending: 0,
  sending: 0,
  delivered: 0,
  dead: 0,
  uncertain: 0,
  deferred: 0,
  dropped: 0,
  expired: 0
})

interface DueRow {
  readonly id: number
  readonly payload: string
  readonly attempts: number
  readonly queued_at: number | null
  readonly created_at: number
  readonly maybe_sent: number
}

const toRow = (row: DueRow): OutboxRow => ({
  id: row.id,
  alert: decodeAlert(row.payload),
  attempts: row.attempts,
  queuedAt: row.queued_at ?? row.created_at,
  maybeSent: row.maybe_sent === 1
})

/**
 * Durable queue of alerts. Rows are written in the same transaction that marks their items seen,
 * so a crash can neither lose an alert nor enqueue it twice (item_id is UNIQUE).
 */
export class Outbox extends Effect.Service<Outbox>()("Delivery/Outbox", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const wakeups = yield* Queue.sliding<void>(1)

    const insert = (alert: Alert, status: OutboxStatus, now: number, error: string | null) =>
      sql`INSERT OR IGNORE INTO outbox ${sql.insert({
        item_id: alert.item.id,
        ticker: alert.ticker.symbol,
        payload: encodeAlert(alert),
        status,
        created_at: now,
        queued_at: now,
        next_attempt_at: now,
        last_error: error
      })}`

    /**
     * Call inside the cycle's transaction. With a cap, rows deferred by earlier cycles go first
     * (oldest first), then this cycle's alerts fill what is left; the overflow is deferred or dropped.
     */
    const enqueue = Effect.fn("Outbox.enqueue")(function* (alerts: ReadonlyArray<Alert>, cap?: CycleCap) {
      const now = yield* Clock.currentTimeMillis
      const deferred: Array<string> = []
      const dropped: Array<string> = []
      let released = 0
      let room = alerts.length
      if (cap !== undefined && cap.maxPerCycle > 0) {
        const held = yield* sql<{ id: number }>`
          SELECT id FROM outbox WHERE status = 'deferred' ORDER BY id LIMIT ${cap.maxPerCycle}`
        for (const { id } of held) {
          yield* sql`UPDATE outbox SET status = 'pending', next_attempt_at = ${now} WHERE id = ${id}`
        }
        released = held.length
        room = cap.maxPerCycle - released
      }
      for (const [index, alert] of alerts.entries()) {
        if (index < room) {
          yield* insert(alert, "pending", now, null)
        } else if (cap?.overflow === "drop") {
          dropped.push(alert.item.id)
          yield* insert(alert, "dropped", now, `over MAX_ALERTS_PER_CYCLE=${cap.maxPerCycle}`)
        } else {
          deferred.push(alert.item.id)
          yield* insert(alert, "deferred", now, null)
        }
      }
      yield* Metric.incrementBy(cappedBy("cycle", "deferred"), deferred.length)
      yield* Metric.incrementBy(cappedBy("cycle", "dropped"), dropped.length)
      if (alerts.length > 0 || released > 0) yield* Queue.offer(wakeups, undefined)
      return { deferred, dropped, released } satisfies EnqueueResult
    }, Effect.orDie)

    /** The oldest rows due for delivery, in enqueue order. */
    const due = Effect.fn("Outbox.due")(function* (limit: number) {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql<DueRow>`
        SELECT id, payload, attempts, queued_at, created_at, maybe_sent FROM outbox
        WHERE status = 'pending' AND next_attempt_at <= ${now}
        ORDER BY id LIMIT ${limit}`
      return rows.map(toRow)
    }, Effect.orDie)

    /** Committed before the request leaves: after a crash this row is known to be in flight. */
    const markSending = Effect.fn("Outbox.markSending")(function* (id: number) {
      const now = yield* Clock.currentTimeMillis
      yield* sql`UPDATE outbox SET status = 'sending', sending_at = ${now} WHERE id = ${id}`
    }, Effect.orDie)

    const markDelivered = Effect.fn("Outbox.markDelivered")(function* (id: number, messageId: string | null) {
      const now = yield* Clock.currentTimeMillis
      yield* sql`UPDATE outbox SET status = 'delivered', delivered_at = ${now}, message_id = ${messageId},
        attempts = attempts + 1 WHERE id = ${id}`
    }, Effect.orDie)

    /** The request was refused before any message was created (429, unusable webhook): back in line, no attempt used. */
    const release = Effect.fn("Outbox.release")(function* (id: number, at: number) {
      yield* sql`UPDATE outbox SET status = 'pending', sending_at = NULL, next_attempt_at = ${at} WHERE id = ${id}`
    }, Effect.orDie)

    /** A failed attempt, tried again at `at`; `maybeSent` sticks once set (the message may exist). */
    const reschedule = Effect.fn("Outbox.reschedule")(function* (
      id: number,
      error: string,
      at: number,
      maybeSent = false
    ) {
      yield* sql`UPDATE outbox SET status = 'pending', attempts = attempts + 1, last_error = ${error},
        next_attempt_at = ${at}, maybe_sent = max(maybe_sent, ${maybeSent ? 1 : 0}) WHERE id = ${id}`
    }, Effect.orDie)

    /** Too old to matter (ALERT_MAX_DELAY_MINUTES): no more attempts; `outbox retry` can re-queue it. */
    const expire = Effect.fn("Outbox.expire")(function* (id: number, reason: string, attempted: boolean) {
      yield* sql`UPDATE outbox SET status = 'expired', attempts = attempts + ${attempted ? 1 : 0},
        last_error = ${reason} WHERE id = ${id}`
    }, Effect.orDie)

    /** The message may or may not exist, and is not sent again (DELIVERY_AMBIGUOUS=drop, or cut off at shutdown). */
    const parkUncertain = Effect.fn("Outbox.parkUncertain")(function* (id: number, reason: string) {
      yield* sql`UPDATE outbox SET status = 'uncertain', attempts = attempts + 1, maybe_sent = 1,
        last_error = ${reason} WHERE id = ${id}`
    }, Effect.orDie)

    const deadLetter = Effect.fn("Outbox.deadLetter")(function* (id: number, error: string) {
      yield* sql`UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ${error} WHERE id = ${id}`
    }, Effect.orDie)

    const drop = Effect.fn("Outbox.drop")(function* (id: number, reason: string) {
      yield* sql`UPDATE outbox SET status = 'dropped', last_error = ${reason} WHERE id = ${id}`
    }, Effect.orDie)

    /**
     * Rows a previous process left in flight (it died between "sending" and the answer). Whether
     * Discord created the message is unknowable from a webhook, so they are parked as 'uncertain'
     * instead of re-sent: at most once beats a possible duplicate.
     */
    const parkInFlight = Effect.fn("Outbox.parkInFlight")(function* () {
      const rows = yield* sql<DueRow>`
        UPDATE outbox SET status = 'uncertain', maybe_sent = 1,
          last_error = 'in flight when the previous process stopped; not re-sent to avoid a duplicate'
        WHERE status = 'sending' RETURNING id, payload, attempts, queued_at, created_at, maybe_sent`
      return rows.map(toRow)
    }, Effect.orDie)

    /** Dead-lettered, expired and uncertain rows, oldest first. */
    const listFailed = Effect.fn("Outbox.listFailed")(function* () {
      const rows = yield* sql<{
        id: number
        status: FailedStatus
        ticker: string
        payload: string
        created_at: number
        attempts: number
        last_error: string | null
      }>`SELECT id, status, ticker, payload, created_at, attempts, last_error FROM outbox
        WHERE status IN ${sql.in(failedStatuses)} ORDER BY id`
      return rows.map((row): FailedRow => ({
        id: row.id,
        status: row.status,
        ticker: row.ticker,
        title: decodeAlert(row.payload).item.title,
        createdAt: row.created_at,
        attempts: row.attempts,
        lastError: row.last_error
      }))
    }, Effect.orDie)

    /**
     * Puts failed rows back in the queue with a fresh ALERT_MAX_DELAY_MINUTES. No ids: every dead and
     * expired row. Uncertain rows (they may have been delivered) only when named, and they keep
     * `maybe_sent`, so their send is checked against the channel or marked as a possible repeat.
     */
    const requeue = Effect.fn("Outbox.requeue")(function* (ids: ReadonlyArray<number>) {
      const now = yield* Clock.currentTimeMillis
      const result = yield* sql.withTransaction(
        Effect.gen(function* () {
          const found = yield* ids.length === 0
            ? sql<{ id: number; status: OutboxStatus }>`
                SELECT id, status FROM outbox WHERE status IN ('dead', 'expired') ORDER BY id`
            : sql<{ id: number; status: OutboxStatus }>`SELECT id, status FROM outbox WHERE id IN ${sql.in(ids)}`
          const statusOf = new Map(found.map((row) => [row.id, row.status]))
          const wanted = ids.length === 0 ? found.map((row) => row.id) : Array.from(new Set(ids))
          const requeued: Array<number> = []
          const refused: Array<{ id: number; reason: string }> = []
          for (const id of wanted) {
            const status = statusOf.get(id)
            if (status === undefined) refused.push({ id, reason: "no such alert in the outbox" })
            else if (!(failedStatuses as ReadonlyArray<string>).includes(status))
              refused.push({ id, reason: `it is ${status}, not dead, expired or uncertain` })
            else requeued.push(id)
          }
          if (requeued.length > 0) {
            yield* sql`UPDATE outbox SET status = 'pending', attempts = 0, sending_at = NULL,
              queued_at = ${now}, next_attempt_at = ${now} WHERE id IN ${sql.in(requeued)}`
          }
          return { requeued, refused } satisfies RequeueResult
        })
      )
      if (result.requeued.length > 0) yield* Queue.offer(wakeups, undefined)
      return result
    }, Effect.orDie)

    /** Sends for `ticker` since `since` (epoch ms), and the earliest of them, for the per-ticker cap. */
    const tickerSends = Effect.fn("Outbox.tickerSends")(function* (ticker: string, since: number) {
      const [row] = yield* sql<{ n: number; oldest: number | null }>`
        SELECT count(*) AS n, min(sending_at) AS oldest FROM outbox
        WHERE ticker = ${ticker} AND sending_at > ${since}`
      return { count: row?.n ?? 0, oldest: row?.oldest ?? null }
    }, Effect.orDie)

    /** Rows per status, optionally only those with id > `afterId` (one cycle's alerts). */
    const counts = Effect.fn("Outbox.counts")(function* (afterId = 0) {
      const rows = yield* sql<{ status: OutboxStatus; n: number }>`
        SELECT status, count(*) AS n FROM outbox WHERE id > ${afterId} GROUP BY status`
      const result = emptyCounts()
      for (const row of rows) result[row.status] = row.n
      return result as StatusCounts
    }, Effect.orDie)

    const lastId = sql<{ id: number | null }>`SELECT max(id) AS id FROM outbox`.pipe(
      Effect.map((rows) => rows[0]?.id ?? 0),
      Effect.orDie,
      Effect.withSpan("Outbox.lastId")
    )

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

    return {
      enqueue,
      due,
      markSending,
      markDelivered,
      release,
      reschedule,
      deadLetter,
      expire,
      parkUncertain,
      drop,
      parkInFlight,
      listFailed,
      requeue,
      tickerSends,
      counts,
      lastId,
      pendingCount,
      pendingStats,
      awaitWork
    } as const
  }),
  dependencies: [SqlLive]
}) {}
