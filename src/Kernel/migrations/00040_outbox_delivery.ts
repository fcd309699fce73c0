import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * Delivery bookkeeping on the outbox. `sending_at` is written (committed) just before the request
 * leaves, so after a crash a row in status 'sending' is known to be in flight and is never re-sent
 * blindly; it also drives the per-ticker rate cap. Statuses: pending, sending, delivered, dead,
 * uncertain (in flight at a crash), deferred (over MAX_ALERTS_PER_CYCLE), dropped (over a cap, drop mode).
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE outbox ADD COLUMN sending_at BIGINT`
  yield* sql`CREATE INDEX outbox_ticker_sending ON outbox (ticker, sending_at)`
})
