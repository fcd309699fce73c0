import { SqlClient } from "@effect/sql"
import { Array as Arr, Effect, Schema } from "effect"
import type { CheckpointPrices, TrackedOutcome } from "./Stats.js"
import { SqlLive } from "../Kernel/Sql.js"

const decodeStrings = Schema.decodeUnknownSync(Schema.parseJson(Schema.Array(Schema.String)))

export interface OutcomeRow extends CheckpointPrices {
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

export const selectColumns = `item_id AS itemId, kind, ticker, source, form_type AS formType, title, categories, score,
  sentiment, reason, alert_at AS alertAt, quote_price AS quotePrice, price_at_alert AS priceAtAlert,
  price_15m AS price15m, price_1h AS price1h, price_4h AS price4h, price_next_close AS priceNextClose,
  max_favourable_1h_pct AS maxFavourable1hPct, max_adverse_1h_pct AS maxAdverse1hPct, missing, status`

/** Read side of the tracked outcomes, for the report and the backtest (no market data needed). */
export class OutcomeStore extends Effect.Service<OutcomeStore>()("Outcomes/OutcomeStore", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const since = Effect.fn("OutcomeTracker.since")(function* (from: number) {
      const rows = yield* sql<OutcomeRow>`
        SELECT ${sql.literal(selectColumns)} FROM price_outcomes WHERE alert_at >= ${from} ORDER BY alert_at`
      return rows.map(toTracked)
    }, Effect.orDie)

    const forItems = Effect.fn("OutcomeTracker.forItems")(function* (itemIds: ReadonlyArray<string>) {
      const found = new Map<string, TrackedOutcome>()
      for (const chunk of Arr.chunksOf([...new Set(itemIds)], 500)) {
        const rows = yield* sql<OutcomeRow>`
          SELECT ${sql.literal(selectColumns)} FROM price_outcomes WHERE item_id IN ${sql.in(chunk)}`
        for (const row of rows) found.set(row.itemId, toTracked(row))
      }
      return found
    }, Effect.orDie)

    return { since, forItems } as const
  }),
  dependencies: [SqlLive]
}) {}
