import * as SqlClient from "@effect/sql/SqlClient"
import * as Migrator from "@effect/sql/Migrator"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Cause, Data, Duration, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import type * as PgTypesModule from "pg-types"
import { AppConfig } from "./AppConfig.js"
import { migrations } from "./migrations/index.js"
import { redactUrl } from "./Scrub.js"

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

/** The migration ids this build knows; a database that has a higher one was written by a newer build. */
const newestKnownMigration = Math.max(...Object.keys(migrations).map((key) => Number.parseInt(key, 10)))

/** Where the database is, for messages: the SQLite file, or the PostgreSQL URL without its password. */
export const databaseLabel = (storage: AppConfig["storage"]): string =>
  Option.match(storage.databaseUrl, {
    onNone: () => `database ${databaseFile(storage.dataDir)}`,
    onSome: (url) => `DATABASE_URL ${redactUrl(Redacted.value(url))}`
  })

/**
 * Migrations run only forward: a build older than the database would silently skip the newer
 * migrations and then misread their tables, so it refuses to start instead.
 */
const SchemaNotNewer = (label: string) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ id: number | null }>`SELECT max(migration_id) AS id FROM effect_sql_migrations`
      const applied = Number(row?.id ?? 0)
      if (applied > newestKnownMigration) {
        return yield* new StorageError({
          message: `${label}: database schema is newer than this build (it has migration ${applied}, this build knows up to ${newestKnownMigration}); run the newer catalyst-bot`
        })
      }
    })
  )

/**
 * One connection for the whole process: SqliteClient serialises every statement and transaction
 * behind a single semaphore, so concurrent fibers can't race each other into SQLITE_BUSY.
 */
/** The migrator's types ask for a platform (it can dump schemas); we don't dump, but provide it. */
const SqliteMigratorLive = SqliteMigrator.layer({ loader: Migrator.fromRecord(migrations) }).pipe(
  Layer.provide(NodeContext.layer)
)

/** The SQLite file in DATA_DIR (or SQLite's in-memory database for ":memory:"). */
export const databaseFile = (dataDir: string): string =>
  dataDir === ":memory:" ? ":memory:" : join(dataDir, "catalyst-bot.sqlite")

/**
 * The stores read counts and epoch milliseconds as numbers, as SQLite gives them: pg hands int8
 * (BIGINT, count(*)) and numeric (sum of BIGINT) over as strings unless told otherwise.
 */
const pgTypesOf = (PgTypes: typeof PgTypesModule) => ({
  getTypeParser: (oid: number, format?: "text" | "binary") =>
    oid === PgTypes.builtins.INT8 || oid === PgTypes.builtins.NUMERIC
      ? (value: string) => Number(value)
      : format === "binary"
        ? PgTypes.getTypeParser(oid, "binary")
        : PgTypes.getTypeParser(oid, "text")
})

/** The driver's error code anywhere in the chain (SqlError wraps it as `cause`). */
const errorCode = (error: unknown): string | undefined => {
  for (let current = error, depth = 0; current !== null && typeof current === "object" && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/**
 * Two processes running `CREATE TABLE IF NOT EXISTS` on one fresh database can both pass the check,
 * and the later insert into the catalog fails with unique_violation (23505) or duplicate_table (42P07):
 * runners started together hit this on their first start. Tried again, the table is there.
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
const isCatalogRace = (error: unknown) => {
  const code = errorCode(error)
  return code === "23505" || code === "42P07" || code === "42710"
}

/** Start-up schema work on PostgreSQL, tried again while it loses a catalog race to another runner. */
export const retryCatalogRace = <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.retry(
    layer,
    Schedule.spaced("100 millis").pipe(
      Schedule.jittered,
      Schedule.intersect(Schedule.recurs(10)),
      Schedule.whileInput((error: E) => isCatalogRace(error))
    )
  )

/** Why PostgreSQL can't be used, in words an operator acts on; never the URL's password. */
export const describePgFailure = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const code = errorCode(error)
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused (is PostgreSQL running on that host and port?)"
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "unknown host"
    case "ETIMEDOUT":
      return "connection timed out"
    case "28P01":
    case "28000":
      return "authentication failed (wrong user name or password)"
    case "3D000":
      return "the database does not exist"
  }
  const message = error instanceof Error ? error.message : String(error)
  if (/timed out/i.test(message)) return "connection timed out"
  if (error instanceof StorageError) return message
  return (code === undefined ? "" : `${code}: `) + scrubMessage(message)
}

/** A driver message can quote the connection string; keep only what can't carry its password. */
const scrubMessage = (message: string) => message.replace(/postgres(?:ql)?:\/\/\S+/gi, (url) => redactUrl(url))

export const SqliteLive = (storage: AppConfig["storage"]) => {
  const filename = databaseFile(storage.dataDir)
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
  const migrated = SchemaNotNewer(`database ${filename}`).pipe(
    Layer.provideMerge(SqliteMigratorLive),
    Layer.provideMerge(pragmas),
    Layer.provideMerge(
      SqliteClient.layer({ filename, disableWAL: !storage.walMode, spanAttributes: { "db.name": filename } })
    )
  )
  return Layer.catchAllCause(migrated, (cause) =>
    Layer.fail(
      isBusy(Cause.squash(cause))
        ? new DatabaseLocked({ message: lockedMessage(filename, storage.busyTimeoutMs) })
        : Cause.squash(cause) instanceof StorageError
          ? (Cause.squash(cause) as StorageError)
          : new StorageError({ message: `database ${filename} can't be opened: ${describe(cause)}` })
    )
  )
}

/**
 * The server ends any session of this pool that sits inside a transaction longer than `limit`, rolling
 * it back and releasing its locks. A runner paused mid-transaction (SIGSTOP, a frozen VM) would
 * otherwise hold its row locks forever, and the runner that took its work over would wait on them: its
 * insert of the same seen ids blocks until the paused transaction ends. node-postgres sends the URL's
 * `idle_in_transaction_session_timeout` as a start-up parameter; one already in the URL is kept.
 * https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-IDLE-IN-TRANSACTION-SESSION-TIMEOUT
 */
const withIdleInTransactionTimeout = (databaseUrl: Redacted.Redacted, limit: Duration.Duration) => {
  const url = new URL(Redacted.value(databaseUrl))
  if (!url.searchParams.has("idle_in_transaction_session_timeout"))
    url.searchParams.set("idle_in_transaction_session_timeout", String(Duration.toMillis(limit)))
  return Redacted.make(url.href)
}

/**
 * The pool, its migrations, and the same newer-schema check as SQLite. The driver (pg, through @effect/sql-pg) is
 * imported only here, so a bot on SQLite never loads it.
 */
export const PgLive = (
  databaseUrl: Redacted.Redacted,
  options: { readonly idleInTransaction?: Duration.Duration } = {}
) => {
  const label = `DATABASE_URL ${redactUrl(Redacted.value(databaseUrl))}`
  const url =
    options.idleInTransaction === undefined
      ? databaseUrl
      : withIdleInTransactionTimeout(databaseUrl, options.idleInTransaction)
  const driver = Effect.promise(() => Promise.all([import("@effect/sql-pg"), import("pg-types")]))
  const migrated = Layer.unwrapEffect(
    Effect.map(driver, ([{ PgClient, PgMigrator }, PgTypes]) =>
      retryCatalogRace(
        SchemaNotNewer(label).pipe(
          Layer.provideMerge(
            PgMigrator.layer({ loader: Migrator.fromRecord(migrations) }).pipe(Layer.provide(NodeContext.layer))
          ),
          Layer.provideMerge(
            PgClient.layer({
              url,
              types: pgTypesOf(PgTypes),
              applicationName: "catalyst-bot",
              connectTimeout: Duration.seconds(10),
              maxConnections: 10,
              spanAttributes: { "db.system": "postgresql" }
            })
          )
        )
      )
    )
  )
  return Layer.catchAllCause(migrated, (cause) =>
    Layer.fail(
      Cause.squash(cause) instanceof StorageError
        ? (Cause.squash(cause) as StorageError)
        : new StorageError({ message: `${label}: can't use PostgreSQL: ${describePgFailure(cause)}` })
    )
  )
}

/** PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR: the one place the client is built. */
const ClientLive = Layer.unwrapEffect(
  Effect.gen(function* () {
    const { storage, cluster } = yield* AppConfig
    // In cluster mode a transaction can't outlive the lease: past it, the work belongs to another runner.
    if (Option.isSome(storage.databaseUrl))
      return PgLive(
        storage.databaseUrl.value,
        cluster.enabled ? { idleInTransaction: Duration.seconds(cluster.leaseSeconds) } : {}
      )
    const filename = databaseFile(storage.dataDir)
    if (filename !== ":memory:") {
      yield* Effect.try({
        try: () => mkdirSync(storage.dataDir, { recursive: true }),
        catch: (cause) =>
          new StorageError({ message: `DATA_DIR ${storage.dataDir} can't be created: ${String(cause)}` })
      })
    }
    return SqliteLive(storage)
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
    // PostgreSQL has row locks, not a database-wide write lock; connecting proved it usable.
    if (Option.isSome(storage.databaseUrl)) return
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
