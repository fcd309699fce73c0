import {
  Array as Arr,
  Cache,
  Data,
  Duration,
  Effect,
  Either,
  Exit,
  Layer,
  Metric,
  Option,
  RateLimiter,
  Request,
  RequestResolver,
  Schema
} from "effect"
import { Breakers, type BreakerOpen } from "../Kernel/Breakers.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { BarInterval, BarSeries, ClassifiedItem, EnrichedItem, MarketSnapshot } from "../Kernel/Domain.js"
import { currentPacer, type QuoteLookup, QuoteProvider, type QuoteProviderError } from "./QuoteProvider.js"
import * as Tiingo from "./QuoteProvider/Tiingo.js"
import * as Yahoo from "./QuoteProvider/Yahoo.js"
import { StatusBoard, StatusEntry } from "../Kernel/StatusBoard.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

export class QuoteUnavailable extends Data.TaggedError("QuoteUnavailable")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** The provider failed to answer for bars; `Option.none` from `bars` means it answered and there are none. */
export class BarsUnavailable extends Data.TaggedError("BarsUnavailable")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

class GetQuote extends Request.TaggedClass("GetQuote")<QuoteLookup, QuoteUnavailable, { readonly symbol: string }> {}

const cacheHits = Metric.counter("market_cache_hits_total", {
  description: "Market-data cache hits",
  incremental: true
})
const cacheMisses = Metric.counter("market_cache_misses_total", {
  description: "Market-data cache misses (a provider lookup followed)",
  incremental: true
})
const cacheEvictions = Metric.counter("market_cache_evictions_total", {
  description: "Entries dropped to keep a market-data cache within its capacity",
  incremental: true
})
const cacheSize = Metric.gauge("market_cache_size", { description: "Entries in a market-data cache" })
const providerCalls = Metric.counter("quote_provider_calls_total", {
  description: "Calls to the quote provider, by path (batch, single fallback, bars)",
  incremental: true
})

/** For tests and the health page; each is tagged `cache` (quotes | bars) or `path` (batch | single | bars). */
export const MarketDataMetrics = { cacheHits, cacheMisses, cacheEvictions, cacheSize, providerCalls }

interface CacheCounts {
  readonly hits: number
  readonly misses: number
  readonly evictions: number
  readonly size: number
}

/**
 * Effect's Cache reports hits, misses and size but not evictions. Around a lookup of `fresh` keys
 * that were not in the cache, evictions are what the size fell short of: before + fresh - after.
 * Hits and misses are counted by the caller (`fresh` of its keys were missing): lookups run side by
 * side, and the cache's own totals would then count another lookup's keys too.
 */
const recordCacheActivity = (
  cache: "quotes" | "bars",
  before: Cache.CacheStats,
  after: Cache.CacheStats,
  keys: number,
  fresh: number
) => {
  const counts: CacheCounts = {
    hits: keys - fresh,
    misses: fresh,
    evictions: Math.max(0, before.size + fresh - after.size),
    size: after.size
  }
  return Effect.all(
    [
      Metric.incrementBy(Metric.tagged(cacheHits, "cache", cache), counts.hits),
      Metric.incrementBy(Metric.tagged(cacheMisses, "cache", cache), counts.misses),
      Metric.incrementBy(Metric.tagged(cacheEvictions, "cache", cache), counts.evictions),
      Metric.set(Metric.tagged(cacheSize, "cache", cache), counts.size)
    ],
    { discard: true }
  ).pipe(Effect.as(counts))
}

const primarySymbol = (entry: ClassifiedItem): string | undefined => entry.item.tickers[0]?.symbol.trim().toUpperCase()

const snapshot = (lookup: Either.Either<QuoteLookup, QuoteUnavailable>, symbol: string): MarketSnapshot =>
  Either.match(lookup, {
    onLeft: (error): MarketSnapshot => ({ _tag: "PriceUnavailable", reason: error.reason }),
    onRight: (answer): MarketSnapshot =>
      answer._tag === "Found" ? { _tag: "Priced", quote: answer.quote } : { _tag: "UnknownSymbol", symbol }
  })

/** The provider, its quote cache and how the last enrich went, on /health's `board`. */
export const MarketDataStatus = StatusEntry(
  "market-data",
  Schema.Union(
    Schema.Struct({ provider: Schema.Literal("none") }),
    Schema.Struct({
      provider: Schema.String,
      quoteCache: Schema.Struct({ size: Schema.Number, capacity: Schema.Number }),
      lastEnrich: Schema.Struct({
        symbols: Schema.Number,
        priced: Schema.Number,
        unknown: Schema.Number,
        unavailable: Schema.Number
      })
    })
  )
)

/** QUOTE_CACHE_MAX-sized chunks at most: Effect's Cache can only evict keys whose lookup has started. */
const enrichChunk = 1_000

/** MARKET_DATA_PROVIDER picks the adapter; `none` provides no QuoteProvider at all. */
export const QuoteProviderLive = Layer.unwrapEffect(
  Effect.map(AppConfig, ({ market }) =>
    market.provider === "yahoo" ? Yahoo.layer : market.provider === "tiingo" ? Tiingo.layer : Layer.empty
  )
).pipe(Layer.provide(AppConfig.Default))

/**
 * Attaches price and volume to candidate items, and serves bars for charts.
 *
 * Quote lookups go through a bounded TTL cache (QUOTE_CACHE_MAX, QUOTE_CACHE_TTL_SECONDS) whose
 * misses become batched requests (QUOTE_BATCH_SIZE). Symbols a batch couldn't answer are asked
 * for one at a time, QUOTE_RPS at most, never as a burst. One circuit breaker guards the provider.
 */
export class MarketData extends Effect.Service<MarketData>()("MarketData/MarketData", {
  scoped: Effect.gen(function* () {
    const { market } = yield* AppConfig
    const maybeProvider = yield* Effect.serviceOption(QuoteProvider)
    const status = yield* StatusBoard

    if (Option.isNone(maybeProvider)) {
      const reason = "market data is off (MARKET_DATA_PROVIDER=none)"
      yield* status.set(MarketDataStatus, { provider: "none" })
      return {
        enrich: Effect.fn("MarketData.enrich")(function* (items: ReadonlyArray<ClassifiedItem>) {
          return items.map((item): EnrichedItem => ({ ...item, market: { _tag: "PriceUnavailable", reason } }))
        }),
        bars: Effect.fn("MarketData.bars")(function* (_symbol: string, _interval: BarInterval) {
          return Option.none<BarSeries>()
        })
      }
    }
    const provider = maybeProvider.value
    const breakers = yield* Breakers
    const breaker = yield* breakers.make({
      name: `market data (${provider.name})`,
      failureThreshold: market.breakerFailures,
      backoff: Duration.seconds(market.breakerBackoffSeconds),
      maxBackoff: Duration.seconds(Math.max(600, market.breakerBackoffSeconds))
    })
    // 10% headroom, as for SEC: spacing by exactly 1/rate lets network jitter put rate+1 requests in one second.
    const limiter = yield* RateLimiter.make({
      limit: 1,
      interval: Duration.millis(Math.ceil(1_100 / market.rps)),
      algorithm: "token-bucket"
    })
    const unavailable = (error: QuoteProviderError | BreakerOpen) => new QuoteUnavailable({ reason: error.message })
    const calls = (path: "batch" | "single" | "bars") => Metric.increment(Metric.tagged(providerCalls, "path", path))

    const askOne = (symbol: string) =>
      breaker
        .protect(Effect.zipRight(calls("single"), provider.quote(symbol)))
        .pipe(Effect.locally(currentPacer, limiter), Effect.mapError(unavailable))

    /**
     * One second's worth of symbols at a time, each call paced by the limiter; once the breaker
     * opens, the rest fail at once without a request.
     */
    const fallback = (requests: ReadonlyArray<GetQuote>) =>
      Effect.forEach(
        Arr.chunksOf(requests, Math.max(1, Math.ceil(market.rps))),
        (chunk) =>
          Effect.forEach(chunk, (request) => Request.completeEffect(request, askOne(request.symbol)), {
            concurrency: "unbounded",
            discard: true
          }),
        { discard: true }
      ).pipe(Effect.withSpan("MarketData.quoteFallback", { attributes: { "quote.symbols": requests.length } }))

    const resolveBatch = (requests: Arr.NonEmptyArray<GetQuote>) =>
      Effect.gen(function* () {
        const symbols = requests.map((request) => request.symbol)
        const batch = yield* breaker
          .protect(Effect.zipRight(calls("batch"), provider.quoteBatch(symbols)))
          .pipe(Effect.either)
        if (Either.isLeft(batch) && batch.left._tag === "BreakerOpen") {
          const error = unavailable(batch.left)
          yield* Effect.annotateCurrentSpan({ "quote.symbols": symbols.length, "quote.breaker": "open" })
          return yield* Effect.forEach(requests, (request) => Request.fail(request, error), { discard: true })
        }
        const answers = Either.getOrElse(batch, () => new Map<string, QuoteLookup>())
        const unanswered: Array<GetQuote> = []
        for (const request of requests) {
          const answer = answers.get(request.symbol)
          if (answer === undefined) unanswered.push(request)
          else yield* Request.succeed(request, answer)
        }
        yield* Effect.annotateCurrentSpan({
          "quote.symbols": symbols.length,
          "quote.answered": symbols.length - unanswered.length,
          "quote.fallback": unanswered.length
        })
        if (unanswered.length === 0) return
        yield* Effect.logWarning(
          Either.isLeft(batch)
            ? `quote batch of ${symbols.length} failed (${batch.left.message}); asking one at a time at QUOTE_RPS=${market.rps}`
            : `quote batch left ${unanswered.length} of ${symbols.length} unanswered; asking one at a time at QUOTE_RPS=${market.rps}`
        )
        yield* fallback(unanswered)
      }).pipe(
        Effect.withSpan("MarketData.quoteBatch", { attributes: { "quote.provider": provider.name } }),
        // Every path above completes every request; if one died or was interrupted, none may be left waiting.
        Effect.onExit((exit) => {
          if (Exit.isSuccess(exit)) return Effect.void
          const unanswered = new QuoteUnavailable({ reason: "the quote batch ended without an answer" })
          return Effect.forEach(requests, (request) => Request.fail(request, unanswered), { discard: true })
        })
      )

    const resolver = RequestResolver.makeBatched(resolveBatch).pipe(RequestResolver.batchN(market.batchSize))

    /**
     * Answers (including "unknown symbol" and "no bars") live for the TTL; failures aren't kept, so the
     * next cycle or chart asks again instead of reading an outage as an answer.
     */
    const shortLivedFailures =
      (ttl: Duration.Duration) =>
      <A, E>(exit: Exit.Exit<A, E>): Duration.Duration =>
        Exit.isSuccess(exit) ? ttl : Duration.zero

    const quotes = yield* Cache.makeWith({
      capacity: market.cacheMax,
      lookup: (symbol: string) => Effect.request(new GetQuote({ symbol }), resolver),
      timeToLive: shortLivedFailures(Duration.seconds(market.cacheTtlSeconds))
    })

    const barsCache = yield* Cache.makeWith({
      capacity: market.barsCacheMax,
      lookup: (key: string) => {
        const [interval, symbol] = key.split(" ", 2) as [BarInterval, string]
        return breaker
          .protect(
            Effect.zipRight(calls("bars"), provider.bars({ symbol, interval, lookbackDays: market.dailyLookbackDays }))
          )
          .pipe(Effect.locally(currentPacer, limiter))
      },
      timeToLive: shortLivedFailures(Duration.seconds(market.barsCacheTtlSeconds))
    })

    // One permit per cache entry: chunks of enriches running side by side (one per poller) never hold
    // more symbols together than the cache can keep, so none evicts another's answers mid-lookup.
    const cacheRoom = yield* Effect.makeSemaphore(market.cacheMax)

    const lookupChunk = (symbols: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const before = yield* quotes.cacheStats
        const present = yield* Effect.forEach(symbols, (symbol) => quotes.contains(symbol))
        const results = yield* Effect.forEach(symbols, (symbol) => Effect.either(quotes.get(symbol)), {
          batching: true,
          // Requests are collected for batching regardless; a bound keeps fibers (and garbage) down.
          concurrency: 64
        })
        const after = yield* quotes.cacheStats
        yield* recordCacheActivity("quotes", before, after, symbols.length, present.filter((known) => !known).length)
        return results
      })

    const enrich = Effect.fn("MarketData.enrich")(function* (items: ReadonlyArray<ClassifiedItem>) {
      const symbols = Array.from(new Set(items.flatMap((item) => primarySymbol(item) ?? [])))
      const lookups = new Map<string, Either.Either<QuoteLookup, QuoteUnavailable>>()
      yield* Effect.forEach(
        Arr.chunksOf(symbols, Math.min(market.cacheMax, enrichChunk)),
        (chunk) =>
          cacheRoom
            .withPermits(chunk.length)(lookupChunk(chunk))
            .pipe(Effect.map((results) => results.forEach((result, i) => lookups.set(chunk[i]!, result)))),
        { discard: true }
      )
      const enriched = items.map((item): EnrichedItem => {
        const symbol = primarySymbol(item)
        const lookup = symbol === undefined ? undefined : lookups.get(symbol)
        return {
          ...item,
          market:
            symbol === undefined || lookup === undefined
              ? { _tag: "PriceUnavailable", reason: "no ticker" }
              : snapshot(lookup, symbol)
        }
      })
      const tally = { priced: 0, unknown: 0, unavailable: 0 }
      for (const { market } of enriched) {
        if (market._tag === "Priced") tally.priced++
        else if (market._tag === "UnknownSymbol") tally.unknown++
        else tally.unavailable++
      }
      const { size } = yield* quotes.cacheStats
      yield* status.set(MarketDataStatus, {
        provider: provider.name,
        quoteCache: { size, capacity: market.cacheMax },
        lastEnrich: { symbols: symbols.length, ...tally }
      })
      yield* Effect.annotateCurrentSpan({ "quote.symbols": symbols.length, ...tally })
      return enriched
    })

    const bars = Effect.fn("MarketData.bars")(function* (symbol: string, interval: BarInterval) {
      const key = `${interval} ${symbol.trim().toUpperCase()}`
      const before = yield* barsCache.cacheStats
      const present = yield* barsCache.contains(key)
      const series = yield* barsCache.get(key).pipe(
        Effect.either,
        Effect.tap(() =>
          Effect.flatMap(barsCache.cacheStats, (after) =>
            recordCacheActivity("bars", before, after, 1, present ? 0 : 1)
          )
        )
      )
      if (Either.isRight(series)) return series.right
      const error = series.left
      const reason = error._tag === "BreakerOpen" ? `${error.lastError}; paused after repeated failures` : error.message
      yield* Effect.logWarning(`no ${interval} bars for ${symbol}: ${reason}`)
      return yield* new BarsUnavailable({ reason })
    })

    return { enrich, bars }
  }).pipe(Effect.annotateLogs("module", "MarketData")),
  dependencies: [AppConfig.Default, Breakers.Default, StatusBoard.Default, QuoteProviderLive]
}) {
  static readonly Test = makeTestLayer(MarketData)
}
