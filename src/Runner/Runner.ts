import { Cause, Clock, Duration, Effect, Metric, MetricBoundaries, Option, Random, Ref } from "effect"
import { FeedIngest } from "../Feeds/FeedIngest.js"
import type { FeedSource } from "../Feeds/Sources.js"
import { AdminChannel } from "../Kernel/AdminChannel.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { CycleSummary, FeedReport } from "../Kernel/Domain.js"
import { ErrorTracker } from "../Kernel/ErrorTracker.js"
import { DatabaseWatch } from "../Kernel/DatabaseWatch.js"
import { sessionAt } from "../Kernel/MarketHours.js"
import { databaseFile, databaseLabel } from "../Kernel/Sql.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"
import { intervalSeconds, pollDelay } from "./Cadence.js"
import { Cycle } from "./Cycle.js"

export type CycleResult =
  | { readonly _tag: "Completed"; readonly summary: CycleSummary }
  | { readonly _tag: "Failed"; readonly reason: string }
  | { readonly _tag: "TimedOut"; readonly after: Duration.Duration }
  /** The database went away during the poll: nothing was committed, and it's no fault of the source. */
  | { readonly _tag: "DatabaseLost" }

/** What the runner knows about one source, for /health, /metrics and its outage alert. */
export interface SourceState {
  readonly name: string
  /** The interval its poller uses now (market session and FEEDS_FILE override applied); 0 before its first poll. */
  readonly intervalSeconds: number
  readonly polls: number
  readonly lastPollAt: number | null
  readonly lastReport: FeedReport | null
  readonly lastNewItemAt: number | null
  readonly consecutiveFailures: number
  readonly lastError: string | null
  /** Median of the recent gaps between polls that brought new items; null until a few were seen. */
  readonly usualGapSeconds: number | null
  readonly recentGaps: ReadonlyArray<number>
  /** Epoch ms before which the source asked not to be polled again. */
  readonly retryAt: number | null
  /** The outage alert currently raised for it, if any. */
  readonly alerting: "failed" | "quiet" | null
}

export interface RunnerState {
  readonly cycles: number
  readonly consecutiveEmpty: number
  readonly lastResult: Option.Option<{ readonly at: number; readonly result: CycleResult }>
  readonly sources: ReadonlyArray<SourceState>
}

export const cycleDuration = Metric.histogram(
  "cycle_duration_seconds",
  MetricBoundaries.exponential({ start: 0.05, factor: 2, count: 12 }),
  "Wall time of one poll (or of one pass over every source, for `once`)"
)
export const cycleFailures = Metric.counter("cycle_failures_total", { description: "Cycles that failed or timed out" })
export const polls = Metric.counter("polls_total", {
  description: "Polls per source and result (new, empty, not_modified, failed); only polls with new items are traced"
})

const failedFeeds = (reports: ReadonlyArray<FeedReport>) =>
  reports.flatMap((report) => (report.status._tag === "Failed" ? [`${report.name} (${report.status.reason})`] : []))

/** A cycle is empty when nothing at all came in: either every feed failed, or the market was quiet. */
const isEmpty = (result: CycleResult) => result._tag !== "Completed" || result.summary.fetched === 0

/** Gaps kept per source for its usual gap, and how many it takes before the figure means anything. */
const gapsKept = 20
const gapsNeeded = 5
/** Quiet alert: no new story for this many usual gaps (and at least quietFloorMinutes) while a session is open. */
const quietFactor = 6
const quietFloorMinutes = 15

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** New items per source in a summary: every outcome except stale items and ids already seen. */
const newBySource = (summary: CycleSummary): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const entry of summary.outcomes) {
    if (entry.outcome === "stale" || (entry.outcome === "duplicate" && entry.reason === "already seen")) continue
    counts.set(entry.source, (counts.get(entry.source) ?? 0) + 1)
  }
  return counts
}

/** A source before its first poll. */
export const initialSourceState = (name: string): SourceState => ({
  name,
  intervalSeconds: 0,
  polls: 0,
  lastPollAt: null,
  lastReport: null,
  lastNewItemAt: null,
  consecutiveFailures: 0,
  lastError: null,
  usualGapSeconds: null,
  recentGaps: [],
  retryAt: null,
  alerting: null
})

type PollOutcome =
  | {
      readonly _tag: "Report"
      readonly report: FeedReport | null
      readonly fresh: number
      readonly retryAt: number | null
    }
  | { readonly _tag: "Failed"; readonly reason: string }

/** One source's state after a poll (or after its part of a one-pass cycle). */
const nextSource = (previous: SourceState, at: number, outcome: PollOutcome): SourceState => {
  const failure =
    outcome._tag === "Failed"
      ? outcome.reason
      : outcome.report?.status._tag === "Failed"
        ? outcome.report.status.reason
        : null
  const brought = outcome._tag === "Report" && outcome.fresh > 0
  const gap = brought && previous.lastNewItemAt !== null ? (at - previous.lastNewItemAt) / 1000 : null
  const recentGaps = gap === null ? previous.recentGaps : [...previous.recentGaps, gap].slice(-gapsKept)
  return {
    ...previous,
    polls: previous.polls + 1,
    lastPollAt: at,
    lastReport: outcome._tag === "Report" ? (outcome.report ?? previous.lastReport) : previous.lastReport,
    lastNewItemAt: brought ? at : previous.lastNewItemAt,
    consecutiveFailures: failure === null ? 0 : previous.consecutiveFailures + 1,
    lastError: failure ?? previous.lastError,
    recentGaps,
    usualGapSeconds: recentGaps.length >= gapsNeeded ? median(recentGaps) : previous.usualGapSeconds,
    retryAt: outcome._tag === "Report" ? outcome.retryAt : null
  }
}

/**
 * A source's outage: it failed `threshold` polls in a row, or it answers but has been silent for much
 * longer than its usual gap while a US session is open.
 */
export const outageOf = (
  source: SourceState,
  now: number,
  threshold: number
): { readonly kind: "failed" | "quiet"; readonly detail: string } | null => {
  if (threshold <= 0) return null
  if (source.consecutiveFailures >= threshold) {
    return {
      kind: "failed",
      detail: `${source.consecutiveFailures} polls failed in a row; last error: ${source.lastError ?? "unknown"}`
    }
  }
  if (source.usualGapSeconds === null || source.lastNewItemAt === null || sessionAt(now) === "closed") return null
  const silentSeconds = (now - source.lastNewItemAt) / 1000
  if (silentSeconds <= Math.max(quietFactor * source.usualGapSeconds, quietFloorMinutes * 60)) return null
  return {
    kind: "quiet",
    detail: `it answers, but brought nothing new for ${Math.round(silentSeconds / 60)} min (usually a story every ${Math.round(source.usualGapSeconds)} s) during market hours`
  }
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
    return `${databaseLabel(storage)}: ${String(error.cause?.message ?? "statement failed")}`
  }
  return Cause.pretty(cause, { renderErrorCause: true })
}

/**
 * Runs polls under supervision: a failing or hung poll is recorded and its poller goes on. Keeps
 * each source's state (last poll, last new item, failures, usual gap) and raises its outage alert.
 */
export class Runner extends Effect.Service<Runner>()("Runner/Runner", {
  effect: Effect.gen(function* () {
    const { runner: settings, storage } = yield* AppConfig
    const cycle = yield* Cycle
    const ingest = yield* FeedIngest
    const admin = yield* AdminChannel
    const errors = yield* ErrorTracker
    const database = yield* DatabaseWatch
    const timeout = Duration.seconds(settings.cycleTimeoutSeconds)
    /** The sources that get a poller: the enabled ones, minus SEC feeds without SEC_USER_AGENT. */
    const sources = ingest.sources.filter((source) => ingest.disabledReason(source) === null)
    const state = yield* Ref.make<RunnerState>({
      cycles: 0,
      consecutiveEmpty: 0,
      lastResult: Option.none(),
      sources: sources.map((source) => initialSourceState(source.name))
    })

    const supervise = (run: Effect.Effect<CycleSummary>): Effect.Effect<CycleResult> =>
      run.pipe(
        Effect.map((summary): CycleResult => ({ _tag: "Completed", summary })),
        Effect.timeoutTo({
          duration: timeout,
          onSuccess: (result) => result,
          onTimeout: (): CycleResult => ({ _tag: "TimedOut", after: timeout })
        }),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.map(database.isLoss(cause), (lost): CycleResult =>
                lost ? { _tag: "DatabaseLost" } : { _tag: "Failed", reason: describeFailure(cause, storage) }
              )
        )
      )

    /** Raises a source's outage alert once when it starts, and says so once when it ends. */
    const alertOutages = Effect.fn("Runner.alertOutages")(function* (polled: ReadonlyArray<string>, now: number) {
      for (const name of polled) {
        const source = (yield* Ref.get(state)).sources.find((entry) => entry.name === name)
        if (source === undefined) continue
        const outage = outageOf(source, now, settings.alertConsecutiveEmptyCycles)
        const kind = outage?.kind ?? null
        if (kind === source.alerting) continue
        if (outage !== null) {
          yield* admin.notify({
            key: `source-outage:${name}`,
            title: outage.kind === "failed" ? `feed ${name} is failing` : `feed ${name} has gone quiet`,
            detail: outage.detail
          })
        } else {
          yield* admin.notify({
            key: `source-outage:${name}`,
            title: `feed ${name}: items are flowing again`,
            detail: source.alerting === "failed" ? "it answers again" : "a new story came in"
          })
        }
        yield* Ref.update(state, (latest) => ({
          ...latest,
          sources: latest.sources.map((entry) => (entry.name === name ? { ...entry, alerting: kind } : entry))
        }))
      }
    })

    const record = Effect.fn("Runner.record")(function* (result: CycleResult, polled: ReadonlyArray<string>) {
      // The database watch has told of the outage; the poll is as if it never happened.
      if (result._tag === "DatabaseLost") return
      const at = yield* Clock.currentTimeMillis
      const fresh = result._tag === "Completed" ? newBySource(result.summary) : new Map<string, number>()
      const reports =
        result._tag === "Completed" ? new Map(result.summary.feeds.map((report) => [report.name, report])) : null
      const retryAt = result._tag === "Completed" ? (result.summary.retryAt ?? null) : null
      yield* Ref.update(state, (previous) => ({
        cycles: previous.cycles + 1,
        consecutiveEmpty: isEmpty(result) ? previous.consecutiveEmpty + 1 : 0,
        lastResult: Option.some({ at, result }),
        sources: previous.sources.map((source) => {
          if (!polled.includes(source.name)) return source
          if (result._tag !== "Completed") {
            const reason = result._tag === "Failed" ? (result.reason.split("\n")[0] ?? "") : "timed out"
            return nextSource(source, at, { _tag: "Failed", reason })
          }
          const report = reports?.get(source.name) ?? null
          return nextSource(source, at, { _tag: "Report", report, fresh: fresh.get(source.name) ?? 0, retryAt })
        })
      }))

      switch (result._tag) {
        case "Completed": {
          const { summary } = result
          const failed = failedFeeds(summary.feeds)
          for (const feed of summary.feeds) {
            const kind =
              feed.status._tag === "Failed"
                ? "failed"
                : feed.status._tag === "NotModified"
                  ? "not_modified"
                  : (fresh.get(feed.name) ?? 0) > 0
                    ? "new"
                    : "empty"
            yield* Metric.increment(Metric.tagged(Metric.tagged(polls, "source", feed.name), "result", kind))
            if (feed.status._tag !== "Failed") continue
            yield* errors.record({ stage: "feed", tag: "FeedFailed", message: feed.status.reason, subject: feed.name })
          }
          const line =
            `cycle done in ${summary.durationMs} ms: ${summary.fetched} fetched, ${summary.new} new, ${summary.alerted} alerted` +
            (failed.length > 0 ? `; ${failed.length} feed(s) failed: ${failed.join("; ")}` : "") +
            summary.notes.map((note) => `; ${note}`).join("")
          // At a one-second cadence, a poll that brought nothing is not worth a line at Info.
          if (polled.length !== 1) yield* Effect.logInfo(line)
          else if (summary.new > 0 || failed.length > 0) yield* Effect.logInfo(`${polled[0]}: ${line}`)
          else yield* Effect.logDebug(`${polled[0]}: ${line}`)
          break
        }
        case "Failed":
          yield* Metric.increment(cycleFailures)
          yield* errors.record({ stage: "cycle", tag: "Failed", message: result.reason.split("\n")[0] ?? "" })
          yield* Effect.logError(`cycle failed (${polled.join(", ")}): ${result.reason}`)
          break
        case "TimedOut":
          yield* Metric.increment(cycleFailures)
          yield* errors.record({ stage: "cycle", tag: "TimedOut", message: `after ${Duration.format(result.after)}` })
          yield* Effect.logError(
            `cycle (${polled.join(", ")}) interrupted after CYCLE_TIMEOUT_SECONDS=${settings.cycleTimeoutSeconds}`
          )
      }
      yield* alertOutages(polled, at)
    })

    const allNames = sources.map((source) => source.name)

    /** One pass over every source as one cycle (`once`, the stepped world tests); never fails. */
    const runCycle = supervise(cycle.run()).pipe(
      Metric.trackDurationWith(cycleDuration, Duration.toSeconds),
      Effect.tap((result) => record(result, allNames)),
      Effect.annotateLogs("module", "Runner")
    )

    /** One supervised poll of one source; never fails, so its poller can't die of it. */
    const poll = (source: FeedSource): Effect.Effect<CycleResult> =>
      // While the database is lost the poll waits: what the feed has now is polled once it's back.
      Effect.zipRight(
        database.awaitAvailable,
        supervise(cycle.run(source)).pipe(
          Metric.trackDurationWith(cycleDuration, Duration.toSeconds),
          Effect.tap((result) => record(result, [source.name])),
          Effect.annotateLogs({ module: "Runner", source: source.name })
        )
      )

    /**
     * How long `source`'s poller sleeps now: its interval for the session (counted from `startedAt`,
     * when the poll began), failure backoff, the server's hint.
     */
    const nextDelay = (source: FeedSource, startedAt?: number): Effect.Effect<Duration.Duration> =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const interval = intervalSeconds(source, now, settings)
        const current = yield* Ref.modify(state, (latest) => {
          const found = latest.sources.find((entry) => entry.name === source.name) ?? initialSourceState(source.name)
          const sources = latest.sources.map((entry) =>
            entry.name === source.name ? { ...entry, intervalSeconds: interval } : entry
          )
          return [found, { ...latest, sources }]
        })
        return pollDelay({
          now,
          intervalSeconds: interval,
          consecutiveFailures: current.consecutiveFailures,
          retryAt: current.retryAt ?? undefined,
          jitter: yield* Random.next,
          ...(startedAt !== undefined && { startedAt })
        })
      })

    return { runCycle, poll, nextDelay, sources, state: Ref.get(state) } as const
  }),
  dependencies: [
    AppConfig.Default,
    Cycle.Default,
    FeedIngest.Default,
    AdminChannel.Default,
    ErrorTracker.Default,
    DatabaseWatch.Default
  ]
}) {
  static readonly Test = makeTestLayer(Runner)
}
