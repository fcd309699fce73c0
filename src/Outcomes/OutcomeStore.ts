import * as SqlClient from "@effect/sql/SqlClient"
import { Array as Arr, Clock, Effect, Schema } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import { Checkpoint, type Progress } from "./Checkpoints.js"
import { type CheckpointPrices, directionOf, type OutcomeSubject, type TrackedOutcome } from "./Stats.js"
import { SqlLive } from "../Kernel/Sql.js"

const decodeStrings = Schema.decodeUnknownSync(Schema.parseJson(Schema.Array(Schema.String)))
const decodeMissing = Schema.decodeUnknownSync(Schema.parseJson(Schema.Array(Schema.Literal(...Checkpoint))))

interface OutcomeRow extends CheckpointPrices {
  readonly itemId: string
  readonly kind: "alert" | "filtered"
  readonly ticker: string
  readonly source: string
  readonly formType: string | null
  readonly title: string
  readonly categories: string
  readonly score: number
  readonly sentiment: number
  readonly reason: string | null
  readonly quotePrice: number | null
  readonly missing: string
  readonly status: string
}

/** A delivered alert, or a sampled filtered item, as tracking starts for it. */
export interface Enrolment extends OutcomeSubject {
  /** When the alert went out (for a filtered item: when it was archived). */
  readonly alertAt: number
  /** The quote the alert carried, when it was still fresh at delivery. */
  readonly quotePrice: number | null
}

/** An open outcome whose next checkpoint is due. */
export interface DueOutcome {
  readonly itemId: string
  readonly ticker: string
  readonly progress: Progress
}

const toTracked = (row: OutcomeRow): TrackedOutcome => ({
  itemId: row.itemId,
  kind: row.kind,
  ticker: row.ticker,
  source: row.source,
  formType: row.formType,
  title: row.title,
  categories: decodeStrings(row.categories),
  score: row.score,
  sentiment: row.sentiment,
  reason: row.reason,
  alertAt: row.alertAt,
  priceAtAlert: row.priceAtAlert,
  price15m: row.price15m,
  price1h: row.price1h,
  price4h: row.price4h,
  priceNextClose: row.priceNextClose,
  maxFavourable1hPct: row.maxFavourable1hPct,
  maxAdverse1hPct: row.maxAdverse1hPct,
  complete: row.status === "complete"
})

const toProgress = (row: OutcomeRow): Progress => ({
  alertAt: row.alertAt,
  direction: directionOf(row.sentiment),
  quotePrice: row.quotePrice,
  priceAtAlert: row.priceAtAlert,
  price15m: row.price15m,
  price1h: row.price1h,
  price4h: row.price4h,
  priceNextClose: row.priceNextClose,
  maxFavourable1hPct: row.maxFavourable1hPct,
  maxAdverse1hPct: row.maxAdverse1hPct,
  missing: decodeMissing(row.missing)
})

const selectColumns = `item_id AS "itemId", kind, ticker, source, form_type AS "formType", title, categories, score,
  sentiment, reason, alert_at AS "alertAt", quote_price AS "quotePrice", price_at_alert AS "priceAtAlert",
  price_15m AS "price15m", price_1h AS "price1h", price_4h AS "price4h", price_next_close AS "priceNextClose",
  max_favourable_1h_pct AS "maxFavourable1hPct", max_adverse_1h_pct AS "maxAdverse1hPct", missing, status`

/** 13 columns per row: 500 rows stay far below SQLite's 32766 bound parameters. */
const rowsPerInsert = 500

/**
 * The `price_outcomes` table: what the price did after each alert (and sampled filtered item),
 * checkpoint by checkpoint. The tracker writes it; the report and the backtest read it.
 */
export class OutcomeStore extends Effect.Service<OutcomeStore>()("Outcomes/OutcomeStore", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { outcomes: settings } = yield* AppConfig

    const since = Effect.fn("OutcomeStore.since")(function* (from: number) {
      const rows = yield* sql<OutcomeRow>`
        SELECT ${sql.literal(selectColumns)} FROM price_outcomes WHERE alert_at >= ${from} ORDER BY alert_at`
      return rows.map(toTracked)
    }, Effect.orDie)

    const forItems = Effect.fn("OutcomeStore.forItems")(function* (itemIds: ReadonlyArray<string>) {
      const found = new Map<string, TrackedOutcome>()
      for (const chunk of Arr.chunksOf([...new Set(itemIds)], 500)) {
        const rows = yield* sql<OutcomeRow>`
          SELECT ${sql.literal(selectColumns)} FROM price_outcomes WHERE item_id IN ${sql.in(chunk)}`
        for (const row of rows) found.set(row.itemId, toTracked(row))
      }
      return found
    }, Effect.orDie)

    /** The ids among `itemIds` that are tracked already. */
    const tracked = Effect.fn("OutcomeStore.tracked")(function* (itemIds: ReadonlyArray<string>) {
      const found = new Set<string>()
      for (const chunk of Arr.chunksOf([...new Set(itemIds)], 500)) {
        const rows = yield* sql<{ itemId: string }>`
          SELECT item_id AS "itemId" FROM price_outcomes WHERE item_id IN ${sql.in(chunk)}`
        for (const row of rows) found.add(row.itemId)
      }
      return found as ReadonlySet<string>
    }, Effect.orDie)

    /** Delivery time of the newest tracked alert (null when none is): alerts are enrolled in delivery order. */
    const lastAlertAt = sql<{ at: number | null }>`
      SELECT max(alert_at) AS at FROM price_outcomes WHERE kind = 'alert'`.pipe(
      Effect.map((rows) => rows[0]?.at ?? null),
      Effect.orDie,
      Effect.withSpan("OutcomeStore.lastAlertAt")
    )

    const filteredCountSince = Effect.fn("OutcomeStore.filteredCountSince")(function* (from: number) {
      const [row] = yield* sql<{ n: number }>`
        SELECT count(*) AS n FROM price_outcomes WHERE kind = 'filtered' AND alert_at >= ${from}`
      return row?.n ?? 0
    }, Effect.orDie)

    /** Starts tracking each item; an item tracked already is left as it is. */
    const enrol = Effect.fn("OutcomeStore.enrol")(function* (entries: ReadonlyArray<Enrolment>) {
      for (const chunk of Arr.chunksOf(entries, rowsPerInsert)) {
        yield* sql`INSERT INTO price_outcomes ${sql.insert(
          chunk.map((entry) => ({
            item_id: entry.itemId,
            kind: entry.kind,
            ticker: entry.ticker,
            source: entry.source,
            form_type: entry.formType,
            title: entry.title,
            categories: JSON.stringify(entry.categories),
            score: entry.score,
            sentiment: entry.sentiment,
            reason: entry.reason,
            alert_at: entry.alertAt,
            quote_price: entry.quotePrice,
            next_check_at: entry.alertAt
          }))
        )} ON CONFLICT DO NOTHING`
      }
    }, Effect.orDie)

    /** Open outcomes whose next check is at or before `now`, the longest-waiting first. */
    const due = Effect.fn("OutcomeStore.due")(function* (now: number, limit: number) {
      const rows = yield* sql<OutcomeRow>`
        SELECT ${sql.literal(selectColumns)} FROM price_outcomes
        WHERE status = 'open' AND next_check_at <= ${now} ORDER BY next_check_at LIMIT ${limit}`
      return rows.map((row): DueOutcome => ({ itemId: row.itemId, ticker: row.ticker, progress: toProgress(row) }))
    }, Effect.orDie)

    /** Stores a check's result; `nextCheckAt` null completes the outcome. */
    const update = Effect.fn("OutcomeStore.update")(function* (
      itemId: string,
      progress: Progress,
      nextCheckAt: number | null
    ) {
      const now = yield* Clock.currentTimeMillis
      yield* sql`UPDATE price_outcomes SET
        price_at_alert = ${progress.priceAtAlert}, price_15m = ${progress.price15m}, price_1h = ${progress.price1h},
        price_4h = ${progress.price4h}, price_next_close = ${progress.priceNextClose},
        max_favourable_1h_pct = ${progress.maxFavourable1hPct}, max_adverse_1h_pct = ${progress.maxAdverse1hPct},
        missing = ${JSON.stringify(progress.missing)}, status = ${nextCheckAt === null ? "complete" : "open"},
        next_check_at = ${nextCheckAt ?? now}, checked_at = ${now}
        WHERE item_id = ${itemId}`
    }, Effect.orDie)

    /** Forgets outcomes older than ARCHIVE_DAYS, with the archive they came from. */
    const purgeExpired = Effect.fn("OutcomeStore.purgeExpired")(function* () {
      const cutoff = (yield* Clock.currentTimeMillis) - settings.archiveDays * 86_400_000
      yield* sql`DELETE FROM price_outcomes WHERE alert_at < ${cutoff}`
    }, Effect.orDie)

    return { since, forItems, tracked, lastAlertAt, filteredCountSince, enrol, due, update, purgeExpired } as const
  }),
  dependencies: [SqlLive, AppConfig.Default]
}) {}
