import * as SqlClient from "@effect/sql/SqlClient"
import { Cause, Clock, Duration, Effect, Option, Predicate, Schedule, SubscriptionRef, Stream } from "effect"
import { AppConfig } from "./AppConfig.js"
import { databaseLabel, describePgFailure, SqlLive } from "./Sql.js"
import { makeTestLayer } from "./TestLayer.js"

/** The database stopped answering: since when, and why, in one line without credentials. */
export interface DatabaseOutage {
  readonly since: number
  readonly problem: string
}

const isSqlFailure = (cause: Cause.Cause<unknown>) =>
  [...Cause.failures(cause), ...Cause.defects(cause)].some((error) => Predicate.isTagged(error, "SqlError"))

type OutageChange =
  { readonly _tag: "Lost"; readonly problem: string } | { readonly _tag: "Back"; readonly seconds: number }

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

    /** Asks the database once; true when it answered. Logs one line when it goes and one when it's back. */
    const probe = Effect.gen(function* () {
      const answer = yield* sql`SELECT 1`.pipe(
        Effect.timeoutFail({ duration: probeTimeout, onTimeout: () => new Error("timed out") }),
        Effect.either
      )
      const now = yield* Clock.currentTimeMillis
      // One transition per outage, whichever probe (the periodic one or a failed loop's) sees it first.
      const change = yield* SubscriptionRef.modify(
        outageRef,
        (current): readonly [OutageChange | null, Option.Option<DatabaseOutage>] => {
          if (answer._tag === "Left" && Option.isNone(current)) {
            const problem = `${label} unreachable: ${describePgFailure(Cause.fail(answer.left))}`
            return [{ _tag: "Lost", problem }, Option.some({ since: now, problem })]
          }
          if (answer._tag === "Right" && Option.isSome(current)) {
            return [{ _tag: "Back", seconds: Math.round((now - current.value.since) / 1000) }, Option.none()]
          }
          return [null, current]
        }
      )
      if (change?._tag === "Lost") yield* Effect.logError(`${change.problem}; work waits until it answers again`)
      if (change?._tag === "Back")
        yield* Effect.logInfo(`${label} answers again after ${change.seconds} s; work resumes`)
      return answer._tag === "Right"
    }).pipe(Effect.annotateLogs("module", "DatabaseWatch"))

    const watched = Option.isSome(storage.databaseUrl)
    if (watched) yield* probe.pipe(Effect.repeat(Schedule.spaced(probeEvery)), Effect.forkScoped)

    const outage: Effect.Effect<Option.Option<DatabaseOutage>> = SubscriptionRef.get(outageRef)

    /** Returns at once while the database answers; otherwise when it answers again. */
    const awaitAvailable: Effect.Effect<void> = outageRef.changes.pipe(
      Stream.filter(Option.isNone),
      Stream.take(1),
      Stream.runDrain
    )

    /**
     * Whether `cause` is the database going away: an SQL failure that a probe, made at once, confirms.
     * The probe then logs the outage's one line, so the caller needn't log the failure itself.
     */
    const isLoss = Effect.fn("DatabaseWatch.isLoss")(function* (cause: Cause.Cause<unknown>) {
      return watched && isSqlFailure(cause) ? !(yield* probe) : false
    })

    /**
     * One step of a background loop (delivery, follow-ups, outcomes, heartbeat), made to wait out an
     * outage: it starts only while the database answers, and a failure that is the database going
     * away is told once by the probe, not once per attempt with a stack. Other failures are logged.
     */
    const guardStep =
      (loop: string) =>
      <A, E, R>(step: Effect.Effect<A, E, R>): Effect.Effect<void, never, R> =>
        Effect.zipRight(awaitAvailable, step).pipe(
          Effect.asVoid,
          Effect.catchAllCause((cause) =>
            Effect.flatMap(isLoss(cause), (lost) => (lost ? Effect.void : Effect.logError(`${loop} error`, cause)))
          )
        )

    return { outage, awaitAvailable, isLoss, guardStep } as const
  }),
  dependencies: [AppConfig.Default, SqlLive]
}) {
  static readonly Test = makeTestLayer(DatabaseWatch)
}
