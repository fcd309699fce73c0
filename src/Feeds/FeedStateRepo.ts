import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Effect } from "effect"
import { SqlLive } from "../Kernel/Sql.js"

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

    /** The stored validators of every URL given that has any, in one query (the cycle asks for all its feeds). */
    const getMany = Effect.fn("FeedStateRepo.getMany")(function* (urls: ReadonlyArray<string>) {
      if (urls.length === 0) return new Map<string, Validators>()
      const rows = yield* sql<{
        url: string
        etag: string | null
        last_modified: string | null
        body_hash: string | null
      }>`
        SELECT url, etag, last_modified, body_hash FROM feed_state WHERE url IN ${sql.in(urls)}`
      return new Map(
        rows.map((row): [string, Validators] => [
          row.url,
          { etag: row.etag, lastModified: row.last_modified, bodyHash: row.body_hash }
        ])
      )
    }, Effect.orDie)

    const save = Effect.fn("FeedStateRepo.save")(function* (url: string, validators: Validators) {
      const now = yield* Clock.currentTimeMillis
      yield* sql`INSERT INTO feed_state (url, etag, last_modified, body_hash, updated_at)
        VALUES (${url}, ${validators.etag}, ${validators.lastModified}, ${validators.bodyHash}, ${now})
        ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
          body_hash = excluded.body_hash, updated_at = excluded.updated_at`
    }, Effect.orDie)

    return { getMany, save } as const
  }),
  dependencies: [SqlLive]
}) {}
