import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * The feed each outbox row came from, so delivery can take turns between sources instead of draining
 * one source's backlog first, and a source's enqueues over the last minute can be counted.
 * `outbox_source_queue` serves both the per-source queues (status, source, id order) and the
 * distinct-source skip-scan; `outbox_created` the per-minute count.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE outbox ADD COLUMN source TEXT NOT NULL DEFAULT ''`
  yield* sql.onDialectOrElse({
    pg: () => sql`UPDATE outbox SET source = coalesce(payload::jsonb #>> '{item,source}', '')`,
    orElse: () => sql`UPDATE outbox SET source = coalesce(json_extract(payload, '$.item.source'), '')`
  })
  yield* sql`CREATE INDEX outbox_source_queue ON outbox (status, source, id)`
  yield* sql`CREATE INDEX outbox_created ON outbox (created_at, source)`
})
