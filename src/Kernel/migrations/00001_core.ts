import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { generatedId, withoutRowid } from "./dialect.js"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE seen_items (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    seen_at BIGINT NOT NULL
  )${withoutRowid(sql)}`
  yield* sql`CREATE INDEX seen_items_seen_at ON seen_items (seen_at)`
  yield* sql`CREATE TABLE story_first_seen (
    ticker TEXT NOT NULL,
    signature TEXT NOT NULL,
    source TEXT NOT NULL,
    item_id TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (ticker, signature)
  )${withoutRowid(sql)}`
  yield* sql`CREATE INDEX story_first_seen_at ON story_first_seen (first_seen_at)`
  yield* sql`CREATE TABLE outbox (
    ${generatedId(sql, { neverReused: true })},
    item_id TEXT NOT NULL UNIQUE,
    ticker TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    message_id TEXT,
    last_error TEXT
  )`
  yield* sql`CREATE INDEX outbox_pending ON outbox (status, next_attempt_at, id)`
})
