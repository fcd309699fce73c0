import { Cache, Cause, Clock, Data, Duration, Effect, Either, Exit, Metric, MetricBoundaries, Option } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { Alert, BarInterval, BarSeries, Chart, ChartOutcome } from "../Kernel/Domain.js"
import { MarketData } from "../MarketData/MarketData.js"
import type { ChartRequest } from "./Protocol.js"
import { ChartFailed, RenderPool } from "./RenderPool.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

export const chartRenders = Metric.counter("chart_renders_total", { description: "Charts drawn (cache misses)" })
export const chartFailures = Metric.counter("chart_failures_total", {
  description: "Charts that failed or timed out; their alerts went out flagged 'chart unavailable'"
})
export const chartRenderSeconds = Metric.histogram(
  "chart_render_duration_seconds",
  MetricBoundaries.exponential({ start: 0.01, factor: 2, count: 11 }),
  "Time to draw one chart on a worker, queueing included"
)
export const chartCacheHits = Metric.counter("chart_cache_hits_total", { description: "Charts served from the cache" })
export const chartCacheMisses = Metric.counter("chart_cache_misses_total", {
  description: "Chart requests that had to fetch bars and draw"
})

/**
 * New 5-minute bars arrive every 5 minutes, and today's daily candle moves with them: a chart is reused only within
 * the same 5-minute bucket, so a cached chart is never older than the bars it could have shown.
 */
const barBucketMs = 5 * 60_000

/** Two alerts for one ticker in one bucket share a chart only if their markers fall in the same minute. */
class ChartKey extends Data.Class<{
  readonly symbol: string
  readonly interval: BarInterval
  readonly barBucket: number
  readonly markerMinute: number | null
}> {}

const variants = {
  auto: ["5m", "1d"],
  intraday: ["5m"],
  daily: ["1d"]
} as const satisfies Record<string, ReadonlyArray<BarInterval>>

const chartFilename = (series: BarSeries) =>
  `${series.symbol.replace(/[^A-Za-z0-9._-]/g, "_")}-${series.interval === "5m" ? "intraday" : "daily"}.png`

/** An item's publication time in epoch ms, when it carried a readable one. */
const publishedAt = (published: string | null): number | null => {
  const time = published === null ? Number.NaN : Date.parse(published)
  return Number.isFinite(time) ? time : null
}

/**
 * Draws the chart that goes with an alert: today's 5-minute candles (pre/post-market shaded, VWAP, previous close,
 * a marker at the publication time) or, with CHART_VARIANT=daily or when there are no intraday bars, about three
 * months of daily candles. Drawing runs on the RenderPool's worker threads; results are cached per ticker, variant
 * and bar bucket. A failure or timeout is an outcome (`Failed`), never an error: the alert goes out without a chart.
 */
export class ChartRenderer extends Effect.Service<ChartRenderer>()("Charts/ChartRenderer", {
  scoped: Effect.gen(function* () {
    const { charts: config } = yield* AppConfig
    const market = yield* MarketData
    const pool = yield* RenderPool

    const render = Effect.fn("ChartRenderer.render")(function* (request: ChartRequest) {
      yield* Effect.annotateCurrentSpan({
        "chart.symbol": request.series.symbol,
        "chart.interval": request.series.interval,
        "chart.bars": request.series.bars.length
      })
      const png = yield* pool.draw(request).pipe(Metric.trackDurationWith(chartRenderSeconds, Duration.toSeconds))
      yield* Metric.increment(chartRenders)
      return { filename: chartFilename(request.series), png } satisfies Chart
    })

    const lookup = (key: ChartKey): Effect.Effect<ChartOutcome> =>
      market.bars(key.symbol, key.interval).pipe(
        Effect.catchAllCause((cause) =>
          Effect.fail(
            new ChartFailed({
              reason: Option.match(Cause.failureOption(cause), {
                onSome: (error) => `price API down (${error.reason})`,
                onNone: () => `bars unavailable: ${Cause.pretty(cause).split("\n")[0]}`
              })
            })
          )
        ),
        Effect.flatMap(
          Option.match({
            onNone: () => Effect.succeed<ChartOutcome>({ _tag: "NoBars" }),
            onSome: (series) =>
              series.bars.length === 0
                ? Effect.succeed<ChartOutcome>({ _tag: "NoBars" })
                : Effect.map(render({ series, markerTime: key.markerMinute }), (chart): ChartOutcome => ({
                    _tag: "Rendered",
                    chart
                  }))
          })
        ),
        Effect.catchTag("ChartFailed", (error) =>
          Effect.zipRight(
            Metric.increment(chartFailures),
            Effect.succeed<ChartOutcome>({ _tag: "Failed", reason: error.reason })
          )
        )
      )

    const ttl = Duration.seconds(config.cacheTtlSeconds)
    const cache = yield* Cache.makeWith({
      capacity: config.cacheSize,
      lookup,
      // Failures are retried on the next alert; "no bars" may change within a minute (market opens).
      timeToLive: Exit.match({
        onFailure: () => Duration.zero,
        onSuccess: (outcome) =>
          outcome._tag === "Rendered"
            ? ttl
            : outcome._tag === "NoBars"
              ? Duration.min(ttl, Duration.minutes(1))
              : Duration.zero
      })
    })

    const cached = (key: ChartKey) =>
      Effect.gen(function* () {
        const found = yield* cache.getEither(key)
        yield* Metric.increment(Either.isLeft(found) ? chartCacheHits : chartCacheMisses)
        const outcome = Either.merge(found)
        if (outcome._tag === "Failed") yield* cache.invalidate(key)
        return outcome
      })

    const chartOf = (symbol: string, publishedIso: string | null) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const published = publishedAt(publishedIso)
        let outcome: ChartOutcome = { _tag: "NoBars" }
        for (const interval of variants[config.variant]) {
          outcome = yield* cached(
            new ChartKey({
              symbol,
              interval,
              barBucket: Math.floor(now / barBucketMs),
              markerMinute: published === null ? null : Math.floor(published / 60_000) * 60_000
            })
          )
          if (outcome._tag !== "NoBars") break
        }
        return outcome
      })

    const forAlert = Effect.fn("ChartRenderer.forAlert")(
      function* (alert: Alert) {
        const outcome = yield* chartOf(alert.ticker.symbol, alert.item.published)
        if (outcome._tag === "Failed") {
          yield* Effect.logWarning(`chart for ${alert.ticker.symbol} unavailable: ${outcome.reason}`)
        }
        return outcome
      },
      Effect.annotateLogs("module", "ChartRenderer")
    )

    // As many prefetches at once as there are workers, so they queue here and never fill the pool's queue.
    const prefetching = yield* Effect.makeSemaphore(config.workers)
    const scope = yield* Effect.scope
    /**
     * Starts drawing the chart of an alert still being decided, in the background: the cache keeps
     * it (or the drawing in progress) for `forAlert`, so delivery doesn't start from nothing.
     */
    const prefetch = Effect.fn("ChartRenderer.prefetch")(function* (symbol: string, published: string | null) {
      yield* prefetching.withPermits(1)(chartOf(symbol, published)).pipe(Effect.forkIn(scope))
    })

    return { forAlert, prefetch, render } as const
  }),
  dependencies: [AppConfig.Default, MarketData.Default, RenderPool.Default]
}) {
  static readonly Test = makeTestLayer(ChartRenderer)
}
