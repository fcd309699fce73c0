import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/** A later item looks up the recent alerts of its tickers (one event, story updates) by ticker and age. */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE INDEX outbox_ticker_created ON outbox (ticker, created_at)`
})
