import { Clock, Duration, Effect, Metric, Schedule } from "effect"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Outbox } from "../Delivery/Outbox.js"
import { DatabaseWatch } from "../Kernel/DatabaseWatch.js"
import { RouteHealth } from "../Delivery/RouteHealth.js"
import { Runner } from "../Runner/Runner.js"

export const outboxDepth = Metric.gauge("outbox_depth", { description: "Alerts waiting for delivery" })
export const outboxOldestAge = Metric.gauge("outbox_oldest_pending_age_seconds", {
  description: "Age of the oldest alert waiting for delivery (0 when none)"
})
export const outboxRows = Metric.gauge("outbox_rows", {
  description: "Outbox rows by status (pending, deferred, sending, delivered, uncertain, expired, dead, dropped)"
})
export const eventLoopDelay = Metric.gauge("nodejs_eventloop_delay_seconds", {
  description: "Event-loop delay over the last sampling period, by quantile"
})
export const heapUsed = Metric.gauge("nodejs_heap_used_bytes", { description: "V8 heap in use" })
export const heapTotal = Metric.gauge("nodejs_heap_total_bytes", { description: "V8 heap reserved" })
export const residentMemory = Metric.gauge("process_resident_memory_bytes", { description: "Resident set size" })

export const sourceInterval = Metric.gauge("source_poll_interval_seconds", {
  description: "Each source's current poll interval"
})
export const sourceLastPollAge = Metric.gauge("source_last_poll_age_seconds", {
  description: "Seconds since each source was last polled"
})
export const sourceLastNewItemAge = Metric.gauge("source_last_new_item_age_seconds", {
  description: "Seconds since each source last brought a new item"
})
export const sourceFailures = Metric.gauge("source_consecutive_failures", {
  description: "Polls in a row that failed, per source"
})
export const sourceUsualGap = Metric.gauge("source_usual_gap_seconds", {
  description: "Median gap between polls that brought new items, per source"
})

/** How often the runtime gauges are refreshed (a scrape refreshes them too). */
const samplingInterval = Duration.seconds(10)

/**
 * Process-level gauges (outbox backlog, per-source poll state, event-loop delay, heap) sampled on a timer, and the
 * Prometheus rendering of every metric for GET /metrics.
 */
export class MetricsExporter extends Effect.Service<MetricsExporter>()("App/MetricsExporter", {
  scoped: Effect.gen(function* () {
    const outbox = yield* Outbox
    const runner = yield* Runner
    const routeHealth = yield* RouteHealth
    const database = yield* DatabaseWatch
    const loopDelay = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const histogram = monitorEventLoopDelay({ resolution: 10 })
        histogram.enable()
        return histogram
      }),
      (histogram) => Effect.sync(() => histogram.disable())
    )

    const sampleStorage = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const { depth, oldestCreatedAt } = yield* outbox.pendingStats
      yield* Metric.set(outboxDepth, depth)
      yield* Metric.set(outboxOldestAge, oldestCreatedAt === null ? 0 : Math.max(0, (now - oldestCreatedAt) / 1000))
      for (const [status, count] of Object.entries(yield* outbox.counts())) {
        yield* Metric.set(Metric.tagged(outboxRows, "status", status), count)
      }
      yield* routeHealth.sample()
      for (const source of (yield* runner.state).sources) {
        const tagged = (gauge: Metric.Metric.Gauge<number>) => Metric.tagged(gauge, "source", source.name)
        yield* Metric.set(tagged(sourceInterval), source.intervalSeconds)
        yield* Metric.set(tagged(sourceFailures), source.consecutiveFailures)
        if (source.lastPollAt !== null) yield* Metric.set(tagged(sourceLastPollAge), (now - source.lastPollAt) / 1000)
        if (source.lastNewItemAt !== null) {
          yield* Metric.set(tagged(sourceLastNewItemAge), (now - source.lastNewItemAt) / 1000)
        }
        if (source.usualGapSeconds !== null) yield* Metric.set(tagged(sourceUsualGap), source.usualGapSeconds)
      }
      const memory = process.memoryUsage()
      yield* Metric.set(heapUsed, memory.heapUsed)
      yield* Metric.set(heapTotal, memory.heapTotal)
      yield* Metric.set(residentMemory, memory.rss)
    })

    /** Event-loop delay since the previous sample (nanoseconds in perf_hooks, seconds here). */
    const sampleEventLoop = Effect.gen(function* () {
      if (loopDelay.count === 0) return
      for (const [quantile, nanos] of [
        ["0.5", loopDelay.percentile(50)],
        ["0.99", loopDelay.percentile(99)],
        ["1", loopDelay.max]
      ] as const) {
        yield* Metric.set(eventLoopDelay.pipe(Metric.tagged("quantile", quantile)), nanos / 1e9)
      }
      loopDelay.reset()
    })

    yield* Effect.zipRight(sampleEventLoop, sampleStorage).pipe(
      Effect.withTracerEnabled(false),
      database.guardStep("metrics sampling"),
      Effect.repeat(Schedule.spaced(samplingInterval)),
      Effect.annotateLogs("module", "Metrics"),
      Effect.forkScoped
    )

    // prom-client is loaded on the first scrape: a bot nobody scrapes doesn't keep it resident (bench:memory).
    const encoder = yield* Effect.cached(Effect.promise(() => import("./PrometheusText.js")))

    /** Prometheus text for every metric in the process and its content type, the storage gauges freshly sampled. */
    const scrape = Effect.fn("MetricsExporter.scrape")(function* () {
      yield* sampleStorage
      const { encodePrometheus, prometheusContentType } = yield* encoder
      const text = yield* Effect.promise(() => encodePrometheus(Metric.unsafeSnapshot()))
      return { text, contentType: prometheusContentType } as const
    })

    return { scrape } as const
  }),
  dependencies: [Outbox.Default, Runner.Default, RouteHealth.Default, DatabaseWatch.Default]
}) {}
