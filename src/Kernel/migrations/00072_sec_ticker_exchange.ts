import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * Each SEC listing's exchange (company_tickers_exchange.json), so the OTC filter works for filings.
 * The cached map predates it: marking it stale makes the next lookup fetch the file with exchanges.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE sec_company_tickers ADD COLUMN exchange TEXT`
  yield* sql`UPDATE sec_company_tickers_meta SET fetched_at = 0`
})
