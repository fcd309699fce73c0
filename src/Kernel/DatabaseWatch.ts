import * as SqlClient from "@effect/sql/SqlClient"
import { Cause, Clock, Duration, Effect, Option, Schedule, SubscriptionRef, Stream } from "effect"
import { AppConfig } from "./AppConfig.js"
import { databaseLabel, describePgFailure, SqlLive } from "./Sql.js"
import { makeTestLayer } from "./TestLayer.js"

/** The database stopped answering: since when, and why, in one line without credentials. */
export interface DatabaseOutage {
  readonly since: number
  readonly problem: string
}

/** How often PostgreSQL is asked `SELECT 1`, and how long an answer may take before it counts as lost. */
const probeEvery = Duration.seconds(1)
const probeTimeout = Duration.seconds(3)

/**
 * Whether PostgreSQL answers, probed in the background: while it doesn't, the pollers wait instead
 * of failing every poll, /health says unhealthy naming the database, and the log has one line when
 * it goes and one when it comes back. The pool reconnects by itself, so rejoining is just the next
 * successful probe. SQLite is a local file opened once at start-up: nothing to lose while running.
 */
export class DatabaseWatch extends Effect.Service<DatabaseWatch>()("Kernel/DatabaseWatch", {
  scoped: Effect.gen(function* () {
    const { storage } = yield* AppConfig
    const sql = yield* SqlClient.SqlClient
    const label = databaseLabel(storage)
    const outageRef = yield* SubscriptionRef.make(Option.none<DatabaseOutage>())

    const probe = Effect.gen(function* () {
      const answer = yield* sql`SELECT 1`.pipe(
        Effect.timeoutFail({ duration: probeTimeout, onTimeout: () => new Error("timed out") }),
        Effect.either
      )
      const now = yield* Clock.currentTimeMillis
      const current = yield* SubscriptionRef.get(outageRef)
      if (answer._tag === "Left" && Option.isNone(current)) {
        const problem = `${label} unreachable: ${describePgFailure(Cause.fail(answer.left))}`
        yield* SubscriptionRef.set(outageRef, Option.some({ since: now, problem }))
        yield* Effect.logError(`${problem}; pollers wait until it answers again`)
      } else if (answer._tag === "Right" && Option.isSome(current)) {
        yield* SubscriptionRef.set(outageRef, Option.none())
        yield* Effect.logInfo(
          `${label} answers again after ${Math.round((now - current.value.since) / 1000)} s; pollers resume`
        )
      }
    })

    if (Option.isSome(storage.databaseUrl)) {
      yield* probe.pipe(
        Effect.repeat(Schedule.spaced(probeEvery)),
        Effect.annotateLogs("module", "DatabaseWatch"),
        Effect.forkScoped
      )
    }

    const outage: Effect.Effect<Option.Option<DatabaseOutage>> = SubscriptionRef.get(outageRef)

    /** Returns at once while the database answers; otherwise when it answers again. */
    const awaitAvailable: Effect.Effect<void> = outageRef.changes.pipe(
      Stream.filter(Option.isNone),
      Stream.take(1),
      Stream.runDrain
    )

    return { outage, awaitAvailable } as const
  }),
  dependencies: [AppConfig.Default, SqlLive]
}) {
  static readonly Test = makeTestLayer(DatabaseWatch)
}
