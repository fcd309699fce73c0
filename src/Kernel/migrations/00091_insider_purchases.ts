import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/** Form 4 open-market purchases by issuer, to see several insiders buying within days (a cluster buy). */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE insider_purchases (
    accession TEXT NOT NULL,
    owner TEXT NOT NULL,
    issuer_cik TEXT NOT NULL,
    traded_at BIGINT NOT NULL,
    PRIMARY KEY (accession, owner)
  )`
  yield* sql`CREATE INDEX insider_purchases_issuer ON insider_purchases (issuer_cik, traded_at)`
})
