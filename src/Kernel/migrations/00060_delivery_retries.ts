import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * Delivery retries that outlast an outage. `queued_at` is when the row (re)entered the queue: it is
 * retried until ALERT_MAX_DELAY_MINUTES after that, then stops as 'expired'; `catalyst-bot outbox retry`
 * sets it afresh. `maybe_sent` is 1 once an attempt may have created the message (the request was
 * written, then a timeout, a reset or a 5xx): the next attempt checks the channel or is marked as a
 * possible repeat, never silently re-sent.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE outbox ADD COLUMN queued_at BIGINT`
  yield* sql`UPDATE outbox SET queued_at = created_at`
  yield* sql`ALTER TABLE outbox ADD COLUMN maybe_sent INTEGER NOT NULL DEFAULT 0`
})
