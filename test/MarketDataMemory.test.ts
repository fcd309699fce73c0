import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Metric, Option } from "effect"
import { Breakers } from "../src/Kernel/Breakers.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { ClassifiedItem } from "../src/Kernel/Domain.js"
import { MarketData, MarketDataMetrics } from "../src/MarketData/MarketData.js"
import { found, QuoteProvider } from "../src/MarketData/QuoteProvider.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { configLayer } from "./support/TestLayers.js"
import { classifiedFixture, itemFixture } from "./support/Alerts.js"

/**
 * Kept apart from the other market-data tests: 200k cache misses are 200k Effect requests, a few
 * seconds of CPU, and the file then runs in parallel with the rest of the suite.
 */

const item = (symbol: string): ClassifiedItem =>
  classifiedFixture(
    itemFixture(symbol, { title: symbol, fetchedAt: "2026-11-27T15:00:00.000Z", tickers: [{ symbol, exchange: null }] })
  )

const symbols = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `${prefix}${i}`)

const quoteCacheSize = Metric.value(Metric.tagged(MarketDataMetrics.cacheSize, "cache", "quotes")).pipe(
  Effect.map((state) => state.value)
)

const counter = (metric: Metric.Metric.Counter<number>, tag: string, value: string) =>
  Metric.value(Metric.tagged(metric, tag, value)).pipe(Effect.map((state) => state.count))

describe("MarketData memory", () => {
  it.scoped(
    "enriching 200k distinct symbols keeps the cache at or below QUOTE_CACHE_MAX",
    () =>
      Effect.gen(function* () {
        const cacheMax = 1_000
        const quote = (symbol: string) =>
          found({ symbol, price: 1, previousClose: 1, changePct: 0, volume: 1, relativeVolume: null })
        const InMemory = Layer.succeed(
          QuoteProvider,
          QuoteProvider.of({
            name: "memory",
            quoteBatch: (batch) => Effect.succeed(new Map(batch.map((symbol) => [symbol, quote(symbol)]))),
            quote: (symbol) => Effect.succeed(quote(symbol)),
            bars: () => Effect.succeed(Option.none())
          })
        )
        const market = yield* Layer.build(
          MarketData.DefaultWithoutDependencies.pipe(
            Layer.provide(Layer.mergeAll(AppConfig.Default, Breakers.Default, StatusBoard.Default, InMemory)),
            Layer.provide(configLayer({ QUOTE_CACHE_MAX: cacheMax, QUOTE_BATCH_SIZE: 500 }))
          )
        ).pipe(Effect.map(Context.get(MarketData)))
        const evictions = yield* counter(MarketDataMetrics.cacheEvictions, "cache", "quotes")
        let largest = 0
        for (let round = 0; round < 20; round++) {
          const enriched = yield* market.enrich(symbols(10_000, `R${round}_`).map((s) => item(s)))
          expect(enriched.every((entry) => entry.market._tag === "Priced")).toBe(true)
          largest = Math.max(largest, yield* quoteCacheSize)
          // Give the event loop a turn, so vitest's worker RPC isn't starved during this long loop.
          yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        }
        expect(largest).toBeLessThanOrEqual(cacheMax)
        expect(yield* quoteCacheSize).toBe(cacheMax)
        expect((yield* counter(MarketDataMetrics.cacheEvictions, "cache", "quotes")) - evictions).toBe(
          200_000 - cacheMax
        )
      }),
    120_000
  )
})
