import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { inject } from "vitest"
import { configLayer, tempDir } from "./TestLayers.js"

/** The two databases every store runs on: `describe.each(databases)` runs a suite on both. */
export const databases = ["sqlite", "pg"] as const
export type DatabaseKind = (typeof databases)[number]

let created = 0

/** The URL of a new, empty database on the run's PostgreSQL server (PostgresSetup.ts), dropped with the scope. */
export const freshPgDatabase = Effect.gen(function* () {
  const admin = new URL(inject("postgresUrl"))
  const name = `t${process.pid}_${++created}_${Date.now() % 1_000_000}`
  const onAdmin = (statement: string) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(admin.href) })),
      Effect.orDie
    )
  yield* Effect.acquireRelease(onAdmin(`CREATE DATABASE "${name}"`), () =>
    onAdmin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  )
  const url = new URL(admin.href)
  url.pathname = `/${name}`
  return url.href
})

/**
 * Config for one test on `kind`: DATA_DIR in a scoped temp directory (the instance lock and the
 * SQLite file live there), and for PostgreSQL a DATABASE_URL of its own fresh database.
 */
export const databaseConfig = (kind: DatabaseKind, values: Record<string, string | number | boolean> = {}) =>
  Layer.unwrapScoped(Effect.map(databaseSettings(kind), (database) => configLayer({ ...database, ...values })))

/**
 * The settings behind `databaseConfig`, for a test that builds the bot more than once on the same
 * database (a restart): DATA_DIR, and DATABASE_URL on PostgreSQL.
 */
export const databaseSettings = (kind: DatabaseKind) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const databaseUrl = kind === "pg" ? { DATABASE_URL: yield* freshPgDatabase } : {}
    return { DATA_DIR: dir, ...databaseUrl }
  })
