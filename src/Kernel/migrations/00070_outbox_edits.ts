import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { generatedId } from "./dialect.js"

/**
 * Post first, edit in the rest (LLM_MODE=enrich, late charts). `outbox.llm_pending` marks alerts that
 * went out on keywords and still wait for their LLM verdict; `outbox.version` counts changes to a
 * row's payload after it was queued, so delivery can tell that what it sent is already stale.
 * `outbox_edits` is the durable queue of message edits, one row per requested edit of an alert.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE outbox ADD COLUMN llm_pending INTEGER NOT NULL DEFAULT 0`
  yield* sql`ALTER TABLE outbox ADD COLUMN version INTEGER NOT NULL DEFAULT 0`
  yield* sql`CREATE INDEX outbox_llm_pending ON outbox (id) WHERE llm_pending = 1`
  yield* sql`CREATE TABLE outbox_edits (
    ${generatedId(sql, { neverReused: true })},
    outbox_id BIGINT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
  )`
  yield* sql`CREATE INDEX outbox_edits_due ON outbox_edits (status, next_attempt_at)`
})
