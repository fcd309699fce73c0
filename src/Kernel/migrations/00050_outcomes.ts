import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { generatedId, withoutRowid } from "./dialect.js"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Every item a cycle decided on, with what it decided and why: the input of reports and backtests.
  yield* sql`CREATE TABLE item_archive (
    ${generatedId(sql, { neverReused: false })},
    item_id TEXT NOT NULL UNIQUE,
    archived_at BIGINT NOT NULL,
    source TEXT NOT NULL,
    ticker TEXT,
    form_type TEXT,
    title TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    score DOUBLE PRECISION,
    sentiment DOUBLE PRECISION,
    item TEXT NOT NULL,
    classification TEXT,
    market TEXT
  )`
  yield* sql`CREATE INDEX item_archive_archived_at ON item_archive (archived_at)`
  yield* sql`CREATE INDEX item_archive_filtered ON item_archive (outcome, archived_at) WHERE ticker IS NOT NULL`
  // What the price did after an alert (or after a sampled filtered item), checkpoint by checkpoint.
  yield* sql`CREATE TABLE price_outcomes (
    item_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    ticker TEXT NOT NULL,
    source TEXT NOT NULL,
    form_type TEXT,
    title TEXT NOT NULL,
    categories TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    sentiment DOUBLE PRECISION NOT NULL,
    reason TEXT,
    alert_at BIGINT NOT NULL,
    quote_price DOUBLE PRECISION,
    price_at_alert DOUBLE PRECISION,
    price_15m DOUBLE PRECISION,
    price_1h DOUBLE PRECISION,
    price_4h DOUBLE PRECISION,
    price_next_close DOUBLE PRECISION,
    max_favourable_1h_pct DOUBLE PRECISION,
    max_adverse_1h_pct DOUBLE PRECISION,
    missing TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'open',
    next_check_at BIGINT NOT NULL,
    checked_at BIGINT
  )${withoutRowid(sql)}`
  yield* sql`CREATE INDEX price_outcomes_due ON price_outcomes (status, next_check_at)`
  yield* sql`CREATE INDEX price_outcomes_alert_at ON price_outcomes (kind, alert_at)`
})
