import {
  Cause,
  Clock,
  Duration,
  Effect,
  FiberHandle,
  Layer,
  Metric,
  MetricBoundaries,
  Option,
  Ref,
  Schedule
} from "effect"
import { AdminChannel } from "../Kernel/AdminChannel.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { Cycle } from "./Cycle.js"
import type { CycleSummary, FeedReport } from "../Kernel/Domain.js"
import { ErrorTracker } from "../Kernel/ErrorTracker.js"
import { sessionAt } from "../Kernel/MarketHours.js"
import { databaseFile } from "../Kernel/Sql.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

export type CycleResult =
  | { readonly _tag: "Completed"; readonly summary: CycleSummary }
  | { readonly _tag: "Failed"; readonly reason: string }
  | { readonly _tag: "TimedOut"; readonly after: Duration.Duration }

export interface RunnerState {
  readonly cycles: number
  readonly consecutiveEmpty: number
  readonly lastResult: Option.Option<{ readonly at: number; readonly result: CycleResult }>
}

export const cycleDuration = Metric.histogram(
  "cycle_duration_seconds",
  MetricBoundaries.exponential({ start: 0.05, factor: 2, count: 12 }),
  "Wall time of one polling cycle"
)
export const cycleFailures = Metric.counter("cycle_failures_total", { description: "Cycles that failed or timed out" })

const failedFeeds = (reports: ReadonlyArray<FeedReport>) =>
  reports.flatMap((report) => (report.status._tag === "Failed" ? [`${report.name} (${report.status.reason})`] : []))

/** A cycle is empty when nothing at all came in: either every feed failed, or the market was quiet. */
const isEmpty = (result: CycleResult) => result._tag !== "Completed" || result.summary.fetched === 0

const explainEmpty = (result: CycleResult): string => {
  if (result._tag === "Failed") return `the cycle failed: ${result.reason}`
  if (result._tag === "TimedOut") return `the cycle timed out after ${Duration.format(result.after)}`
  const failed = failedFeeds(result.summary.feeds)
  if (result.summary.feeds.length === 0) return "no feeds are configured"
  if (failed.length === result.summary.feeds.length) return `every feed failed: ${failed.join("; ")}`
  if (failed.length > 0) return `feeds failed: ${failed.join("; ")}; the others returned nothing`
  return "every feed answered but returned nothing (quiet market)"
}

/**
 * Why a cycle failed, for the log, /health and `once`. Database errors get one line naming the file
 * (a lock held by another process is the usual one); anything else keeps its full cause.
 */
const describeFailure = (cause: Cause.Cause<unknown>, storage: AppConfig["storage"]): string => {
  const error = Cause.squash(cause) as { _tag?: unknown; cause?: { code?: unknown; message?: unknown } }
  if (error?._tag === "SqlError") {
    const file = databaseFile(storage.dataDir)
    const code = error.cause?.code
    if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") {
      return `database ${file} is locked by another connection (still busy after SQLITE_BUSY_TIMEOUT_MS=${storage.busyTimeoutMs}); nothing was marked seen, the next cycle tries again`
    }
    return `database ${file}: ${String(error.cause?.message ?? "statement failed")}`
  }
  return Cause.pretty(cause, { renderErrorCause: true })
}

/** Runs cycles under supervision: a failing or hung cycle is recorded and the loop goes on. */
export class Runner extends Effect.Service<Runner>()("Runner/Runner", {
  effect: Effect.gen(function* () {
    const { runner: settings, storage } = yield* AppConfig
    const cycle = yield* Cycle
    const admin = yield* AdminChannel
    const errors = yield* ErrorTracker
    const state = yield* Ref.make<RunnerState>({ cycles: 0, consecutiveEmpty: 0, lastResult: Option.none() })
    const timeout = Duration.seconds(settings.cycleTimeoutSeconds)

    const supervised: Effect.Effect<CycleResult> = cycle.run().pipe(
      Effect.map((summary): CycleResult => ({ _tag: "Completed", summary })),
      Effect.timeoutTo({
        duration: timeout,
        onSuccess: (result) => result,
        onTimeout: (): CycleResult => ({ _tag: "TimedOut", after: timeout })
      }),
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause)
          : Effect.succeed<CycleResult>({ _tag: "Failed", reason: describeFailure(cause, storage) })
      ),
      Metric.trackDurationWith(cycleDuration, Duration.toSeconds)
    )

    const record = Effect.fn("Runner.record")(function* (result: CycleResult) {
      const at = yield* Clock.currentTimeMillis
      const previous = yield* Ref.get(state)
      const consecutiveEmpty = isEmpty(result) ? previous.consecutiveEmpty + 1 : 0
      yield* Ref.set(state, { cycles: previous.cycles + 1, consecutiveEmpty, lastResult: Option.some({ at, result }) })

      switch (result._tag) {
        case "Completed": {
          const { summary } = result
          const failed = failedFeeds(summary.feeds)
          for (const feed of summary.feeds) {
            if (feed.status._tag !== "Failed") continue
            yield* errors.record({ stage: "feed", tag: "FeedFailed", message: feed.status.reason, subject: feed.name })
          }
          yield* Effect.logInfo(
            `cycle done in ${summary.durationMs} ms: ${summary.fetched} fetched, ${summary.new} new, ${summary.alerted} alerted` +
              (failed.length > 0 ? `; ${failed.length} feed(s) failed: ${failed.join("; ")}` : "") +
              summary.notes.map((note) => `; ${note}`).join("")
          )
          break
        }
        case "Failed":
          yield* Metric.increment(cycleFailures)
          yield* errors.record({ stage: "cycle", tag: "Failed", message: result.reason.split("\n")[0] ?? "" })
          yield* Effect.logError(`cycle failed: ${result.reason}`)
          break
        case "TimedOut":
          yield* Metric.increment(cycleFailures)
          yield* errors.record({ stage: "cycle", tag: "TimedOut", message: `after ${Duration.format(result.after)}` })
          yield* Effect.logError(`cycle interrupted after CYCLE_TIMEOUT_SECONDS=${settings.cycleTimeoutSeconds}`)
      }

      const threshold = settings.alertConsecutiveEmptyCycles
      if (threshold > 0 && consecutiveEmpty === threshold) {
        yield* admin.notify({
          key: "empty-cycles",
          title: `${threshold} consecutive empty cycles`,
          detail: explainEmpty(result)
        })
      } else if (threshold > 0 && consecutiveEmpty === 0 && previous.consecutiveEmpty >= threshold) {
        yield* admin.notify({
          key: "empty-cycles",
          title: "items are flowing again",
          detail: `after ${previous.consecutiveEmpty} empty cycles`
        })
      }
    })

    /** One supervised cycle; never fails, so the loop around it can't die. */
    const runCycle = supervised.pipe(Effect.tap(record), Effect.annotateLogs("module", "Runner"))

    /** LOOP_SECONDS while any US session is open, LOOP_SECONDS_CLOSED at night and on weekends. */
    const nextDelay = Clock.currentTimeMillis.pipe(
      Effect.map((now) =>
        Duration.seconds(sessionAt(now) === "closed" ? settings.loopSecondsClosed : settings.loopSeconds)
      )
    )

    return { runCycle, nextDelay, state: Ref.get(state) } as const
  }),
  dependencies: [AppConfig.Default, Cycle.Default, AdminChannel.Default, ErrorTracker.Default]
}) {
  static readonly Test = makeTestLayer(Runner)
}

/**
 * The polling loop as a supervised fiber. On SIGINT/SIGTERM the layer's scope closes: the loop stops
 * scheduling, the running cycle gets SHUTDOWN_GRACE_SECONDS to finish, then it is interrupted.
 */
export const RunnerLoop = Layer.scopedDiscard(
  Effect.gen(function* () {
    const runner = yield* Runner
    const { runner: settings } = yield* AppConfig
    const current = yield* FiberHandle.make<CycleResult>()
    // Finalizers run uninterruptibly; the wait must be interruptible for the grace timeout to cut it short.
    yield* Effect.addFinalizer(() =>
      Effect.interruptible(FiberHandle.awaitEmpty(current)).pipe(
        Effect.timeout(Duration.seconds(settings.shutdownGraceSeconds)),
        Effect.ignore
      )
    )
    const oneCycle = FiberHandle.run(current, runner.runCycle).pipe(Effect.flatMap((fiber) => fiber.await))
    const cadence = Schedule.forever.pipe(Schedule.addDelayEffect(() => runner.nextDelay))
    yield* Effect.forkScoped(Effect.repeat(oneCycle, cadence))
    yield* Effect.logInfo("runner started")
  })
)
