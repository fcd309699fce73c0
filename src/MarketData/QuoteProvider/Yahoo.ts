import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Clock, Duration, Effect, Either, flow, Layer, Option, Schedule, Schema } from "effect"
import { AppConfig } from "../../Kernel/AppConfig.js"
import type { Bar, BarSeries } from "../../Kernel/Domain.js"
import {
  type BarsRequest,
  describeHttpFailure,
  found,
  paced,
  type QuoteLookup,
  QuoteProvider,
  QuoteProviderError,
  unknown
} from "../QuoteProvider.js"

/**
 * Yahoo Finance, keyless, through the v8 chart endpoint only (the v7 quote endpoint needs a cookie
 * and crumb). Reply shape and oddities (docs/ARCHITECTURE.md, "Quotes"): nulls inside the arrays during halts, no
 * `timestamp` key and `quote:[{}]` for an empty range, and a 404 with
 * `{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}`
 * for an unknown symbol.
 */

const Numbers = Schema.Array(Schema.NullOr(Schema.Number))
const Period = Schema.Struct({ start: Schema.Number, end: Schema.Number })
const OptionalNumber = Schema.optional(Schema.NullOr(Schema.Number))

const ChartResult = Schema.Struct({
  meta: Schema.Struct({
    regularMarketPrice: OptionalNumber,
    regularMarketVolume: OptionalNumber,
    regularMarketTime: OptionalNumber,
    previousClose: OptionalNumber,
    chartPreviousClose: OptionalNumber,
    gmtoffset: OptionalNumber,
    currentTradingPeriod: Schema.optional(Schema.Struct({ regular: Period }))
  }),
  timestamp: Schema.optional(Schema.Array(Schema.Number)),
  indicators: Schema.optional(
    Schema.Struct({
      quote: Schema.Array(
        Schema.Struct({
          open: Schema.optional(Numbers),
          high: Schema.optional(Numbers),
          low: Schema.optional(Numbers),
          close: Schema.optional(Numbers),
          volume: Schema.optional(Numbers)
        })
      )
    })
  )
})
type ChartResult = typeof ChartResult.Type

const ChartReply = Schema.Struct({
  chart: Schema.Struct({ result: Schema.NullOr(Schema.Array(ChartResult)) })
})

const daySeconds = 86_400
const relativeVolumeDays = 20

/** Complete bars only: a bar with any null price (a halt) is skipped, a null volume counts as 0. */
const barsOf = (result: ChartResult): Array<Bar> => {
  const times = result.timestamp ?? []
  const quote = result.indicators?.quote[0]
  const bars: Array<Bar> = []
  times.forEach((time, i) => {
    const open = quote?.open?.[i]
    const high = quote?.high?.[i]
    const low = quote?.low?.[i]
    const close = quote?.close?.[i]
    if (open == null || high == null || low == null || close == null) return
    bars.push({ time: time * 1000, open, high, low, close, volume: quote?.volume?.[i] ?? 0 })
  })
  return bars
}

/**
 * A quote from a month of daily bars: yesterday's close is the last bar of an earlier exchange-local
 * day than the last trade, and relative volume is today's volume over the mean of up to 20 earlier days.
 */
export const quoteFromDaily = (symbol: string, result: ChartResult): QuoteLookup => {
  const { meta } = result
  const bars = barsOf(result)
  const price = meta.regularMarketPrice ?? bars.at(-1)?.close
  if (price == null) return unknown
  const offset = meta.gmtoffset ?? 0
  const dayOf = (epochSeconds: number) => Math.floor((epochSeconds + offset) / daySeconds)
  const lastTrade = meta.regularMarketTime ?? (bars.length > 0 ? bars[bars.length - 1]!.time / 1000 : null)
  const earlier = lastTrade === null ? [] : bars.filter((bar) => dayOf(bar.time / 1000) < dayOf(lastTrade))
  const previousClose = meta.previousClose ?? earlier.at(-1)?.close ?? null
  const volume = meta.regularMarketVolume ?? null
  const history = earlier
    .slice(-relativeVolumeDays)
    .map((bar) => bar.volume)
    .filter((v) => v > 0)
  const averageVolume = history.length > 0 ? history.reduce((a, b) => a + b, 0) / history.length : null
  return found({
    symbol,
    price,
    previousClose,
    changePct: previousClose ? ((price - previousClose) / previousClose) * 100 : null,
    volume,
    relativeVolume: volume !== null && averageVolume !== null ? volume / averageVolume : null
  })
}

/**
 * Regular-session bounds for the day the bars belong to. `currentTradingPeriod` describes the
 * current (or next) session, which on a weekend is not the day of the bars, so it is moved by
 * whole days onto the last bar's exchange-local day.
 */
const regularSession = (result: ChartResult, bars: ReadonlyArray<Bar>) => {
  const regular = result.meta.currentTradingPeriod?.regular
  const last = bars.at(-1)
  if (regular === undefined || last === undefined) return { regularStart: null, regularEnd: null }
  const offset = result.meta.gmtoffset ?? 0
  const dayOf = (epochSeconds: number) => Math.floor((epochSeconds + offset) / daySeconds)
  const shift = (dayOf(last.time / 1000) - dayOf(regular.start)) * daySeconds
  return { regularStart: (regular.start + shift) * 1000, regularEnd: (regular.end + shift) * 1000 }
}

export const layer = Layer.effect(
  QuoteProvider,
  Effect.gen(function* () {
    const { market } = yield* AppConfig
    const http = yield* HttpClient.HttpClient
    const name = "yahoo"

    const client = http.pipe(
      HttpClient.mapRequest(
        flow(
          HttpClientRequest.prependUrl(market.yahooBaseUrl),
          HttpClientRequest.setHeader("User-Agent", "Mozilla/5.0 (compatible; catalyst-bot/0.1)"),
          HttpClientRequest.acceptJson
        )
      ),
      // 404 (and 400 for a malformed symbol) carry the "No data found" body: an answer, not a failure.
      HttpClient.filterStatus((status) => (status >= 200 && status < 300) || status === 404 || status === 400),
      HttpClient.transformResponse((attempt) =>
        paced(Effect.timeout(attempt, Duration.seconds(market.timeoutSeconds)))
      ),
      HttpClient.retryTransient({
        schedule: Schedule.exponential("250 millis").pipe(Schedule.jittered),
        times: market.retries
      })
    )

    const chart = (symbol: string, params: Record<string, string>) =>
      client.get(`/v8/finance/chart/${encodeURIComponent(symbol)}`, { urlParams: params }).pipe(
        Effect.flatMap(HttpClientResponse.schemaBodyJson(ChartReply)),
        Effect.map((reply) => Option.fromNullable(reply.chart.result?.[0])),
        Effect.mapError(
          (error) =>
            new QuoteProviderError({
              provider: name,
              reason: `${symbol}: ${describeHttpFailure(error, market.timeoutSeconds)}`
            })
        )
      )

    const quote = (symbol: string) =>
      chart(symbol, { range: "1mo", interval: "1d" }).pipe(
        Effect.map(Option.match({ onNone: () => unknown, onSome: (result) => quoteFromDaily(symbol, result) }))
      )

    /** No multi-symbol chart endpoint exists: a batch is one chart call per symbol, YAHOO_CONCURRENCY at a time. */
    const quoteBatch = (symbols: ReadonlyArray<string>) =>
      Effect.forEach(symbols, (symbol) => Effect.either(quote(symbol)), { concurrency: market.yahooConcurrency }).pipe(
        Effect.flatMap((answers) => {
          const answered = new Map<string, QuoteLookup>()
          const failures: Array<QuoteProviderError> = []
          answers.forEach((answer, i) =>
            Either.match(answer, {
              onLeft: (error) => failures.push(error),
              onRight: (lookup) => answered.set(symbols[i]!, lookup)
            })
          )
          return answered.size === 0 && failures[0] !== undefined
            ? Effect.fail(failures[0])
            : Effect.succeed<ReadonlyMap<string, QuoteLookup>>(answered)
        })
      )

    const bars = ({ symbol, interval, lookbackDays }: BarsRequest) =>
      Effect.gen(function* () {
        const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
        const params: Record<string, string> =
          interval === "5m"
            ? { range: "1d", interval: "5m", includePrePost: "true" }
            : { interval: "1d", period1: String(now - lookbackDays * daySeconds), period2: String(now) }
        const result = yield* chart(symbol, params)
        return Option.flatMap(result, (result): Option.Option<BarSeries> => {
          const series = barsOf(result)
          if (series.length === 0) return Option.none()
          const { meta } = result
          return Option.some({
            symbol,
            interval,
            bars: series,
            previousClose:
              interval === "5m"
                ? (meta.previousClose ?? meta.chartPreviousClose ?? null)
                : (meta.chartPreviousClose ?? null),
            ...(interval === "5m" ? regularSession(result, series) : { regularStart: null, regularEnd: null })
          })
        })
      })

    return QuoteProvider.of({ name, quote, quoteBatch, bars })
  })
)
