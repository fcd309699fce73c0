import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Every item a cycle decided on, with what it decided and why: the input of reports and backtests.
  yield* sql`CREATE TABLE item_archive (
    id INTEGER PRIMARY KEY,
    item_id TEXT NOT NULL UNIQUE,
    archived_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    ticker TEXT,
    form_type TEXT,
    title TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    score REAL,
    sentiment REAL,
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
    score REAL NOT NULL,
    sentiment REAL NOT NULL,
    reason TEXT,
    alert_at INTEGER NOT NULL,
    quote_price REAL,
    price_at_alert REAL,
    price_15m REAL,
    price_1h REAL,
    price_4h REAL,
    price_next_close REAL,
    max_favourable_1h_pct REAL,
    max_adverse_1h_pct REAL,
    missing TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'open',
    next_check_at INTEGER NOT NULL,
    checked_at INTEGER
  ) WITHOUT ROWID`
  yield* sql`CREATE INDEX price_outcomes_due ON price_outcomes (status, next_check_at)`
  yield* sql`CREATE INDEX price_outcomes_alert_at ON price_outcomes (kind, alert_at)`
})
