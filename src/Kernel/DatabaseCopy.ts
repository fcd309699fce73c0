import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Layer, Redacted } from "effect"
import { existsSync } from "node:fs"
import { AppConfig } from "./AppConfig.js"
import { databaseFile, PgLive, SqliteLive, StorageError } from "./Sql.js"

/**
 * `catalyst-bot migrate --to postgres://…`: every table of the SQLite database in DATA_DIR, row for
 * row, into PostgreSQL. One generic copier rather than an export/import pair per store: the copy
 * does not interpret a single column (both sides have the same schema, from the same migrations),
 * so per-store code would be nine copies of the same loop, and a table added later is copied
 * without anyone remembering to. It reads table names from SQLite's catalogue, never from a list.
 */

export interface TableCopy {
  readonly table: string
  readonly rows: number
  readonly copied: number
}

const rowsPerStatement = 500

const clientOf = <E>(layer: Layer.Layer<SqlClient.SqlClient, E>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, SqlClient.SqlClient))

/**
 * Rows whose primary key PostgreSQL already has are left alone, so a second run copies nothing and
 * a run cut short is finished by the next. No transaction around it: @effect/sql runs every client's
 * statements on the open transaction's connection, so the SQLite reads would go to PostgreSQL.
 */
const copyTable = (source: SqlClient.SqlClient, target: SqlClient.SqlClient, table: string) =>
  Effect.gen(function* () {
    const keys = yield* source<{ name: string }>`
      SELECT name FROM pragma_table_info(${table}) WHERE pk > 0 ORDER BY pk`
    const quoted = keys.map((key) => `"${key.name.replaceAll('"', '""')}"`)
    const order = source.literal(quoted.length === 0 ? "1" : quoted.join(", "))
    let rows = 0
    let copied = 0
    for (;;) {
      const page = yield* source<Record<string, unknown>>`
        SELECT * FROM ${source(table)} ORDER BY ${order} LIMIT ${rowsPerStatement} OFFSET ${rows}`
      if (page.length === 0) break
      const inserted = yield* target`
        INSERT INTO ${target(table)} ${target.insert(page)} ON CONFLICT DO NOTHING RETURNING 1 AS copied`
      rows += page.length
      copied += inserted.length
      if (page.length < rowsPerStatement) break
    }
    // Ids were copied as they were: the table's sequence must start after the highest of them.
    const [serial] = yield* target<{ sequence: string | null }>`
      SELECT pg_get_serial_sequence(table_name, column_name) AS sequence FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = ${table} AND column_name = 'id'`
    if (serial?.sequence) {
      yield* target`SELECT setval(${serial.sequence}, (SELECT coalesce(max(id), 0) + 1 FROM ${target(table)}), false)`
    }
    return { table, rows, copied } satisfies TableCopy
  })

export const copySqliteToPostgres = Effect.fn("DatabaseCopy.copySqliteToPostgres")(function* (url: Redacted.Redacted) {
  const { storage } = yield* AppConfig
  const file = databaseFile(storage.dataDir)
  if (file === ":memory:" || !existsSync(file)) {
    return yield* new StorageError({ message: `DATA_DIR ${storage.dataDir} has no SQLite database to copy (${file})` })
  }
  // Both sides are migrated to this build first, so their tables and columns are the same.
  const source = yield* clientOf(SqliteLive(storage))
  const target = yield* clientOf(PgLive(url))
  // work_owners is cluster mode's live record of who runs what: SQLite never runs a cluster, and a copy of it would be stale.
  const tables = yield* source<{ name: string }>`
    SELECT name FROM sqlite_master
    WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT IN ('effect_sql_migrations', 'work_owners')
    ORDER BY name`
  return yield* Effect.forEach(tables, ({ name }) =>
    copyTable(source, target, name).pipe(
      Effect.mapError(
        (error) =>
          new StorageError({
            message: `copying ${name} failed: ${error.cause instanceof Error ? error.cause.message : error.message}`
          })
      )
    )
  )
}, Effect.scoped)
