import { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect, Layer, Option, Ref, Schedule, Schema } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import { Alert, type BarInterval, type BarSeries, Classification, MarketSnapshot } from "../Kernel/Domain.js"
import { ItemArchive } from "./ItemArchive.js"
import { MarketData } from "../MarketData/MarketData.js"
import { advance, Checkpoint, nextCheckAt, type Progress, seriesNeeded } from "./Checkpoints.js"
import { directionOf } from "./Stats.js"
import { type OutcomeRow, selectColumns } from "./OutcomeStore.js"
import { SqlLive } from "../Kernel/Sql.js"

const decodeAlert = Schema.decodeUnknownSync(Schema.parseJson(Alert))
const decodeClassification = Schema.decodeUnknownSync(Schema.parseJson(Classification))
const decodeMarket = Schema.decodeUnknownSync(Schema.parseJson(MarketSnapshot))
const decodeMissing = Schema.decodeUnknownSync(Schema.parseJson(Schema.Array(Schema.Literal(...Checkpoint))))

const minute = 60_000
const day = 24 * 60 * minute
/** A quote older than this when the alert went out (delivery was held up) no longer prices the alert. */
const quoteMaxAgeMs = 5 * minute
/** Filtered items are sampled while their alert-time price can still be read from today's bars. */
const filteredEnrolWindowMs = 60 * minute
const purgeEveryMs = 60 * minute
const checksPerTick = 200

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

export interface TickReport {
  readonly enrolled: number
  readonly checked: number
  readonly completed: number
}

/**
 * Follows what the price did after each delivered alert, and after a bounded sample of filtered
 * items (the "missed opportunities"). All state is in SQLite, keyed by item: after a restart the
 * next tick picks up every open row and resolves whatever checkpoints the bars still cover.
 */
export class OutcomeTracker extends Effect.Service<OutcomeTracker>()("Outcomes/OutcomeTracker", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { outcomes: settings } = yield* AppConfig
    const market = yield* MarketData
    const archive = yield* ItemArchive
    const lastPurge = yield* Ref.make(Number.NEGATIVE_INFINITY)

    const enrolDelivered = Effect.fn("OutcomeTracker.enrolDelivered")(function* (now: number) {
      const rows = yield* sql<{ itemId: string; payload: string; deliveredAt: number }>`
        SELECT o.item_id AS itemId, o.payload, o.delivered_at AS deliveredAt FROM outbox o
        LEFT JOIN price_outcomes p ON p.item_id = o.item_id
        WHERE o.status = 'delivered' AND o.delivered_at >= ${now - settings.archiveDays * day} AND p.item_id IS NULL
        ORDER BY o.delivered_at LIMIT 500`
      for (const row of rows) {
        const alert = decodeAlert(row.payload)
        const quoteFresh = row.deliveredAt - Date.parse(alert.decidedAt) <= quoteMaxAgeMs
        yield* sql`INSERT OR IGNORE INTO price_outcomes ${sql.insert({
          item_id: row.itemId,
          kind: "alert",
          ticker: alert.ticker.symbol,
          source: alert.item.source,
          form_type: alert.item.sec?.formType ?? null,
          title: alert.item.title,
          categories: JSON.stringify(alert.classification.categories),
          score: alert.classification.score,
          sentiment: alert.classification.sentiment,
          reason: null,
          alert_at: row.deliveredAt,
          quote_price: alert.market._tag === "Priced" && quoteFresh ? alert.market.quote.price : null,
          next_check_at: row.deliveredAt
        })}`
      }
      return rows.length
    }, Effect.orDie)

    /** At most OUTCOME_FILTERED_PER_DAY filtered items with a ticker, the highest-scored first. */
    const enrolFilteredSample = Effect.fn("OutcomeTracker.enrolFilteredSample")(function* (now: number) {
      if (settings.filteredPerDay === 0) return 0
      const [tracked] = yield* sql<{ n: number }>`
        SELECT count(*) AS n FROM price_outcomes WHERE kind = 'filtered' AND alert_at >= ${now - day}`
      const room = settings.filteredPerDay - (tracked?.n ?? 0)
      if (room <= 0) return 0
      const rows = yield* sql<{
        itemId: string
        archivedAt: number
        source: string
        ticker: string
        formType: string | null
        title: string
        reason: string | null
        classification: string | null
        market: string | null
      }>`
        SELECT a.item_id AS itemId, a.archived_at AS archivedAt, a.source, a.ticker, a.form_type AS formType,
          a.title, a.reason, a.classification, a.market FROM item_archive a
        LEFT JOIN price_outcomes p ON p.item_id = a.item_id
        WHERE a.outcome = 'filtered' AND a.ticker IS NOT NULL AND a.archived_at >= ${now - filteredEnrolWindowMs}
          AND p.item_id IS NULL
        ORDER BY a.score DESC, a.archived_at DESC LIMIT ${room}`
      for (const row of rows) {
        const classification = row.classification === null ? null : decodeClassification(row.classification)
        const snapshot = row.market === null ? null : decodeMarket(row.market)
        yield* sql`INSERT OR IGNORE INTO price_outcomes ${sql.insert({
          item_id: row.itemId,
          kind: "filtered",
          ticker: row.ticker,
          source: row.source,
          form_type: row.formType,
          title: row.title,
          categories: JSON.stringify(classification?.categories ?? []),
          score: classification?.score ?? 0,
          sentiment: classification?.sentiment ?? 0,
          reason: row.reason,
          alert_at: row.archivedAt,
          quote_price: snapshot?._tag === "Priced" ? snapshot.quote.price : null,
          next_check_at: row.archivedAt
        })}`
      }
      return rows.length
    }, Effect.orDie)

    /** A provider failure reads as "no data yet": the checkpoint waits and is retried, it isn't lost. */
    const barsOrNone = (symbol: string, interval: BarInterval) =>
      market
        .bars(symbol, interval)
        .pipe(
          Effect.catchAllCause((cause) =>
            Effect.as(Effect.logDebug(`${interval} bars for ${symbol} unavailable`, cause), Option.none<BarSeries>())
          )
        )

    const checkDue = Effect.fn("OutcomeTracker.checkDue")(function* (now: number) {
      const rows = yield* sql<OutcomeRow>`
        SELECT ${sql.literal(selectColumns)} FROM price_outcomes
        WHERE status = 'open' AND next_check_at <= ${now} ORDER BY next_check_at LIMIT ${checksPerTick}`
      const entries = rows.map((row) => ({ row, progress: toProgress(row) }))
      const wanted = (interval: "intraday" | "daily") =>
        new Set(entries.filter(({ progress }) => seriesNeeded(progress, now)[interval]).map(({ row }) => row.ticker))
      const fetchAll = (symbols: Iterable<string>, interval: BarInterval) =>
        Effect.forEach(
          symbols,
          (symbol) => Effect.map(barsOrNone(symbol, interval), (bars) => [symbol, bars] as const),
          {
            concurrency: 4
          }
        ).pipe(Effect.map((pairs) => new Map(pairs)))
      const intraday = yield* fetchAll(wanted("intraday"), "5m")
      const daily = yield* fetchAll(wanted("daily"), "1d")

      let completed = 0
      for (const { row, progress } of entries) {
        const next = advance(progress, {
          now,
          intraday: intraday.get(row.ticker) ?? Option.none(),
          daily: daily.get(row.ticker) ?? Option.none()
        })
        const checkAt = nextCheckAt(next, now)
        if (checkAt === null) completed++
        yield* sql`UPDATE price_outcomes SET
          price_at_alert = ${next.priceAtAlert}, price_15m = ${next.price15m}, price_1h = ${next.price1h},
          price_4h = ${next.price4h}, price_next_close = ${next.priceNextClose},
          max_favourable_1h_pct = ${next.maxFavourable1hPct}, max_adverse_1h_pct = ${next.maxAdverse1hPct},
          missing = ${JSON.stringify(next.missing)}, status = ${checkAt === null ? "complete" : "open"},
          next_check_at = ${checkAt ?? now}, checked_at = ${now}
          WHERE item_id = ${row.itemId}`
      }
      return { checked: rows.length, completed }
    }, Effect.orDie)

    /** One pass: enrol new alerts and samples, resolve due checkpoints, purge past ARCHIVE_DAYS hourly. */
    const tick = Effect.fn("OutcomeTracker.tick")(function* () {
      const now = yield* Clock.currentTimeMillis
      const enrolled = (yield* enrolDelivered(now)) + (yield* enrolFilteredSample(now))
      const { checked, completed } = yield* checkDue(now)
      if (now - (yield* Ref.get(lastPurge)) >= purgeEveryMs) {
        yield* archive.purgeExpired()
        yield* Ref.set(lastPurge, now)
      }
      if (enrolled + completed > 0) {
        yield* Effect.logDebug(`${enrolled} outcomes enrolled, ${checked} checked, ${completed} completed`)
      }
      return { enrolled, checked, completed } satisfies TickReport
    })

    return { tick } as const
  }),
  dependencies: [SqlLive, AppConfig.Default, MarketData.Default, ItemArchive.Default]
}) {}

/** The tracking fiber: its own schedule, its own failures; a cycle never waits for it. */
export const OutcomeTrackerLoop = Layer.scopedDiscard(
  Effect.gen(function* () {
    const tracker = yield* OutcomeTracker
    const { outcomes: settings } = yield* AppConfig
    const loop = tracker.tick().pipe(
      Effect.catchAllCause((cause) => Effect.logError("outcome tracking pass failed", cause)),
      Effect.repeat(Schedule.spaced(Duration.seconds(settings.pollSeconds)))
    )
    yield* Effect.forkScoped(loop)
    yield* Effect.logInfo(`outcome tracking started, every ${settings.pollSeconds} s`)
  }).pipe(Effect.annotateLogs("module", "Outcomes"))
)
