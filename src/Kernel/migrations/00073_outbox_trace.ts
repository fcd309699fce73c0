import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/** The trace of the poll that queued each alert, so its delivery and later edits link back to it. */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE outbox ADD COLUMN trace_id TEXT`
  yield* sql`ALTER TABLE outbox ADD COLUMN span_id TEXT`
})
