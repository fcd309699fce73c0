import { SqlClient } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Cause, Data, Effect, Layer } from "effect"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { AppConfig } from "./AppConfig.js"
import { migrations } from "./migrations/index.js"

export class StorageError extends Data.TaggedError("StorageError")<{ readonly message: string }> {}

/** Another process holds the write lock longer than SQLITE_BUSY_TIMEOUT_MS (https://www.sqlite.org/rescode.html#busy). */
export class DatabaseLocked extends Data.TaggedError("DatabaseLocked")<{ readonly message: string }> {}

const lockedMessage = (filename: string, busyTimeoutMs: number) =>
  `database ${filename} is locked by another connection (still busy after SQLITE_BUSY_TIMEOUT_MS=${busyTimeoutMs})`

/** SQLITE_BUSY/SQLITE_LOCKED anywhere in the error chain (SqlError wraps the driver's error as `cause`). */
const isBusy = (error: unknown): boolean => {
  for (let current = error, depth = 0; current !== null && typeof current === "object" && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code
    if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

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
      Layer.fail(
        isBusy(Cause.squash(cause))
          ? new DatabaseLocked({ message: lockedMessage(filename, storage.busyTimeoutMs) })
          : new StorageError({ message: `database ${filename} can't be opened: ${describe(cause)}` })
      )
    )
  })
)

/** Built once as a constant: migrations always run before anything can use the client. */
export const SqlLive = ClientLive.pipe(Layer.provide(AppConfig.Default))

/**
 * For `run` and `once`: the write lock can be had within SQLITE_BUSY_TIMEOUT_MS before any work
 * starts, so a lock held by another process is one clear start-up error instead of a defect in the
 * first write (recovering the outbox).
 */
export const SqlWritable = Layer.effectDiscard(
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { storage } = yield* AppConfig
    const filename = databaseFile(storage.dataDir)
    yield* sql.unsafe("BEGIN IMMEDIATE").pipe(
      Effect.zipRight(sql.unsafe("ROLLBACK")),
      Effect.mapError((error): DatabaseLocked | StorageError =>
        isBusy(error)
          ? new DatabaseLocked({ message: lockedMessage(filename, storage.busyTimeoutMs) })
          : new StorageError({ message: `database ${filename} can't be written: ${error.message}` })
      )
    )
  })
).pipe(Layer.provideMerge(SqlLive), Layer.provide(AppConfig.Default))
