import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Clock, DateTime, Effect, Option, Ref } from "effect"
import { AlertLatency, type SourceLatency } from "../Kernel/AlertLatency.js"
import { Breakers, type BreakerState } from "../Kernel/Breakers.js"
import { DatabaseWatch } from "../Kernel/DatabaseWatch.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { DiscordStatus } from "../Delivery/Discord/DiscordRateLimiter.js"
import type { FeedReport } from "../Kernel/Domain.js"
import { ErrorTracker, type ErrorReport } from "../Kernel/ErrorTracker.js"
import { LlmStatus } from "../Classification/LlmAnalyst.js"
import { MetricsExporter } from "./MetricsExporter.js"
import { DeliveryHealth, type SinkHealth, sinkVerdict } from "../Delivery/DeliveryHealth.js"
import { RouteHealth, type RouteReport } from "../Delivery/RouteHealth.js"
import { Outbox, type StatusCounts } from "../Delivery/Outbox.js"
import { type CycleResult, Runner, type RunnerState } from "../Runner/Runner.js"
import { StatusBoard } from "../Kernel/StatusBoard.js"
import { type ClusterView, WorkOwners } from "../Kernel/WorkOwners.js"

export type HealthStatus = "ok" | "degraded" | "unhealthy" | "starting"

export interface FeedHealth {
  readonly name: string
  readonly status: "ok" | "not-modified" | "failed" | "disabled"
  readonly items?: number
  readonly fresh?: number
  readonly reason?: string
}

/** One source as its poller sees it. */
export interface SourceHealth {
  readonly name: string
  readonly intervalSeconds: number
  readonly polls: number
  readonly lastPollAt: string | null
  readonly lastNewItemAt: string | null
  readonly consecutiveFailures: number
  readonly lastError: string | null
  /** Median gap between polls that brought new items (null until a few were seen). */
  readonly usualGapSeconds: number | null
  readonly outage: "failed" | "quiet" | null
}

export interface HealthReport {
  readonly status: HealthStatus
  /** Why the status isn't "ok", one line each. */
  readonly problems: ReadonlyArray<string>
  readonly checkedAt: string
  readonly uptimeSeconds: number
  readonly cycles: number
  readonly consecutiveEmptyCycles: number
  readonly lastCycle: {
    readonly at: string
    readonly ageSeconds: number
    readonly result: CycleResult["_tag"]
    readonly reason?: string
    readonly startedAt?: string
    readonly durationMs?: number
    readonly fetched?: number
    readonly new?: number
    readonly alerted?: number
  } | null
  /** Each source's latest report. */
  readonly feeds: ReadonlyArray<FeedHealth>
  readonly sources: ReadonlyArray<SourceHealth>
  readonly breakers: ReadonlyArray<{ readonly name: string; readonly state: BreakerState }>
  readonly outbox: {
    readonly depth: number
    readonly oldestPendingAgeSeconds: number | null
    /** Rows per status: uncertain, expired and dead ones need an operator (`catalyst-bot outbox`). */
    readonly counts: StatusCounts
  }
  /** Each alert sink's ability to deliver, as the sink publishes it (empty until its first send). */
  readonly delivery: ReadonlyArray<{
    readonly sink: string
    readonly status: "ok" | "degraded" | "unhealthy"
    readonly lastSuccessAt: string | null
    readonly consecutiveFailures: number
    readonly failingForSeconds: number | null
    readonly lastError: string | null
  }>
  /** Each route's delivered, deferred and failed alerts, its 429s and its webhook's headroom (never its URL). */
  readonly routes: ReadonlyArray<RouteReport>
  readonly errors: ErrorReport
  /** Discord rate-limit headroom, as the Discord sink publishes it on the StatusBoard (null until it does). */
  readonly rateLimits: DiscordStatus | null
  /** LLM budget state, as the LLM stage publishes it on the StatusBoard (null until it does). */
  readonly llmBudget: LlmStatus | null
  /** Everything else stages publish on the StatusBoard. */
  readonly board: Readonly<Record<string, unknown>>
  /** Publication-to-delivery latency p50/p95 per source, in seconds. */
  readonly latency: ReadonlyArray<SourceLatency>
  /** CLUSTER=1: the runners, who holds which poller and route, and this runner's last takeover; else null. */
  readonly cluster: ClusterView | null
}

/** An alert waiting longer than this means delivery is stuck (Discord down, rate-limited, …). */
const outboxStuckSeconds = 600

const feedHealth = (report: FeedReport): FeedHealth => {
  switch (report.status._tag) {
    case "Ok":
      return { name: report.name, status: "ok", items: report.status.items, fresh: report.status.fresh }
    case "NotModified":
      return { name: report.name, status: "not-modified" }
    case "Failed":
      return { name: report.name, status: "failed", reason: report.status.reason }
    case "Disabled":
      return { name: report.name, status: "disabled", reason: report.status.reason }
  }
}

interface Assessment {
  readonly status: HealthStatus
  readonly problems: ReadonlyArray<string>
}

/**
 * The verdict, from each source's last poll, so /health turns unhealthy within one poll of a feed
 * failing (or its poller hanging) and healthy again on the first poll after it recovers. Open breakers and a slow outbox
 * only degrade: alerts still flow from the other feeds. A sink that can't deliver (a refusing webhook,
 * or failing for a minute) is unhealthy: nothing reaches anyone, however well the feeds do.
 */
export const assess = (input: {
  readonly now: number
  readonly state: RunnerState
  readonly staleAfterSeconds: number
  readonly cycleTimeoutSeconds: number
  readonly breakers: ReadonlyArray<{ readonly name: string; readonly state: BreakerState }>
  readonly oldestPendingAgeSeconds: number | null
  readonly sinks?: ReadonlyArray<SinkHealth>
}): Assessment => {
  const last = Option.getOrNull(input.state.lastResult)
  if (last === null) return { status: "starting", problems: ["no cycle has finished yet"] }
  const unhealthy: Array<string> = []
  const degraded: Array<string> = []
  for (const sink of input.sinks ?? []) {
    const verdict = sinkVerdict(sink, input.now)
    if (verdict.level !== "ok") (verdict.level === "unhealthy" ? unhealthy : degraded).push(verdict.problem)
  }
  const ageSeconds = (input.now - last.at) / 1000
  if (ageSeconds > input.staleAfterSeconds) {
    unhealthy.push(`the last cycle finished ${Math.round(ageSeconds)} s ago (limit ${input.staleAfterSeconds} s)`)
  }
  const { result } = last
  if (result._tag === "Failed") unhealthy.push(`the last cycle failed: ${result.reason.split("\n")[0]}`)
  if (result._tag === "TimedOut") unhealthy.push("the last cycle timed out")
  for (const source of input.state.sources) {
    if (source.consecutiveFailures > 0) unhealthy.push(`feed ${source.name} failed: ${source.lastError ?? "unknown"}`)
    // A hung poller: two of its intervals plus a whole cycle without a poll.
    const limit = 2 * source.intervalSeconds + input.cycleTimeoutSeconds
    if (source.lastPollAt !== null && source.intervalSeconds > 0 && (input.now - source.lastPollAt) / 1000 > limit) {
      unhealthy.push(
        `feed ${source.name} was last polled ${Math.round((input.now - source.lastPollAt) / 1000)} s ago (limit ${limit} s)`
      )
    }
  }
  for (const { name, state } of input.breakers) {
    if (state._tag !== "Closed") degraded.push(`breaker ${name} is ${state._tag === "Open" ? "open" : "half-open"}`)
  }
  if (input.oldestPendingAgeSeconds !== null && input.oldestPendingAgeSeconds > outboxStuckSeconds) {
    degraded.push(`an alert has waited ${Math.round(input.oldestPendingAgeSeconds)} s for delivery`)
  }
  return {
    status: unhealthy.length > 0 ? "unhealthy" : degraded.length > 0 ? "degraded" : "ok",
    problems: [...unhealthy, ...degraded]
  }
}

const isoAt = (millis: number) => DateTime.formatIso(DateTime.unsafeMake(millis))

/** Everything /health reports, gathered from the services that own it. */
export class HealthCheck extends Effect.Service<HealthCheck>()("App/HealthCheck", {
  effect: Effect.gen(function* () {
    const { runner: settings } = yield* AppConfig
    const runner = yield* Runner
    const breakers = yield* Breakers
    const outbox = yield* Outbox
    const errors = yield* ErrorTracker
    const board = yield* StatusBoard
    const latency = yield* AlertLatency
    const deliveryHealth = yield* DeliveryHealth
    const routeHealth = yield* RouteHealth
    const database = yield* DatabaseWatch
    const outboxFigures = Effect.all({
      pending: outbox.pendingStats,
      counts: outbox.counts(),
      routes: routeHealth.report()
    })
    const lastOutbox = yield* Ref.make(yield* outboxFigures)
    /** Two of the longest gaps between polls plus a full cycle: live pollers never get this far behind. */
    const staleAfterSeconds =
      2 * Math.max(settings.pollSeconds, settings.pollSecondsClosed, settings.secPollSeconds) +
      settings.cycleTimeoutSeconds

    // Optional, as in Delivery: a harness that builds health without the cluster register shows none.
    const owners = Option.getOrUndefined(yield* Effect.serviceOption(WorkOwners))

    const report = Effect.fn("HealthCheck.report")(function* () {
      const now = yield* Clock.currentTimeMillis
      const state = yield* runner.state
      const breakerStates = yield* breakers.states
      const lost = yield* database.outage
      // Without the database the outbox figures are the last ones it gave.
      const { counts, pending, routes } = Option.isSome(lost)
        ? yield* Ref.get(lastOutbox)
        : yield* Effect.tap(outboxFigures, (figures) => Ref.set(lastOutbox, figures))
      const oldestPendingAgeSeconds =
        pending.oldestCreatedAt === null ? null : Math.max(0, (now - pending.oldestCreatedAt) / 1000)
      const sinks = yield* deliveryHealth.snapshot
      const last = Option.getOrNull(state.lastResult)
      const assessed = assess({
        now,
        state,
        staleAfterSeconds,
        cycleTimeoutSeconds: settings.cycleTimeoutSeconds,
        breakers: breakerStates,
        oldestPendingAgeSeconds,
        sinks
      })
      const { status, problems } = Option.isSome(lost)
        ? {
            status: "unhealthy" as const,
            problems: [
              `${lost.value.problem} (since ${isoAt(lost.value.since)}); not taking work`,
              ...assessed.problems
            ]
          }
        : assessed
      const health: HealthReport = {
        status,
        problems,
        checkedAt: isoAt(now),
        uptimeSeconds: Math.round(process.uptime()),
        cycles: state.cycles,
        consecutiveEmptyCycles: state.consecutiveEmpty,
        lastCycle:
          last === null
            ? null
            : {
                at: isoAt(last.at),
                ageSeconds: Math.round((now - last.at) / 1000),
                result: last.result._tag,
                ...(last.result._tag === "Failed" ? { reason: last.result.reason.split("\n")[0] ?? "" } : {}),
                ...(last.result._tag === "Completed"
                  ? {
                      startedAt: last.result.summary.startedAt,
                      durationMs: last.result.summary.durationMs,
                      fetched: last.result.summary.fetched,
                      new: last.result.summary.new,
                      alerted: last.result.summary.alerted
                    }
                  : {})
              },
        feeds: state.sources.flatMap((source) => (source.lastReport === null ? [] : [feedHealth(source.lastReport)])),
        sources: state.sources.map((source) => ({
          name: source.name,
          intervalSeconds: source.intervalSeconds,
          polls: source.polls,
          lastPollAt: source.lastPollAt === null ? null : isoAt(source.lastPollAt),
          lastNewItemAt: source.lastNewItemAt === null ? null : isoAt(source.lastNewItemAt),
          consecutiveFailures: source.consecutiveFailures,
          lastError: source.lastError,
          usualGapSeconds: source.usualGapSeconds,
          outage: source.alerting
        })),
        breakers: breakerStates,
        outbox: { depth: pending.depth, oldestPendingAgeSeconds, counts },
        delivery: sinks.map((sink) => ({
          sink: sink.sink,
          status: sinkVerdict(sink, now).level,
          lastSuccessAt: sink.lastSuccessAt === null ? null : isoAt(sink.lastSuccessAt),
          consecutiveFailures: sink.consecutiveFailures,
          failingForSeconds: sink.failingSince === null ? null : Math.round((now - sink.failingSince) / 1000),
          lastError: sink.lastError
        })),
        routes,
        errors: yield* errors.report,
        rateLimits: Option.getOrNull(yield* board.get(DiscordStatus)),
        llmBudget: Option.getOrNull(yield* board.get(LlmStatus)),
        board: yield* board.snapshot,
        latency: yield* latency.summary,
        cluster: owners !== undefined && owners.clustered ? yield* owners.view() : null
      }
      return health
    })

    return { report } as const
  }),
  dependencies: [
    AppConfig.Default,
    Runner.Default,
    Breakers.Default,
    Outbox.Default,
    ErrorTracker.Default,
    StatusBoard.Default,
    AlertLatency.Default,
    DeliveryHealth.Default,
    RouteHealth.Default,
    DatabaseWatch.Default
  ]
}) {}

/**
 * GET /health/ping, GET /health (200 when ok or degraded, 503 otherwise), GET /metrics.
 * Untraced: probes and scrapes would otherwise start a root trace each, burying the cycles in Jaeger.
 */
export const healthRouter = HttpRouter.empty.pipe(
  HttpRouter.get("/health/ping", Effect.succeed(HttpServerResponse.text("pong"))),
  HttpRouter.get(
    "/health",
    Effect.gen(function* () {
      const health = yield* (yield* HealthCheck).report()
      const healthy = health.status === "ok" || health.status === "degraded"
      return HttpServerResponse.unsafeJson(health, { status: healthy ? 200 : 503 })
    }).pipe(Effect.withTracerEnabled(false))
  ),
  HttpRouter.get(
    "/metrics",
    Effect.gen(function* () {
      const { contentType, text } = yield* (yield* MetricsExporter).scrape()
      return HttpServerResponse.text(text, { contentType })
    }).pipe(Effect.withTracerEnabled(false))
  )
)
