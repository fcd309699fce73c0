import { Clock, Duration, Effect, Layer, Option, Schedule } from "effect"
import { AdminChannel } from "../Kernel/AdminChannel.js"
import { AlertLatency } from "../Kernel/AlertLatency.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { DatabaseWatch } from "../Kernel/DatabaseWatch.js"
import { DeliveryHealth, sinkVerdict } from "../Delivery/DeliveryHealth.js"
import { DiscordStatus } from "../Delivery/Discord/DiscordRateLimiter.js"
import { Outbox } from "../Delivery/Outbox.js"
import { describeRoute, RouteHealth } from "../Delivery/RouteHealth.js"
import { Runner, type RunnerState, type SourceState } from "../Runner/Runner.js"
import { StatusBoard } from "../Kernel/StatusBoard.js"

const describeLast = (state: RunnerState): string =>
  Option.match(state.lastResult, {
    onNone: () => "no cycle yet",
    onSome: ({ result }) =>
      result._tag === "Completed"
        ? `last cycle: ${result.summary.fetched} fetched, ${result.summary.new} new, ${result.summary.alerted} alerted in ${result.summary.durationMs} ms`
        : result._tag === "Failed"
          ? `last cycle failed: ${result.reason.split("\n")[0]}`
          : "last cycle timed out"
  })

const describeSource =
  (now: number) =>
  (source: SourceState): string => {
    const ago = (at: number | null) => (at === null ? "never" : `${Math.round((now - at) / 1000)} s ago`)
    const failing = source.consecutiveFailures > 0 ? `, failing (${source.consecutiveFailures} in a row)` : ""
    const gap = source.usualGapSeconds === null ? "" : `, usually a story every ${Math.round(source.usualGapSeconds)} s`
    return `${source.name}: every ${source.intervalSeconds} s, polled ${ago(source.lastPollAt)}, last new item ${ago(source.lastNewItemAt)}${gap}${failing}`
  }

/** Every ADMIN_HEARTBEAT_MINUTES (0 = off): cycle statistics, each source's polling, delivery counts, each route's counts and headroom, Discord headroom and latency p50/p95. */
export const AdminHeartbeat = Layer.scopedDiscard(
  Effect.gen(function* () {
    const { delivery } = yield* AppConfig
    if (delivery.heartbeatMinutes <= 0) return
    const admin = yield* AdminChannel
    const runner = yield* Runner
    const outbox = yield* Outbox
    const status = yield* StatusBoard
    const latency = yield* AlertLatency
    const deliveryHealth = yield* DeliveryHealth
    const routeHealth = yield* RouteHealth
    const database = yield* DatabaseWatch
    let previousCycles = 0
    let previousDelivered = 0

    const beat = Effect.gen(function* () {
      const state = yield* runner.state
      const counts = yield* outbox.counts()
      const discord = Option.getOrUndefined(yield* status.get(DiscordStatus))
      const headroom = (discord?.webhooks ?? []).map((w) => `${w.label} ${w.remaining}/${w.limit}`).join(", ")
      const latencyLines = yield* latency.describe
      const now = yield* Clock.currentTimeMillis
      const sinkLines = (yield* deliveryHealth.snapshot).map((sink) => {
        const verdict = sinkVerdict(sink, now)
        return verdict.level === "ok" ? `${sink.sink}: delivering` : `${sink.sink}: ${verdict.problem}`
      })
      const lines = [
        `cycles: ${state.cycles - previousCycles} since the last heartbeat (${state.cycles} total), ${state.consecutiveEmpty} empty in a row`,
        describeLast(state),
        ...state.sources.map(describeSource(now)),
        `alerts delivered: ${counts.delivered - previousDelivered} since the last heartbeat; queued ${counts.pending + counts.deferred}, dead-lettered ${counts.dead}, expired ${counts.expired}, uncertain ${counts.uncertain}, dropped ${counts.dropped}`,
        ...sinkLines,
        ...(yield* routeHealth.report()).map(describeRoute),
        ...(discord === undefined
          ? []
          : [
              `discord headroom: ${headroom || "no requests yet"}; invalid responses (10 min): ${discord.invalidLast10Min}`
            ]),
        ...(latencyLines.length === 0 ? [] : ["publication → alert latency:", ...latencyLines])
      ]
      previousCycles = state.cycles
      previousDelivered = counts.delivered
      yield* admin.notify({ key: `heartbeat:${state.cycles}`, title: "heartbeat", detail: lines.join("\n") })
    }).pipe(database.guardStep("heartbeat"))

    yield* Effect.forkScoped(
      Effect.repeat(Effect.delay(beat, Duration.minutes(delivery.heartbeatMinutes)), Schedule.forever)
    )
  }).pipe(Effect.annotateLogs("module", "Heartbeat"))
).pipe(
  // Layers are shared within one build: this is the instance the alert sink publishes to.
  Layer.provide(Layer.mergeAll(DeliveryHealth.Default, RouteHealth.Default, DatabaseWatch.Default))
)
