import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Fiber, Layer, Option, Redacted } from "effect"
import { HealthCheck } from "../src/App/HealthCheck.js"
import { DeliveryHealth } from "../src/Delivery/DeliveryHealth.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { RouteHealth } from "../src/Delivery/RouteHealth.js"
import { AlertLatency } from "../src/Kernel/AlertLatency.js"
import { Breakers } from "../src/Kernel/Breakers.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { Runner } from "../src/Runner/Runner.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { DatabaseWatch } from "../src/Kernel/DatabaseWatch.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { alertFixture } from "./support/Alerts.js"
import { startPostgres } from "./support/PostgresServer.js"
import { configLayer, tempDir } from "./support/TestLayers.js"
import { spawnCli } from "./support/Cli.js"
import * as World from "../src/World/World.js"

/** The runner's side of /health, before its first poll: this test is about the database. */
const idleRunner = Runner.Test({
  state: Effect.succeed({ cycles: 0, consecutiveEmpty: 0, lastResult: Option.none(), sources: [] })
})

/** A server of this test's own, so stopping it disturbs no other test file. */
const dedicatedServer = Effect.acquireRelease(
  Effect.promise(() => startPostgres()),
  (server) => Effect.sync(() => server.dispose())
)

/** Polls `probe` on the live clock until it gives Some, for up to `limit`. */
const within = <A>(limit: Duration.DurationInput, probe: Effect.Effect<Option.Option<A>>) =>
  Effect.gen(function* () {
    const giveUpAt = Date.now() + Duration.toMillis(limit)
    while (Date.now() < giveUpAt) {
      const found = yield* probe
      if (Option.isSome(found)) return found.value
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.dieMessage(`nothing within ${Duration.format(limit)}`)
  })

describe("losing PostgreSQL while running", () => {
  it.live(
    "the outage shows, naming the database without its password; work waits; it rejoins with nothing lost",
    () =>
      Effect.gen(function* () {
        const server = yield* dedicatedServer
        const dir = yield* tempDir
        // Trust authentication takes any password: enough to check that it never shows.
        const url = new URL(server.url)
        url.password = "hunter2"
        const layer = HealthCheck.DefaultWithoutDependencies.pipe(
          Layer.provideMerge(
            Layer.mergeAll(
              DatabaseWatch.Default,
              Outbox.Default,
              Breakers.Default,
              ErrorTracker.Default,
              StatusBoard.Default,
              AlertLatency.Default,
              DeliveryHealth.Default,
              RouteHealth.Default,
              idleRunner
            )
          ),
          Layer.provideMerge(Layer.mergeAll(SqlLive, AppConfig.Default)),
          Layer.provide(configLayer({ DATA_DIR: dir, DATABASE_URL: url.href }))
        )
        yield* Effect.gen(function* () {
          const watch = yield* DatabaseWatch
          const outbox = yield* Outbox
          yield* outbox.enqueue([alertFixture(1)])
          expect(yield* watch.outage).toEqual(Option.none())
          expect((yield* (yield* HealthCheck).report()).outbox.depth).toBe(1)

          server.stop()
          const outage = yield* within("10 seconds", watch.outage)
          expect(outage.problem).toContain(
            `DATABASE_URL postgres://postgres:<redacted>@127.0.0.1:${server.port}/postgres`
          )
          expect(outage.problem).toContain("unreachable")
          expect(outage.problem).not.toContain("hunter2")
          expect(outage.problem).not.toContain("\n")
          const health = yield* (yield* HealthCheck).report()
          expect(health.status).toBe("unhealthy")
          expect(health.problems[0]).toContain(`${outage.problem} (since `)
          // The outbox figures are the last ones the database gave.
          expect(health.outbox.depth).toBe(1)
          expect(JSON.stringify(health)).not.toContain("hunter2")
          const waiting = yield* Effect.fork(watch.awaitAvailable)
          yield* Effect.sleep("1 second")
          expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)

          server.start()
          yield* Fiber.join(waiting).pipe(Effect.timeout("15 seconds"))
          expect(yield* watch.outage).toEqual(Option.none())
          expect((yield* (yield* HealthCheck).report()).problems.join("\n")).not.toContain("unreachable")
          // The pool reconnected by itself: the row queued before the outage is still due.
          const due = yield* outbox.due(10)
          expect(due.map((row) => row.alert.item.id)).toEqual([alertFixture(1).item.id])
        }).pipe(Effect.provide(layer))
      }).pipe(Effect.scoped),
    90_000
  )
  it.live(
    "backends killed with pg_terminate_backend: the pool reconnects and the queued row is still there",
    () =>
      Effect.gen(function* () {
        const server = yield* dedicatedServer
        const dir = yield* tempDir
        const layer = Layer.mergeAll(DatabaseWatch.Default, Outbox.Default).pipe(
          Layer.provideMerge(Layer.mergeAll(SqlLive, AppConfig.Default)),
          Layer.provide(configLayer({ DATA_DIR: dir, DATABASE_URL: server.url }))
        )
        yield* Effect.gen(function* () {
          const watch = yield* DatabaseWatch
          const outbox = yield* Outbox
          yield* outbox.enqueue([alertFixture(2)])
          yield* Effect.flatMap(
            SqlClient.SqlClient,
            (sql) => sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'catalyst-bot'`
          ).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(server.url) })))
          // A statement on a killed connection may fail once; the next gets a new connection.
          const due = yield* outbox.due(10).pipe(Effect.sandbox, Effect.retry({ times: 3 }))
          expect(due.map((row) => row.alert.item.id)).toEqual([alertFixture(2).item.id])
          yield* Effect.sleep("2 seconds")
          expect(yield* watch.outage).toEqual(Option.none())
        }).pipe(Effect.provide(layer))
      }).pipe(Effect.scoped),
    90_000
  )

  it.live(
    "a running bot stops taking work while the database is gone, logs it once, and delivers what came in once it is back",
    () =>
      Effect.gen(function* () {
        const server = yield* dedicatedServer
        const world = yield* World.make()
        const { DATA_DIR: _worldDataDir, ...worldEnv } = world.env
        const bot = yield* Effect.acquireRelease(
          Effect.sync(() =>
            spawnCli(["run"], {
              ...worldEnv,
              DATABASE_URL: server.url,
              POLL_SECONDS: "1",
              POLL_SECONDS_CLOSED: "1",
              SEC_POLL_SECONDS: "1",
              OUTCOME_POLL_SECONDS: "1",
              LOG_LEVEL: "Info"
            })
          ),
          (bot) => Effect.sync(() => bot.child.kill("SIGKILL"))
        )
        let stderr = ""
        bot.child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        const delivered = (count: number) =>
          within(
            "60 seconds",
            Effect.sync(() => (world.alerts().length >= count ? Option.some(count) : Option.none()))
          )
        world.publishNews(1)
        yield* delivered(1)

        const before = stderr.length
        server.stop()
        yield* Effect.sleep("8 seconds")
        const duringOutage = stderr.slice(before)
        server.start()
        world.publishNews(1)
        yield* delivered(2)
        yield* Effect.sleep("2 seconds")

        // One line when it goes (and one when it's back): no loop logs a failure per attempt.
        const errorLines = duringOutage.split("\n").filter((line) => /\b(ERROR|FATAL)\b/.test(line))
        expect(errorLines.filter((line) => /unreachable/.test(line))).toHaveLength(1)
        expect(errorLines, duringOutage).toHaveLength(1)
        expect(duringOutage).not.toMatch(/loop error|pass failed|heartbeat failed/)
        expect(world.alerts()).toHaveLength(2)
      }).pipe(Effect.scoped),
    120_000
  )
})
