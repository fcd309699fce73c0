import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * Routes: one outbox row per (item, route), so an alert bound for three channels is three rows, each
 * delivered once. The route's name is stored, never its webhook URL (a secret). Rows queued before
 * routes existed belong to `default`. SQLite can't drop a column's UNIQUE constraint, so the table is
 * rebuilt with its ids (edits refer to them); PostgreSQL drops the constraint by its default name.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () =>
      Effect.gen(function* () {
        yield* sql`ALTER TABLE outbox ADD COLUMN route TEXT NOT NULL DEFAULT 'default'`
        yield* sql`ALTER TABLE outbox DROP CONSTRAINT outbox_item_id_key`
        yield* sql`CREATE UNIQUE INDEX outbox_item_route ON outbox (item_id, route)`
      }),
    orElse: () =>
      Effect.gen(function* () {
        yield* sql`ALTER TABLE outbox RENAME TO outbox_unrouted`
        yield* sql`CREATE TABLE outbox (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          item_id TEXT NOT NULL,
          route TEXT NOT NULL DEFAULT 'default',
          ticker TEXT NOT NULL,
          payload TEXT NOT NULL,
          status TEXT NOT NULL DEFAULT 'pending',
          attempts INTEGER NOT NULL DEFAULT 0,
          created_at BIGINT NOT NULL,
          next_attempt_at BIGINT NOT NULL,
          delivered_at BIGINT,
          message_id TEXT,
          last_error TEXT,
          sending_at BIGINT,
          queued_at BIGINT,
          maybe_sent INTEGER NOT NULL DEFAULT 0,
          source TEXT NOT NULL DEFAULT '',
          llm_pending INTEGER NOT NULL DEFAULT 0,
          version INTEGER NOT NULL DEFAULT 0,
          trace_id TEXT,
          span_id TEXT,
          UNIQUE (item_id, route)
        )`
        yield* sql`INSERT INTO outbox (id, item_id, ticker, payload, status, attempts, created_at,
            next_attempt_at, delivered_at, message_id, last_error, sending_at, queued_at, maybe_sent, source,
            llm_pending, version, trace_id, span_id)
          SELECT id, item_id, ticker, payload, status, attempts, created_at, next_attempt_at, delivered_at,
            message_id, last_error, sending_at, queued_at, maybe_sent, source, llm_pending, version, trace_id,
            span_id FROM outbox_unrouted`
        // Its indexes go with it, so theirs can be made again on the new table.
        yield* sql`DROP TABLE outbox_unrouted`
        yield* sql`CREATE INDEX outbox_pending ON outbox (status, next_attempt_at, id)`
        yield* sql`CREATE INDEX outbox_ticker_sending ON outbox (ticker, sending_at)`
        yield* sql`CREATE INDEX outbox_source_queue ON outbox (status, source, id)`
        yield* sql`CREATE INDEX outbox_created ON outbox (created_at, source)`
        yield* sql`CREATE INDEX outbox_llm_pending ON outbox (id) WHERE llm_pending = 1`
        yield* sql`CREATE INDEX outbox_ticker_created ON outbox (ticker, created_at)`
      })
  })
  yield* sql`CREATE INDEX outbox_route_status ON outbox (route, status)`
})
