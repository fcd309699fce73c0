import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { copySqliteToPostgres } from "../src/Kernel/DatabaseCopy.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { freshPgDatabase } from "./support/Databases.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

/** Rows in every table, with the awkward values: NULLs, floats, epoch ms past 2^31, quotes, JSON. */
const seed = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const at = 1_795_000_000_123
  yield* sql`INSERT INTO seen_items (id, source, seen_at) VALUES ('a', 'wire', ${at}), ('b''s', 'sec', ${at + 1})`
  yield* sql`INSERT INTO story_first_seen VALUES ('ABCD', 'sig', 'wire', 'a', ${at})`
  for (const n of [1, 2, 3]) {
    yield* sql`INSERT INTO outbox (item_id, ticker, payload, status, created_at, next_attempt_at, queued_at, source, llm_pending)
      VALUES (${`item${n}`}, 'ABCD', ${JSON.stringify({ n, text: 'é "q"' })}, 'pending', ${at}, ${at}, ${at}, 'wire', ${n % 2})`
  }
  yield* sql`DELETE FROM outbox WHERE item_id = 'item2'`
  yield* sql`INSERT INTO outbox_edits (outbox_id, reason, created_at, next_attempt_at) VALUES (3, 'llm', ${at}, ${at})`
  yield* sql`INSERT INTO feed_state VALUES ('https://x.example/', 'e', NULL, 'h', ${at})`
  yield* sql`INSERT INTO sec_company_tickers (cik, ticker, title, position, exchange) VALUES (320193, 'AAPL', 'Apple', 0, 'NASDAQ')`
  yield* sql`INSERT INTO sec_company_tickers_meta VALUES (1, ${at}, 1)`
  yield* sql`INSERT INTO sec_llm_cache VALUES ('acc', '8-K', 'v1', '320193', '{}', ${at}, ${at + 9}, 2)`
  yield* sql`INSERT INTO llm_usage_daily VALUES ('2026-12-02', 'openai', 'm', 3, 3000000000, 5, 0.125)`
  yield* sql`INSERT INTO item_archive (item_id, archived_at, source, title, outcome, score, item)
    VALUES ('a', ${at}, 'wire', 'T', 'alerted', 2.5, '{}')`
  yield* sql`INSERT INTO price_outcomes (item_id, kind, ticker, source, title, categories, score, sentiment, alert_at, price_1h, next_check_at)
    VALUES ('a', 'alert', 'ABCD', 'wire', 'T', '[]', 2.5, -0.25, ${at}, 1.0625, ${at})`
  yield* sql`INSERT INTO company_size VALUES ('320193', 14681140000, '2025-10-17', 2.6e12, '2025-03-28', ${at})`
  yield* sql`INSERT INTO company_size VALUES ('1', NULL, NULL, NULL, NULL, ${at})`
  yield* sql`INSERT INTO insider_purchases VALUES ('0001-26-000001', 'Jane Doe', '320193', ${at})`
})

const tables = [
  "company_size",
  "feed_state",
  "insider_purchases",
  "item_archive",
  "llm_usage_daily",
  "outbox",
  "outbox_edits",
  "price_outcomes",
  "sec_company_tickers",
  "sec_company_tickers_meta",
  "sec_llm_cache",
  "seen_items",
  "story_first_seen"
]

const dump = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const out: Record<string, unknown> = {}
  for (const table of tables) out[table] = yield* sql`SELECT * FROM ${sql(table)} ORDER BY 1, 2`
  return out
})

describe("migrate --to", () => {
  it.scoped("copies every row of every table from SQLite to PostgreSQL, and a second run copies nothing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const url = yield* freshPgDatabase
      const onSqlite = Layer.mergeAll(SqlLive, AppConfig.Default).pipe(Layer.provide(configLayer({ DATA_DIR: dir })))
      const onPg = Layer.mergeAll(SqlLive, AppConfig.Default).pipe(
        Layer.provide(configLayer({ DATA_DIR: dir, DATABASE_URL: url }))
      )
      const before = yield* Effect.zipRight(seed, dump).pipe(Effect.provide(onSqlite))

      const first = yield* copySqliteToPostgres(Redacted.make(url)).pipe(Effect.provide(onSqlite))
      expect(first.map((copy) => copy.table)).toEqual(tables)
      expect(first.find((copy) => copy.table === "outbox")).toEqual({ table: "outbox", rows: 2, copied: 2 })
      expect(first.every((copy) => copy.rows > 0 && copy.copied === copy.rows)).toBe(true)
      expect(yield* dump.pipe(Effect.provide(onPg))).toEqual(before)

      const second = yield* copySqliteToPostgres(Redacted.make(url)).pipe(Effect.provide(onSqlite))
      expect(second.map((copy) => copy.copied)).toEqual(tables.map(() => 0))
      expect(yield* dump.pipe(Effect.provide(onPg))).toEqual(before)

      // The copied ids don't collide with the next ones PostgreSQL hands out.
      const next = yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        return yield* sql<{ id: number }>`INSERT INTO outbox (item_id, ticker, payload, created_at, next_attempt_at)
          VALUES ('new', 'ABCD', '{}', 1, 1) RETURNING id`
      }).pipe(Effect.provide(onPg))
      expect(next[0]?.id).toBe(4)
    })
  )
})
