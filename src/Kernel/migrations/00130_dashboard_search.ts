import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // The dashboard's item search narrows by ticker or source and shows the newest first.
  yield* sql`CREATE INDEX item_archive_ticker ON item_archive (ticker, archived_at)`
  yield* sql`CREATE INDEX item_archive_source ON item_archive (source, archived_at)`
  // Its alert list: the latest delivered alerts.
  yield* sql`CREATE INDEX outbox_delivered ON outbox (status, delivered_at)`
})
