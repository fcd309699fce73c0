import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * Cluster mode (CLUSTER=1): `work_owners` keeps, per poller and per route, the runner that holds it
 * and an epoch that moves on at every takeover; an outbox row is claimed with the route's epoch just
 * before its send, so a runner that lost the route can no longer claim its rows.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE work_owners (
    work TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    since BIGINT NOT NULL,
    previous_owner TEXT
  )`
  yield* sql`ALTER TABLE outbox ADD COLUMN claimed_by TEXT`
  yield* sql`ALTER TABLE outbox ADD COLUMN claim_epoch BIGINT`
})
