import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Effect, Queue } from "effect"
import { SqlLive } from "../Kernel/Sql.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

/**
 * Why an alert's message is edited: its LLM verdict arrived, its chart was not ready when it was
 * posted, the other half of its event arrived (`event`), a later item updates its story (`update`), or
 * a filing's documents or its company's size arrived after the alert was due (`details`).
 */
export type EditReason = "llm" | "chart" | "event" | "update" | "details"

/** `sent`: Discord has the edit; `gone`: the message was deleted (404); `dropped`: too old, or the alert never went out. */
export type EditStatus = "pending" | "sent" | "gone" | "dropped" | "failed"

export interface EditRow {
  readonly id: number
  /** The alert (outbox row) whose message is edited. */
  readonly outboxId: number
  readonly reason: EditReason
  readonly createdAt: number
  readonly attempts: number
}

/**
 * The durable queue of message edits. A row is written in the same transaction that records the
 * delivery (or the verdict) it follows, so a crash between the post and the edit loses no edit.
 */
export class EditOutbox extends Effect.Service<EditOutbox>()("Delivery/EditOutbox", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const wakeups = yield* Queue.sliding<void>(1)

    /** Call inside the transaction that makes the edit necessary. */
    const request = Effect.fn("EditOutbox.request")(function* (outboxId: number, reason: EditReason) {
      const now = yield* Clock.currentTimeMillis
      yield* sql`INSERT INTO outbox_edits ${sql.insert({
        outbox_id: outboxId,
        reason,
        created_at: now,
        next_attempt_at: now
      })}`
      yield* Queue.offer(wakeups, undefined)
    }, Effect.orDie)

    const due = Effect.fn("EditOutbox.due")(function* (limit: number) {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql<{
        id: number
        outbox_id: number
        reason: EditReason
        created_at: number
        attempts: number
      }>`SELECT id, outbox_id, reason, created_at, attempts FROM outbox_edits
        WHERE status = 'pending' AND next_attempt_at <= ${now} ORDER BY id LIMIT ${limit}`
      return rows.map((row): EditRow => ({
        id: row.id,
        outboxId: row.outbox_id,
        reason: row.reason,
        createdAt: row.created_at,
        attempts: row.attempts
      }))
    }, Effect.orDie)

    /** Every pending edit of these alerts: one PATCH carries them all. */
    const pendingFor = Effect.fn("EditOutbox.pendingFor")(function* (outboxIds: ReadonlyArray<number>) {
      if (outboxIds.length === 0) return []
      const rows = yield* sql<{ id: number }>`SELECT id FROM outbox_edits
        WHERE status = 'pending' AND outbox_id IN ${sql.in(outboxIds)} ORDER BY id`
      return rows.map((row) => row.id)
    }, Effect.orDie)

    const settle = Effect.fn("EditOutbox.settle")(function* (
      ids: ReadonlyArray<number>,
      status: Exclude<EditStatus, "pending">,
      error: string | null
    ) {
      if (ids.length === 0) return
      yield* sql`UPDATE outbox_edits SET status = ${status}, last_error = ${error},
        attempts = attempts + ${status === "dropped" ? 0 : 1} WHERE id IN ${sql.in(ids)}`
    }, Effect.orDie)

    /** Not now: again at `at`. `attempted` counts a failed request; a wait for the alert's own post doesn't. */
    const reschedule = Effect.fn("EditOutbox.reschedule")(function* (
      ids: ReadonlyArray<number>,
      at: number,
      error: string | null,
      attempted: boolean
    ) {
      if (ids.length === 0) return
      yield* sql`UPDATE outbox_edits SET next_attempt_at = ${at}, last_error = coalesce(${error}, last_error),
        attempts = attempts + ${attempted ? 1 : 0} WHERE id IN ${sql.in(ids)}`
    }, Effect.orDie)

    const pendingCount = sql<{ n: number }>`SELECT count(*) AS n FROM outbox_edits WHERE status = 'pending'`.pipe(
      Effect.map((rows) => rows[0]?.n ?? 0),
      Effect.orDie,
      Effect.withSpan("EditOutbox.pendingCount")
    )

    const counts = Effect.fn("EditOutbox.counts")(function* () {
      const rows = yield* sql<{ status: EditStatus; n: number }>`
        SELECT status, count(*) AS n FROM outbox_edits GROUP BY status`
      return Object.fromEntries(rows.map((row) => [row.status, row.n])) as Partial<Record<EditStatus, number>>
    }, Effect.orDie)

    /** Resolves when an edit was requested; the edit loop also polls, so a missed wake-up only delays. */
    const awaitWork = Queue.take(wakeups)

    return { request, due, pendingFor, settle, reschedule, pendingCount, counts, awaitWork } as const
  }),
  dependencies: [SqlLive]
}) {
  static readonly Test = makeTestLayer(EditOutbox)
}
