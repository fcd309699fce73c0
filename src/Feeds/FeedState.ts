import { SqlClient } from "@effect/sql"
import { Clock, Effect, Option } from "effect"
import { SqlLive } from "../Sql.js"

/** What a feed's server told us last time, so the next request can be conditional. */
export interface Validators {
  readonly etag: string | null
  readonly lastModified: string | null
  readonly bodyHash: string | null
}

/** ETag / Last-Modified / body hash per feed URL, persisted so a restart still sends conditional GETs. */
export class FeedStateRepo extends Effect.Service<FeedStateRepo>()("Feeds/FeedStateRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const get = Effect.fn("FeedStateRepo.get")(function* (url: string) {
      const rows = yield* sql<{ etag: string | null; last_modified: string | null; body_hash: string | null }>`
        SELECT etag, last_modified, body_hash FROM feed_state WHERE url = ${url}`
      return Option.map(Option.fromNullable(rows[0]), (row): Validators => ({
        etag: row.etag,
        lastModified: row.last_modified,
        bodyHash: row.body_hash
      }))
    }, Effect.orDie)

    const save = Effect.fn("FeedStateRepo.save")(function* (url: string, validators: Validators) {
      const now = yield* Clock.currentTimeMillis
      yield* sql`INSERT INTO feed_state (url, etag, last_modified, body_hash, updated_at)
        VALUES (${url}, ${validators.etag}, ${validators.lastModified}, ${validators.bodyHash}, ${now})
        ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
          body_hash = excluded.body_hash, updated_at = excluded.updated_at`
    }, Effect.orDie)

    return { get, save } as const
  }),
  dependencies: [SqlLive]
}) {}
