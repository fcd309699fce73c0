import { SqlClient } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import { NodeContext } from "@effect/platform-node"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Cause, Data, Effect, Layer } from "effect"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { AppConfig } from "./AppConfig.js"
import { migrations } from "./migrations/index.js"

export class StorageError extends Data.TaggedError("StorageError")<{ readonly message: string }> {}

const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

/**
 * One connection for the whole process: SqliteClient serialises every statement and transaction
 * behind a single semaphore, so concurrent fibers can't race each other into SQLITE_BUSY.
 */
/** The migrator's types ask for a platform (it can dump schemas); we don't dump, but provide it. */
const MigratorLive = SqliteMigrator.layer({ loader: Migrator.fromRecord(migrations) }).pipe(
  Layer.provide(NodeContext.layer)
)

/** The SQLite file in DATA_DIR (or SQLite's in-memory database for ":memory:"). */
export const databaseFile = (dataDir: string): string =>
  dataDir === ":memory:" ? ":memory:" : join(dataDir, "catalyst-bot.sqlite")

const ClientLive = Layer.unwrapEffect(
  Effect.gen(function* () {
    const { storage } = yield* AppConfig
    const filename = databaseFile(storage.dataDir)
    if (filename !== ":memory:") {
      yield* Effect.try({
        try: () => mkdirSync(storage.dataDir, { recursive: true }),
        catch: (cause) =>
          new StorageError({ message: `DATA_DIR ${storage.dataDir} can't be created: ${String(cause)}` })
      })
    }
    const pragmas = Layer.effectDiscard(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`PRAGMA busy_timeout = ${storage.busyTimeoutMs}`)
        if (!storage.walMode) yield* sql.unsafe("PRAGMA journal_mode = DELETE")
        yield* sql.unsafe(`PRAGMA synchronous = ${storage.synchronous}`)
        yield* sql.unsafe(`PRAGMA cache_size = ${storage.cacheSize}`)
        yield* sql.unsafe(`PRAGMA mmap_size = ${storage.mmapSize}`)
        yield* sql.unsafe("PRAGMA temp_store = MEMORY")
        yield* sql.unsafe("PRAGMA foreign_keys = ON")
      })
    )
    const migrated = MigratorLive.pipe(
      Layer.provideMerge(pragmas),
      Layer.provideMerge(
        SqliteClient.layer({ filename, disableWAL: !storage.walMode, spanAttributes: { "db.name": filename } })
      )
    )
    return Layer.catchAllCause(migrated, (cause) =>
      Layer.fail(new StorageError({ message: `database ${filename} can't be opened: ${describe(cause)}` }))
    )
  })
)

/** Built once as a constant: migrations always run before anything can use the client. */
export const SqlLive = ClientLive.pipe(Layer.provide(AppConfig.Default))
