import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Layer } from "effect"
import { createServer } from "node:net"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import { itemFixture } from "./support/Alerts.js"
import { ClusterStorageLive } from "../src/App/Cluster.js"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { databaseConfig, databases, freshPgDatabase } from "./support/Databases.js"
import { runCli } from "./support/Cli.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

/** The one line start-up would print for this configuration, or null when the database opened. */
const startupError = (config: Layer.Layer<never>) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(Effect.scoped(Layer.build(SqlLive.pipe(Layer.provide(config)))))
    if (Exit.isSuccess(exit)) return null
    const error = Cause.squash(exit.cause) as { message?: string }
    return String(error.message ?? error)
  })

const closedPort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const address = server.address()
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 1))
      })
    })
)

describe("DATABASE_URL at start-up", () => {
  it.scoped("nobody listening: one line naming DATABASE_URL, without the password", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const port = yield* closedPort
      const line = yield* startupError(
        configLayer({ DATA_DIR: dir, DATABASE_URL: `postgres://bot:hunter2@127.0.0.1:${port}/bot` })
      )
      expect(line).toContain(`DATABASE_URL postgres://bot:<redacted>@127.0.0.1:${port}/bot`)
      expect(line).toContain("connection refused")
      expect(line).not.toContain("hunter2")
      expect(line).not.toContain("\n")
    })
  )

  it.scoped("a database that doesn't exist on the server is named as such", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const url = new URL(yield* freshPgDatabase)
      url.pathname = "/no_such_database"
      const line = yield* startupError(configLayer({ DATA_DIR: dir, DATABASE_URL: url.href }))
      expect(line).toContain("DATABASE_URL")
      expect(line).toContain("the database does not exist")
    })
  )

  it.scoped("a user the server doesn't know is an authentication failure, without the password", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const url = new URL(yield* freshPgDatabase)
      url.username = "nobody_here"
      url.password = "hunter2"
      const line = yield* startupError(configLayer({ DATA_DIR: dir, DATABASE_URL: url.href }))
      expect(line).toContain("DATABASE_URL postgres://nobody_here:<redacted>@")
      expect(line).toContain("authentication failed (wrong user name or password)")
      expect(line).not.toContain("hunter2")
    })
  )

  it.live(
    "`once` on an unreachable DATABASE_URL exits 1 with that one line, no stack trace",
    () =>
      Effect.gen(function* () {
        const port = yield* closedPort
        const result = yield* Effect.promise(() =>
          runCli(["once"], { DATABASE_URL: `postgres://bot:hunter2@127.0.0.1:${port}/bot` })
        )
        expect(result.code).toBe(1)
        expect(result.stderr).toContain(`DATABASE_URL postgres://bot:<redacted>@127.0.0.1:${port}/bot`)
        expect(result.stderr).toContain("connection refused")
        expect(result.stderr + result.stdout).not.toContain("hunter2")
        expect(result.stderr).not.toMatch(/\n\s+at /)
      }),
    120_000
  )

  it.scoped("anything but a postgres:// URL is a configuration error that doesn't echo the value", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const exit = yield* Effect.exit(
        AppConfig.pipe(
          Effect.provide(AppConfig.Default),
          Effect.provide(configLayer({ DATA_DIR: dir, DATABASE_URL: "mysql://u:pw@h/db" }))
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const text = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      expect(text).toContain("DATABASE_URL")
      expect(text).not.toContain("pw@")
    })
  )
})

describe.each(databases)("a schema newer than this build on %s", (kind) => {
  it.scoped("is refused at start-up, in one line", () =>
    Effect.gen(function* () {
      const config = yield* Layer.build(databaseConfig(kind))
      const configured = Layer.succeedContext(config)
      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO effect_sql_migrations (migration_id, name) VALUES (99999, 'from_the_future')`
      }).pipe(Effect.provide(SqlLive.pipe(Layer.provide(configured))))
      const line = yield* startupError(configured)
      expect(line).toContain("database schema is newer than this build (it has migration 99999")
    })
  )
})

describe("cluster runners sharing one PostgreSQL", () => {
  // Each builds its pool, migrations and the cluster's tables at once, as N runners started together do.
  const starts = 4

  it.live(
    "every one comes up: concurrent CREATE TABLE IF NOT EXISTS races are waited out, not fatal",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const config = configLayer({ DATA_DIR: dir, DATABASE_URL: yield* freshPgDatabase })
        const runner = ClusterStorageLive.pipe(
          Layer.provideMerge(SqlLive),
          Layer.provide(ShardingConfig.layer()),
          Layer.provide(config)
        )
        const exits = yield* Effect.all(
          Array.from({ length: starts }, () => Effect.exit(Effect.scoped(Layer.build(runner)))),
          { concurrency: "unbounded" }
        )
        const failures = exits.filter(Exit.isFailure).map((exit) => Cause.pretty(exit.cause).split("\n")[0])
        expect(failures).toEqual([])
        const migrated = yield* Effect.scoped(
          Effect.flatMap(Layer.build(SqlLive.pipe(Layer.provide(config))), (context) =>
            Effect.flatMap(
              SqlClient.SqlClient.pipe(Effect.provide(context)),
              (sql) => sql<{ n: number }>`SELECT count(*) AS n FROM effect_sql_migrations`
            )
          )
        )
        expect(Number(migrated[0]!.n)).toBeGreaterThan(0)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a runner paused inside its transaction loses it after the lease: the runner that took over isn't held by its locks",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const databaseUrl = yield* freshPgDatabase
        const runner = (name: string) =>
          Layer.build(
            Layer.mergeAll(SeenStore.Default, SqlLive).pipe(
              Layer.provide(
                configLayer({
                  DATA_DIR: `${dir}/${name}`,
                  DATABASE_URL: databaseUrl,
                  CLUSTER: "1",
                  CLUSTER_LEASE_SECONDS: 3
                })
              )
            )
          )
        const paused = yield* runner("paused")
        const successor = yield* runner("successor")
        const item = itemFixture("story-in-flight")
        const inTransaction = yield* Deferred.make<void>()
        // The paused runner: its seen ids are written, then it says nothing more (as under SIGSTOP).
        yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const seen = yield* SeenStore
          yield* sql.withTransaction(
            seen
              .markSeen([item])
              .pipe(Effect.zipRight(Deferred.succeed(inTransaction, undefined)), Effect.zipRight(Effect.never))
          )
        }).pipe(Effect.provide(paused), Effect.ignore, Effect.forkScoped)
        yield* Deferred.await(inTransaction)

        const seen = yield* SeenStore.pipe(Effect.provide(successor))
        // Without a limit this insert waits on the paused transaction's row for as long as it is paused.
        yield* seen.markSeen([item]).pipe(Effect.timeoutFail({ duration: "12 seconds", onTimeout: () => "still held" }))
        expect(yield* seen.filterUnseen([item.id])).toEqual([])
      }).pipe(Effect.scoped),
    30_000
  )
})
