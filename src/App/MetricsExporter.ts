import { Clock, Duration, Effect, Metric, MetricState, Option, Schedule } from "effect"
import type { MetricKey } from "effect/MetricKey"
import * as MetricKeyType from "effect/MetricKeyType"
import type { MetricPair } from "effect/MetricPair"
import { monitorEventLoopDelay } from "node:perf_hooks"
import * as Prometheus from "prom-client"
import { Outbox } from "../Delivery/Outbox.js"
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

const sanitizeName = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^([^a-zA-Z_:])/, "_$1")
const sanitizeLabel = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^([^a-zA-Z_])/, "_$1")

type Labels = Record<string, string>

interface Series {
  readonly key: MetricKey.Untyped
  readonly labels: Labels
  readonly state: MetricState.MetricState.Untyped
}

const labelsOf = (pair: MetricPair.Untyped): Labels =>
  Object.fromEntries(pair.metricKey.tags.map((tag) => [sanitizeLabel(tag.key), tag.value]))

const isMonotonic = (key: MetricKey.Untyped, name: string) =>
  name.endsWith("_total") || (MetricKeyType.isCounterKey(key.keyType) && key.keyType.incremental)

const formatBound = (bound: number) => (bound === Number.POSITIVE_INFINITY ? "+Inf" : String(bound))

type HistogramData = Awaited<ReturnType<Prometheus.Histogram<string>["get"]>>

/** prom-client's Registry renders histograms through this hook, which its typings don't declare. */
const baseHistogramData = (histogram: Prometheus.Histogram<string>): Promise<HistogramData> =>
  (
    Prometheus.Histogram.prototype as unknown as { getForPromString: (this: unknown) => Promise<HistogramData> }
  ).getForPromString.call(histogram)

/** Effect histograms already hold cumulative bucket counts; prom-client only formats them. */
class HistogramView extends Prometheus.Histogram<string> {
  constructor(
    options: Prometheus.HistogramConfiguration<string>,
    private readonly series: ReadonlyArray<Series>
  ) {
    super(options)
  }
  async getForPromString(): Promise<HistogramData> {
    const base = await baseHistogramData(this)
    const values = this.series.flatMap(({ labels, state }) => {
      if (!MetricState.isHistogramState(state)) return []
      return [
        ...state.buckets.map(([bound, count]) => ({
          metricName: `${base.name}_bucket`,
          labels: { ...labels, le: formatBound(bound) },
          value: count
        })),
        { metricName: `${base.name}_sum`, labels, value: state.sum },
        { metricName: `${base.name}_count`, labels, value: state.count }
      ]
    })
    return { ...base, values }
  }
  override get() {
    return this.getForPromString()
  }
}

class SummaryView extends Prometheus.Summary<string> {
  constructor(
    options: Prometheus.SummaryConfiguration<string>,
    private readonly series: ReadonlyArray<Series>
  ) {
    super(options)
  }
  override async get() {
    const base = await super.get()
    const values = this.series.flatMap(({ labels, state }) => {
      if (!MetricState.isSummaryState(state)) return []
      return [
        ...state.quantiles.flatMap(([quantile, value]) =>
          Option.isSome(value) ? [{ labels: { ...labels, quantile: String(quantile) }, value: value.value }] : []
        ),
        { metricName: `${base.name}_sum`, labels, value: state.sum },
        { metricName: `${base.name}_count`, labels, value: state.count }
      ]
    })
    return { ...base, values }
  }
}

/**
 * Encodes every Effect metric in the process (the global registry) as Prometheus text, through
 * prom-client: a fresh registry per scrape, one family per metric name, labels from metric tags.
 */
export const encodePrometheus = async (pairs: ReadonlyArray<MetricPair.Untyped>): Promise<string> => {
  const registry = new Prometheus.Registry()
  const families = new Map<string, { help: string; series: Array<Series> }>()
  for (const pair of pairs) {
    const name = sanitizeName(pair.metricKey.name)
    const family = families.get(name) ?? { help: "", series: [] }
    family.help ||= Option.getOrElse(pair.metricKey.description, () => pair.metricKey.name)
    family.series.push({ key: pair.metricKey, labels: labelsOf(pair), state: pair.metricState })
    families.set(name, family)
  }
  for (const [name, { help, series }] of families) {
    const first = series[0]!.state
    const labelNames = Array.from(new Set(series.flatMap((s) => Object.keys(s.labels))))
    const options = { name, help, labelNames, registers: [registry] }
    if (MetricState.isHistogramState(first)) {
      new HistogramView({ ...options, labelNames: labelNames.filter((label) => label !== "le") }, series)
    } else if (MetricState.isSummaryState(first)) {
      new SummaryView({ ...options, labelNames: labelNames.filter((label) => label !== "quantile") }, series)
    } else if (MetricState.isFrequencyState(first)) {
      const counter = new Prometheus.Counter({ ...options, labelNames: [...labelNames, "key"] })
      for (const { labels, state } of series) {
        if (!MetricState.isFrequencyState(state)) continue
        for (const [key, count] of state.occurrences) counter.inc({ ...labels, key }, count)
      }
    } else {
      const values = series.flatMap(({ labels, state }) =>
        MetricState.isCounterState(state)
          ? [{ labels, value: Number(state.count) }]
          : MetricState.isGaugeState(state)
            ? [{ labels, value: Number(state.value) }]
            : []
      )
      // A Prometheus counter never goes down; an Effect counter may, unless it is `incremental`.
      // Counters named *_total follow the Prometheus convention and are trusted to be monotonic.
      if (MetricState.isCounterState(first) && isMonotonic(series[0]!.key, name)) {
        const counter = new Prometheus.Counter(options)
        for (const { labels, value } of values) counter.inc(labels, value)
      } else {
        const gauge = new Prometheus.Gauge(options)
        for (const { labels, value } of values) gauge.set(labels, value)
      }
    }
  }
  return registry.metrics()
}

export const prometheusContentType = Prometheus.Registry.PROMETHEUS_CONTENT_TYPE

/**
 * Process-level gauges (outbox backlog, per-source poll state, event-loop delay, heap) sampled on a timer, and the
 * Prometheus rendering of every metric for GET /metrics.
 */
export class MetricsExporter extends Effect.Service<MetricsExporter>()("App/MetricsExporter", {
  scoped: Effect.gen(function* () {
    const outbox = yield* Outbox
    const runner = yield* Runner
    const routeHealth = yield* RouteHealth
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
      Effect.catchAllCause(Effect.logError),
      Effect.repeat(Schedule.spaced(samplingInterval)),
      Effect.annotateLogs("module", "Metrics"),
      Effect.forkScoped
    )

    /** Prometheus text for every metric in the process, with the storage gauges freshly sampled. */
    const scrape = Effect.fn("MetricsExporter.scrape")(function* () {
      yield* sampleStorage
      return yield* Effect.promise(() => encodePrometheus(Metric.unsafeSnapshot()))
    })

    return { scrape } as const
  }),
  dependencies: [Outbox.Default, Runner.Default, RouteHealth.Default]
}) {}
