import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { withoutRowid } from "./dialect.js"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE feed_state (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    body_hash TEXT,
    updated_at BIGINT NOT NULL
  )${withoutRowid(sql)}`
  yield* sql`CREATE TABLE sec_company_tickers (
    cik INTEGER NOT NULL,
    ticker TEXT NOT NULL,
    title TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (cik, ticker)
  )${withoutRowid(sql)}`
  yield* sql`CREATE TABLE sec_company_tickers_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    fetched_at BIGINT NOT NULL,
    entries INTEGER NOT NULL
  )`
})
