import * as SqlClient from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import { Clock, Effect, Metric, Option, Queue, Ref, Schema, Tracer } from "effect"
import { AdminChannel } from "../Kernel/AdminChannel.js"
import { Alert, type EnqueueResult } from "../Kernel/Domain.js"
import { SqlLive } from "../Kernel/Sql.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"
import { Routes } from "./Routes.js"

export interface OutboxRow {
  readonly id: number
  /** The route (ROUTES_FILE) this copy of the alert goes to; `default` without routes. */
  readonly route: string
  readonly alert: Alert
  readonly attempts: number
  /** When the row (re)entered the queue (epoch ms): delivery gives up ALERT_MAX_DELAY_MINUTES after it. */
  readonly queuedAt: number
  /** An earlier attempt may have created the message; the next one must not repeat it silently. */
  readonly maybeSent: boolean
  /** Changes to the payload since it was queued (an LLM verdict edited in): a send of an older one is stale. */
  readonly version: number
  /** The span of the poll that queued it (trace and span id), when that poll was traced. */
  readonly queuedBy: { readonly traceId: string; readonly spanId: string } | null
}

/** Span links from a delivery (or an edit) back to the traced polls that queued its alerts. */
export const queuedByLinks = (rows: ReadonlyArray<Pick<OutboxRow, "queuedBy">>): ReadonlyArray<Tracer.SpanLink> =>
  rows.flatMap(({ queuedBy }) =>
    queuedBy === null ? [] : [{ _tag: "SpanLink", span: Tracer.externalSpan(queuedBy), attributes: {} } as const]
  )

/** An alert as its Discord message shows it: one of the rows sharing a message id, in id order. */
export interface MessageRow {
  readonly id: number
  readonly route: string
  readonly alert: Alert
  readonly status: OutboxStatus
  readonly messageId: string | null
  readonly possibleRepeat: boolean
  readonly queuedBy: OutboxRow["queuedBy"]
}

/** An alert that went out on keywords (LLM_MODE=enrich) and waits for its LLM verdict. */
export interface AwaitingLlm {
  readonly id: number
  readonly alert: Alert
  readonly createdAt: number
}

/** An outbox row of an alert as a later item sees it (one event, story updates). */
export interface AlertRow {
  readonly id: number
  readonly itemId: string
  readonly status: OutboxStatus
  readonly createdAt: number
  readonly alert: Alert
}

/** Rows whose alert is out or still on its way: the only ones a later item is edited into. */
const liveStatuses: ReadonlyArray<OutboxStatus> = ["pending", "deferred", "sending", "delivered"]

/** A delivered alert and when Discord (or stdout) took it. */
export interface DeliveredAlert {
  readonly alert: Alert
  readonly deliveredAt: number
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

/** SOURCE_MAX_ALERTS_PER_POLL and SOURCE_MAX_ALERTS_PER_MINUTE: what one feed may enqueue (0 = no cap). */
export interface SourceCaps {
  readonly perPoll: number
  readonly perMinute: number
}

/** MAX_ALERTS_PER_CYCLE: how many alerts one cycle may release, and what happens to the rest. */
export interface CycleCap {
  readonly maxPerCycle: number
  readonly overflow: "defer" | "drop"
  /** Applied first, per source; absent = no source caps. */
  readonly perSource?: SourceCaps
}

export type StatusCounts = Readonly<Record<OutboxStatus, number>>

export const alertsCapped = Metric.counter("alerts_capped_total", {
  description: "Alerts held back by ALERTS_PER_TICKER_PER_MINUTE or MAX_ALERTS_PER_CYCLE, by cap and action"
})

export const cappedBy = (cap: "ticker" | "cycle", action: "deferred" | "dropped") =>
  Metric.tagged(Metric.tagged(alertsCapped, "cap", cap), "action", action)

export const alertsSourceCapped = Metric.counter("alerts_source_capped_total", {
  description:
    "Alerts dropped because their source went over SOURCE_MAX_ALERTS_PER_POLL or _PER_MINUTE, by source and cap"
})

const encodeAlert = Schema.encodeSync(Schema.parseJson(Alert))
const decodeAlert = Schema.decodeUnknownSync(Schema.parseJson(Alert))

/**
 * Takes turns between per-source queues (each already oldest first): every source's first row, then
 * every source's second, …, each turn in `order`, until `limit`. One source's backlog then never
 * holds back another source's alert by more than one row per turn.
 */
export const roundRobin = <A>(
  queues: ReadonlyArray<ReadonlyArray<A>>,
  limit: number,
  order: (item: A) => number
): Array<A> => {
  const picked: Array<A> = []
  for (let turn = 0; picked.length < limit; turn++) {
    const round = queues.flatMap((queue) => (turn < queue.length ? [queue[turn]!] : []))
    if (round.length === 0) break
    round.sort((a, b) => order(a) - order(b))
    picked.push(...round.slice(0, limit - picked.length))
  }
  return picked
}

export interface SourceOverflow {
  readonly alert: Alert
  readonly cap: "poll" | "minute"
  readonly reason: string
}

/**
 * Per source, how many of one poll's alerts may be enqueued: at most `perPoll`, and no more than
 * `perMinute` minus what the source enqueued in the last minute. The newest stories are kept (a
 * trader wants those); the rest come back with the cap they broke.
 */
export const capBySource = (
  alerts: ReadonlyArray<Alert>,
  enqueuedLastMinute: ReadonlyMap<string, number>,
  caps: SourceCaps
): {
  readonly kept: ReadonlyArray<Alert>
  readonly over: ReadonlyArray<SourceOverflow>
} => {
  const bySource = new Map<string, Array<Alert>>()
  for (const alert of alerts) {
    const own = bySource.get(alert.item.source)
    if (own === undefined) bySource.set(alert.item.source, [alert])
    else own.push(alert)
  }
  const dropped = new Map<Alert, SourceOverflow>()
  for (const [source, own] of bySource) {
    const pollRoom = caps.perPoll > 0 ? caps.perPoll : Number.POSITIVE_INFINITY
    const minuteRoom =
      caps.perMinute > 0
        ? Math.max(0, caps.perMinute - (enqueuedLastMinute.get(source) ?? 0))
        : Number.POSITIVE_INFINITY
    const room = Math.min(pollRoom, minuteRoom)
    if (own.length <= room) continue
    const cap = pollRoom <= minuteRoom ? "poll" : "minute"
    const reason =
      cap === "poll"
        ? `over SOURCE_MAX_ALERTS_PER_POLL=${caps.perPoll} for ${source}`
        : `over SOURCE_MAX_ALERTS_PER_MINUTE=${caps.perMinute} for ${source}`
    const published = (alert: Alert) => (alert.item.published === null ? 0 : Date.parse(alert.item.published) || 0)
    const newestFirst = own.map((alert, index) => ({ alert, index }))
    newestFirst.sort((a, b) => published(b.alert) - published(a.alert) || a.index - b.index)
    for (const { alert } of newestFirst.slice(room)) dropped.set(alert, { alert, cap, reason })
  }
  return {
    kept: alerts.filter((alert) => !dropped.has(alert)),
    over: alerts.flatMap((alert) => {
      const overflow = dropped.get(alert)
      return overflow === undefined ? [] : [overflow]
    })
  }
}

const emptyCounts = (): Record<OutboxStatus, number> => ({
  pending: 0,
  sending: 0,
  delivered: 0,
  dead: 0,
  uncertain: 0,
  expired: 0,
  deferred: 0,
  dropped: 0
})

interface DueRow {
  readonly id: number
  readonly route: string
  readonly payload: string
  readonly attempts: number
  readonly queued_at: number | null
  readonly created_at: number
  readonly maybe_sent: number
  readonly version: number
  readonly trace_id: string | null
  readonly span_id: string | null
}

const toRow = (row: DueRow): OutboxRow => ({
  version: row.version,
  id: row.id,
  route: row.route,
  alert: decodeAlert(row.payload),
  attempts: row.attempts,
  queuedAt: row.queued_at ?? row.created_at,
  maybeSent: row.maybe_sent === 1,
  queuedBy: row.trace_id !== null && row.span_id !== null ? { traceId: row.trace_id, spanId: row.span_id } : null
})

/** The columns an `AlertRow` is read from. */
interface AlertRecord {
  readonly id: number
  readonly item_id: string
  readonly status: OutboxStatus
  readonly created_at: number
  readonly payload: string
}

const toAlertRow = (row: AlertRecord): AlertRow => ({
  id: row.id,
  itemId: row.item_id,
  status: row.status,
  createdAt: row.created_at,
  alert: decodeAlert(row.payload)
})

/**
 * Durable queue of alerts. Rows are written in the same transaction that marks their items seen,
 * so a crash can neither lose an alert nor enqueue it twice ((item_id, route) is UNIQUE).
 */
export class Outbox extends Effect.Service<Outbox>()("Delivery/Outbox", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const admin = yield* AdminChannel
    const routes = yield* Routes
    const wakeups = yield* Queue.sliding<void>(1)
    /** Bumped whenever rows become pending, so a delivery batch can tell that fresher work arrived. */
    const arrivals = yield* Ref.make(0)
    /** Sources over their cap whose admin notice went out; each is told again only after a poll within it. */
    const overCap = yield* Ref.make<ReadonlySet<string>>(new Set())

    /** SQLite's planner hint (https://www.sqlite.org/lang_indexedby.html); PostgreSQL has none and needs none here. */
    const indexedBy = (index: string) =>
      sql.onDialectOrElse({ sqlite: () => sql.literal(`INDEXED BY ${index}`), orElse: () => sql.literal("") })
    const indexedBySourceQueue = indexedBy("outbox_source_queue")
    const indexedByLlmPending = indexedBy("outbox_llm_pending")

    /** One row per route the alert goes to, in this same transaction: each route gets its own copy. */
    const insert = (
      alert: Alert,
      status: OutboxStatus,
      now: number,
      error: string | null,
      queuedBy: Option.Option<Tracer.AnySpan>
    ) =>
      Effect.forEach(routes.routesFor(alert), (route) => insertRoute(route, alert, status, now, error, queuedBy), {
        discard: true
      })

    const insertRoute = (
      route: string,
      alert: Alert,
      status: OutboxStatus,
      now: number,
      error: string | null,
      queuedBy: Option.Option<Tracer.AnySpan>
    ) =>
      sql`INSERT INTO outbox ${sql.insert({
        item_id: alert.item.id,
        route,
        ticker: alert.ticker.symbol,
        source: alert.item.source,
        payload: encodeAlert(alert),
        status,
        created_at: now,
        queued_at: now,
        next_attempt_at: now,
        last_error: error,
        llm_pending: alert.classification.llm._tag === "Pending" ? 1 : 0,
        trace_id: Option.match(queuedBy, { onNone: () => null, onSome: (span) => span.traceId }),
        span_id: Option.match(queuedBy, { onNone: () => null, onSome: (span) => span.spanId })
      })} ON CONFLICT (item_id, route) DO NOTHING`

    /**
     * Up to `perSource` rows in `status` for each source, oldest first, skipping rows not due by `dueBy`.
     * The sources come from a skip-scan of outbox_source_queue (one index seek per source), and each
     * queue is read through that index, so a source with a huge backlog costs no more than one with
     * a single row. INDEXED BY (SQLite only): given a range on next_attempt_at, its planner prefers
     * outbox_pending and then sorts the whole backlog.
     */
    const queuesBySource = (
      status: OutboxStatus,
      perSource: number,
      dueBy = Number.MAX_SAFE_INTEGER,
      routes?: ReadonlyArray<string>,
      skipRoutes: ReadonlyArray<string> = []
    ) =>
      Effect.gen(function* () {
        const onRoutes = routes === undefined ? sql`` : sql`AND route IN ${sql.in(routes)}`
        const offRoutes = skipRoutes.length === 0 ? sql`` : sql`AND route NOT IN ${sql.in(skipRoutes)}`
        const sources = yield* sql<{ source: string }>`
          WITH RECURSIVE s(source) AS (
            SELECT min(source) FROM outbox WHERE status = ${status}
            UNION ALL
            SELECT (SELECT min(source) FROM outbox WHERE status = ${status} AND source > s.source)
            FROM s WHERE s.source IS NOT NULL
          )
          SELECT source FROM s WHERE source IS NOT NULL`
        return yield* Effect.forEach(
          sources,
          ({ source }) => sql<{ id: number; source: string }>`
            SELECT id, source FROM outbox ${indexedBySourceQueue}
            WHERE status = ${status} AND source = ${source} AND next_attempt_at <= ${dueBy} ${onRoutes} ${offRoutes}
            ORDER BY id LIMIT ${perSource}`
        )
      })

    /** Rows enqueued per source since `since` (epoch ms), whatever became of them: the per-minute source cap. */
    /** Alerts per source since `since`: an alert on three routes is one alert, not three rows. */
    const enqueuedSince = Effect.fn("Outbox.enqueuedSince")(function* (since: number) {
      const rows = yield* sql<{ source: string; n: number }>`
        SELECT source, count(DISTINCT item_id) AS n FROM outbox WHERE created_at > ${since} GROUP BY source`
      return new Map(rows.map((row) => [row.source, row.n])) as ReadonlyMap<string, number>
    }, Effect.orDie)

    /** Counts what a source's caps dropped, and tells the admin once per episode of overflow. */
    const reportSourceCaps = Effect.fn("Outbox.reportSourceCaps")(function* (
      alerts: ReadonlyArray<Alert>,
      over: ReadonlyArray<SourceOverflow>
    ) {
      const overflowing = new Map<string, { count: number; reason: string }>()
      for (const { alert, cap, reason } of over) {
        const source = alert.item.source
        overflowing.set(source, { count: (overflowing.get(source)?.count ?? 0) + 1, reason })
        yield* Metric.increment(Metric.tagged(Metric.tagged(alertsSourceCapped, "source", source), "cap", cap))
      }
      const told = yield* Ref.get(overCap)
      const next = new Set(told)
      for (const alert of alerts) if (!overflowing.has(alert.item.source)) next.delete(alert.item.source)
      for (const [source, { count, reason }] of overflowing) {
        next.add(source)
        if (told.has(source)) continue
        yield* admin.notify({
          key: `source-cap:${source}`,
          title: `${source} is over its alert cap`,
          detail:
            `${count} alert(s) from one poll were dropped (${reason}). The feed may be flooding or broken; ` +
            `more overflow from it is only counted, in alerts_source_capped_total{source="${source}"}, ` +
            "until a poll of it is back within the cap."
        })
      }
      yield* Ref.set(overCap, next)
    })

    /**
     * Call inside the cycle's transaction. Source caps (`perSource`) go first: what a source offers over
     * them is not enqueued at all. Then MAX_ALERTS_PER_CYCLE: its room goes round-robin across sources;
     * within a source, rows deferred by earlier cycles go first (oldest first), then this cycle's
     * alerts. So one source's deferred backlog can't take the room of another source's fresh alert.
     * The overflow is deferred or dropped.
     */
    /**
     * Whether rows deferred by MAX_ALERTS_PER_CYCLE may be waiting: only `enqueue` defers rows, so after
     * a cycle that left none, the polls that bring nothing (most of them) skip looking for them.
     */
    let mayHoldDeferred = true

    const enqueue = Effect.fn("Outbox.enqueue")(function* (offered: ReadonlyArray<Alert>, cap?: CycleCap) {
      const now = yield* Clock.currentTimeMillis
      const queuedBy = yield* Effect.option(Effect.currentSpan)
      const unrouted = routes.fromFile
        ? offered.filter((alert) => routes.routesFor(alert).length === 0).map((alert) => alert.item.id)
        : []
      const routed = unrouted.length === 0 ? offered : offered.filter((alert) => !unrouted.includes(alert.item.id))
      let alerts = routed
      let overSourceCap: ReadonlyArray<{ readonly itemId: string; readonly reason: string }> = []
      if (cap?.perSource !== undefined && routed.length > 0) {
        const recent = cap.perSource.perMinute > 0 ? yield* enqueuedSince(now - 60_000) : new Map<string, number>()
        const { kept, over } = capBySource(routed, recent, cap.perSource)
        yield* reportSourceCaps(routed, over)
        alerts = kept
        overSourceCap = over.map(({ alert, reason }) => ({ itemId: alert.item.id, reason }))
      }
      const deferred: Array<string> = []
      const dropped: Array<string> = []
      let admitted: ReadonlySet<number> = new Set(alerts.keys())
      let released = 0
      if (cap !== undefined && cap.maxPerCycle > 0 && (alerts.length > 0 || mayHoldDeferred)) {
        const held = yield* queuesBySource("deferred", cap.maxPerCycle)
        const newestHeld = Math.max(0, ...held.flatMap((rows) => rows.map((row) => row.id)))
        type Candidate = { readonly order: number; readonly heldId: number | null; readonly index: number }
        const queues = new Map<string, Array<Candidate>>()
        const queueOf = (source: string) => {
          const queue = queues.get(source) ?? []
          queues.set(source, queue)
          return queue
        }
        for (const row of held.flat()) queueOf(row.source).push({ order: row.id, heldId: row.id, index: -1 })
        for (const [index, alert] of alerts.entries()) {
          queueOf(alert.item.source).push({ order: newestHeld + 1 + index, heldId: null, index })
        }
        const chosen = roundRobin([...queues.values()], cap.maxPerCycle, (candidate) => candidate.order)
        for (const { heldId } of chosen) {
          if (heldId === null) continue
          yield* sql`UPDATE outbox SET status = 'pending', next_attempt_at = ${now} WHERE id = ${heldId}`
          released += 1
        }
        admitted = new Set(chosen.flatMap((candidate) => (candidate.heldId === null ? [candidate.index] : [])))
        mayHoldDeferred =
          admitted.size < alerts.length ||
          released < held.flat().length ||
          held.some((rows) => rows.length >= cap.maxPerCycle)
      }
      for (const [index, alert] of alerts.entries()) {
        if (admitted.has(index)) {
          yield* insert(alert, "pending", now, null, queuedBy)
        } else if (cap?.overflow === "drop") {
          dropped.push(alert.item.id)
          yield* insert(alert, "dropped", now, `over MAX_ALERTS_PER_CYCLE=${cap.maxPerCycle}`, queuedBy)
        } else {
          deferred.push(alert.item.id)
          yield* insert(alert, "deferred", now, null, queuedBy)
        }
      }
      yield* Metric.incrementBy(cappedBy("cycle", "deferred"), deferred.length)
      yield* Metric.incrementBy(cappedBy("cycle", "dropped"), dropped.length)
      if (alerts.length > 0 || released > 0) {
        yield* Ref.update(arrivals, (n) => n + 1)
        yield* Queue.offer(wakeups, undefined)
      }
      return {
        deferred,
        dropped,
        released,
        ...(overSourceCap.length > 0 ? { overSourceCap } : {}),
        ...(unrouted.length > 0 ? { unrouted } : {})
      } satisfies EnqueueResult
    }, Effect.orDie)

    /**
     * Rows due for delivery, taking turns between sources (see `roundRobin`), oldest first within each;
     * only those of `routes` when given (the routes this runner holds in cluster mode), and none of
     * `skipRoutes` (routes waiting out their rate limit), so their backlog can't crowd out the others.
     */
    const due = Effect.fn("Outbox.due")(function* (
      limit: number,
      routes?: ReadonlyArray<string>,
      skipRoutes: ReadonlyArray<string> = []
    ) {
      const now = yield* Clock.currentTimeMillis
      if (routes !== undefined && routes.length === 0) return []
      const picked = roundRobin(
        yield* queuesBySource("pending", limit, now, routes, skipRoutes),
        limit,
        (row) => row.id
      )
      if (picked.length === 0) return []
      const rows = yield* sql<DueRow>`
        SELECT id, route, payload, attempts, queued_at, created_at, maybe_sent, version, trace_id, span_id FROM outbox WHERE ${sql.in(
          "id",
          picked.map((row) => row.id)
        )}`
      const byId = new Map(rows.map((row) => [row.id, row]))
      return picked.flatMap(({ id }): Array<OutboxRow> => {
        const row = byId.get(id)
        return row === undefined ? [] : [toRow(row)]
      })
    }, Effect.orDie)

    /** Committed before the request leaves: after a crash this row is known to be in flight. */
    const markSending = Effect.fn("Outbox.markSending")(function* (id: number) {
      const now = yield* Clock.currentTimeMillis
      yield* sql`UPDATE outbox SET status = 'sending', sending_at = ${now} WHERE id = ${id}`
    }, Effect.orDie)

    /**
     * Cluster mode's markSending: the row goes to `sending` only while it is still pending and `holds`
     * (the route's fencing epoch, see WorkOwners.stillHolds) is true, in one conditional UPDATE. Of two
     * runners, at most one claims a row; a runner whose epoch moved on claims none. False: not ours.
     */
    const claim = Effect.fn("Outbox.claim")(function* (id: number, runner: string, epoch: number, holds: Fragment) {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql<{ id: number }>`UPDATE outbox SET status = 'sending', sending_at = ${now},
        claimed_by = ${runner}, claim_epoch = ${epoch}
        WHERE id = ${id} AND status = 'pending' AND ${holds} RETURNING id`
      return rows.length === 1
    }, Effect.orDie)

    /** The runners holding rows of `route` in flight under an epoch older than `epoch`. */
    const inFlightElsewhere = Effect.fn("Outbox.inFlightElsewhere")(function* (route: string, epoch: number) {
      const rows = yield* sql<{ claimed_by: string }>`SELECT DISTINCT claimed_by FROM outbox
        WHERE status = 'sending' AND route = ${route} AND claim_epoch < ${epoch} AND claimed_by IS NOT NULL`
      return rows.map((row) => row.claimed_by)
    }, Effect.orDie)

    /** Returns the row's payload version now, so the caller can tell whether what it sent was already stale. */
    const markDelivered = Effect.fn("Outbox.markDelivered")(function* (id: number, messageId: string | null) {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql<{ version: number }>`UPDATE outbox SET status = 'delivered', delivered_at = ${now},
        message_id = ${messageId}, attempts = attempts + 1 WHERE id = ${id} RETURNING version`
      return rows[0]?.version ?? 0
    }, Effect.orDie)

    /** Alerts still waiting for their LLM verdict (LLM_MODE=enrich), oldest first. */
    const awaitingLlm = Effect.fn("Outbox.awaitingLlm")(function* (limit: number) {
      const rows = yield* sql<{ id: number; payload: string; created_at: number }>`
        SELECT id, payload, created_at FROM outbox ${indexedByLlmPending}
        WHERE llm_pending = 1 ORDER BY id LIMIT ${limit}`
      return rows.map((row): AwaitingLlm => ({
        id: row.id,
        alert: decodeAlert(row.payload),
        createdAt: row.created_at
      }))
    }, Effect.orDie)

    /**
     * The LLM verdict is in: the row carries it from now on (a send not yet made shows it), and its
     * version moves on. Returns the row's status, so the caller knows whether a message must be edited.
     */
    const applyFollowUp = Effect.fn("Outbox.applyFollowUp")(function* (id: number, alert: Alert) {
      // An alert still waiting for its verdict keeps waiting when something else changes its payload.
      const rows = yield* sql<{ status: OutboxStatus }>`UPDATE outbox SET payload = ${encodeAlert(alert)},
        llm_pending = ${alert.classification.llm._tag === "Pending" ? 1 : 0}, version = version + 1
        WHERE id = ${id} RETURNING status`
      return rows[0]?.status ?? null
    }, Effect.orDie)

    /** The verdict came too late to matter: the row stops waiting for it, unchanged. */
    const abandonFollowUp = Effect.fn("Outbox.abandonFollowUp")(function* (id: number) {
      yield* sql`UPDATE outbox SET llm_pending = 0 WHERE id = ${id}`
    }, Effect.orDie)

    /**
     * Row `id` and every row that shares its Discord message, in id order: an edit must send the whole
     * message (several alerts can share one). Empty when the row is unknown.
     */
    const messageRows = Effect.fn("Outbox.messageRows")(function* (id: number) {
      type Found = {
        id: number
        route: string
        payload: string
        status: OutboxStatus
        message_id: string | null
        maybe_sent: number
        trace_id: string | null
        span_id: string | null
      }
      const [own] = yield* sql<Found>`SELECT id, route, payload, status, message_id, maybe_sent, trace_id, span_id
        FROM outbox WHERE id = ${id}`
      if (own === undefined) return []
      const rows =
        own.message_id === null
          ? [own]
          : yield* sql<Found>`SELECT id, route, payload, status, message_id, maybe_sent, trace_id, span_id FROM outbox
              WHERE message_id = ${own.message_id} ORDER BY id`
      return rows.map((row): MessageRow => ({
        id: row.id,
        route: row.route,
        alert: decodeAlert(row.payload),
        status: row.status,
        messageId: row.message_id,
        possibleRepeat: row.maybe_sent === 1,
        queuedBy: row.trace_id !== null && row.span_id !== null ? { traceId: row.trace_id, spanId: row.span_id } : null
      }))
    }, Effect.orDie)

    /** Every row of an alert's item (one per route it goes to), in id order. */
    const rowsForItem = Effect.fn("Outbox.rowsForItem")(function* (itemId: string) {
      const rows = yield* sql<AlertRecord>`
        SELECT id, item_id, status, created_at, payload FROM outbox WHERE item_id = ${itemId} ORDER BY id`
      return rows.map(toAlertRow)
    }, Effect.orDie)

    /** Alerts out or on their way for any of `tickers`, queued at or after `since` (epoch ms), newest first. */
    const recentForTickers = Effect.fn("Outbox.recentForTickers")(function* (
      tickers: ReadonlyArray<string>,
      since: number
    ) {
      if (tickers.length === 0) return []
      const rows = yield* sql<AlertRecord>`
        SELECT id, item_id, status, created_at, payload FROM outbox
        WHERE ticker IN ${sql.in(tickers)} AND created_at >= ${since} AND status IN ${sql.in(liveStatuses)}
        ORDER BY id DESC`
      return rows.map(toAlertRow)
    }, Effect.orDie)

    /** Rows out or on their way of any of `itemIds` (one per route), queued at or after `since` (epoch ms), in id order. */
    const recentForItems = Effect.fn("Outbox.recentForItems")(function* (
      itemIds: ReadonlyArray<string>,
      since: number
    ) {
      const rows: Array<AlertRow> = []
      // Chunked: SQLite binds at most 999 parameters in older builds.
      for (let start = 0; start < itemIds.length; start += 500) {
        const chunk = itemIds.slice(start, start + 500)
        const found = yield* sql<AlertRecord>`
          SELECT id, item_id, status, created_at, payload FROM outbox
          WHERE item_id IN ${sql.in(chunk)} AND created_at >= ${since} AND status IN ${sql.in(liveStatuses)}
          ORDER BY id`
        rows.push(...found.map(toAlertRow))
      }
      return rows
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
        next_attempt_at = ${at}, maybe_sent = ${maybeSent ? sql`1` : sql`maybe_sent`} WHERE id = ${id}`
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
    const parkInFlight = Effect.fn("Outbox.parkInFlight")(function* (taken?: {
      readonly route: string
      readonly epoch: number
    }) {
      // A route taken over in cluster mode: only its rows claimed under an earlier epoch (or none).
      const ofRoute =
        taken === undefined
          ? sql``
          : sql`AND route = ${taken.route} AND (claim_epoch IS NULL OR claim_epoch < ${taken.epoch})`
      const rows = yield* sql<DueRow>`
        UPDATE outbox SET status = 'uncertain', maybe_sent = 1,
          last_error = 'in flight when the previous process stopped; not re-sent to avoid a duplicate'
        WHERE status = 'sending' ${ofRoute} RETURNING id, route, payload, attempts, queued_at, created_at, maybe_sent, version, trace_id, span_id`
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

    /** Sends for `ticker` on `route` since `since` (epoch ms), and the earliest of them, for the per-ticker cap. */
    const tickerSends = Effect.fn("Outbox.tickerSends")(function* (route: string, ticker: string, since: number) {
      const [row] = yield* sql<{ n: number; oldest: number | null }>`
        SELECT count(*) AS n, min(sending_at) AS oldest FROM outbox
        WHERE route = ${route} AND ticker = ${ticker} AND sending_at > ${since}`
      return { count: row?.n ?? 0, oldest: row?.oldest ?? null }
    }, Effect.orDie)

    /** Alerts delivered at or after `since` (epoch ms), in delivery order. */
    const deliveredSince = Effect.fn("Outbox.deliveredSince")(function* (since: number, limit: number) {
      const rows = yield* sql<{ payload: string; deliveredAt: number }>`
        SELECT payload, delivered_at AS "deliveredAt" FROM outbox
        WHERE status = 'delivered' AND delivered_at >= ${since}
        ORDER BY delivered_at, id LIMIT ${limit}`
      return rows.map((row): DeliveredAlert => ({ alert: decodeAlert(row.payload), deliveredAt: row.deliveredAt }))
    }, Effect.orDie)

    /** The `limit` latest delivered alerts (one per route), newest first, with how often each was edited since. */
    const latestDelivered = Effect.fn("Outbox.latestDelivered")(function* (limit: number) {
      const rows = yield* sql<{ id: number; route: string; payload: string; deliveredAt: number; version: number }>`
        SELECT id, route, payload, delivered_at AS "deliveredAt", version FROM outbox
        WHERE status = 'delivered' ORDER BY delivered_at DESC, id DESC LIMIT ${limit}`
      return rows.map((row) => ({
        id: row.id,
        route: row.route,
        alert: decodeAlert(row.payload),
        deliveredAt: row.deliveredAt,
        edits: row.version
      }))
    }, Effect.orDie)

    /** The routes each item's alert was queued for, in id order (`once` prints them). */
    const routesOf = Effect.fn("Outbox.routesOf")(function* (itemIds: ReadonlyArray<string>) {
      const routes = new Map<string, Array<string>>()
      if (itemIds.length === 0) return routes as ReadonlyMap<string, ReadonlyArray<string>>
      const rows = yield* sql<{ item_id: string; route: string }>`
        SELECT item_id, route FROM outbox WHERE ${sql.in("item_id", itemIds)} ORDER BY id`
      for (const row of rows) routes.set(row.item_id, [...(routes.get(row.item_id) ?? []), row.route])
      return routes as ReadonlyMap<string, ReadonlyArray<string>>
    }, Effect.orDie)

    /** Rows per status, optionally only those with id > `afterId` (one cycle's alerts). */
    const counts = Effect.fn("Outbox.counts")(function* (afterId = 0) {
      const rows = yield* sql<{ status: OutboxStatus; n: number }>`
        SELECT status, count(*) AS n FROM outbox WHERE id > ${afterId} GROUP BY status`
      const result = emptyCounts()
      for (const row of rows) result[row.status] = row.n
      return result as StatusCounts
    }, Effect.orDie)

    /** Rows per route and status: each route's delivered, waiting and failed alerts. */
    const countsByRoute = Effect.fn("Outbox.countsByRoute")(function* () {
      const rows = yield* sql<{ route: string; status: OutboxStatus; n: number }>`
        SELECT route, status, count(*) AS n FROM outbox GROUP BY route, status`
      const result = new Map<string, Record<OutboxStatus, number>>()
      for (const row of rows) {
        const counts = result.get(row.route) ?? emptyCounts()
        counts[row.status] = Number(row.n)
        result.set(row.route, counts)
      }
      return result as ReadonlyMap<string, StatusCounts>
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

    /** Wakes the delivery loop (a route taken over has rows waiting). */
    const wake = Queue.offer(wakeups, undefined).pipe(Effect.asVoid)

    /** Resolves when new work was enqueued; delivery loops also poll, so a missed wake-up only delays. */
    const awaitWork = Queue.take(wakeups)

    /** Changes whenever rows became pending; compare two reads to tell whether anything arrived in between. */
    const arrivalCount = Ref.get(arrivals)

    return {
      enqueue,
      due,
      markSending,
      claim,
      inFlightElsewhere,
      markDelivered,
      awaitingLlm,
      applyFollowUp,
      abandonFollowUp,
      messageRows,
      rowsForItem,
      recentForTickers,
      recentForItems,
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
      enqueuedSince,
      deliveredSince,
      latestDelivered,
      routesOf,
      counts,
      countsByRoute,
      lastId,
      pendingCount,
      pendingStats,
      awaitWork,
      wake,
      arrivalCount
    } as const
  }),
  dependencies: [SqlLive, AdminChannel.Default, Routes.Default]
}) {
  static readonly Test = makeTestLayer(Outbox)
}
