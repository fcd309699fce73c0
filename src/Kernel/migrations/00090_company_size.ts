import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * Each company's XBRL size facts, kept a day so a restart or a second alert on the same issuer
 * costs no SEC request. A row with NULL values records that SEC had no such fact (404).
 * Values are floating point: share counts and dollar floats exceed PostgreSQL's INTEGER.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE company_size (
    cik TEXT PRIMARY KEY,
    shares_outstanding DOUBLE PRECISION,
    shares_as_of TEXT,
    public_float_usd DOUBLE PRECISION,
    public_float_as_of TEXT,
    fetched_at BIGINT NOT NULL
  )`
  yield* sql`CREATE INDEX company_size_fetched_at ON company_size (fetched_at)`
})
