import { NodeHttpClient } from "@effect/platform-node"
import { ConfigProvider, Context, Effect, Layer, Option } from "effect"
import { Breakers } from "../src/Kernel/Breakers.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { ClassifiedItem, Quote } from "../src/Kernel/Domain.js"
import { MarketData } from "../src/MarketData/MarketData.js"
import { found, QuoteProvider } from "../src/MarketData/QuoteProvider.js"
import * as Tiingo from "../src/MarketData/QuoteProvider/Tiingo.js"
import * as Yahoo from "../src/MarketData/QuoteProvider/Yahoo.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import * as FakeQuotes from "../src/World/FakeQuotes.js"
import { type BenchReport, type CheckedFigure, type Figure, isMain, median, publish } from "./lib.js"
import { judge, targets } from "./targets.js"
import { classifiedFixture, itemFixture } from "../test/support/Alerts.js"

/**
 * 1. Heap over 1,000 cycles of fresh symbols through MarketData.enrich (bounded cache), against
 *    the old bot's unbounded price dict fed the same quotes, both in this run.
 * 2. 500 symbols through the batched path versus one call per symbol, against the local fake
 *    quote server with a fixed per-request latency, for Tiingo (a real batch endpoint) and
 *    Yahoo (a batch is YAHOO_CONCURRENCY chart calls at once).
 */

const cycles = 1_000
const warmUp = 100
const symbolsPerCycle = 50
const latencyMs = 5
const key = "bench-key"

const item = (symbol: string): ClassifiedItem =>
  classifiedFixture(
    itemFixture(symbol, {
      source: "bench",
      title: symbol,
      fetchedAt: "2026-11-27T15:00:00.000Z",
      tickers: [{ symbol, exchange: null }]
    }),
    { score: 1, llm: { _tag: "Skipped", reason: "bench" } }
  )

const quoteOf = (symbol: string): Quote => ({
  symbol,
  price: 1 + (symbol.length % 7),
  previousClose: 1,
  changePct: 0,
  volume: 1_000,
  relativeVolume: null
})

const config = (values: Record<string, string | number>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values).map(([k, v]) => [k, String(v)]))))

const heapMb = () => {
  global.gc?.()
  global.gc?.()
  return process.memoryUsage().heapUsed / 1_048_576
}

interface HeapSizes {
  readonly cycles: number
  readonly warmUp: number
  readonly cacheMax: number
}

const freshSymbols = (cycle: number) => Array.from({ length: symbolsPerCycle }, (_, i) => `C${cycle}X${i}`)

const heapGrowth = ({ cycles, warmUp, cacheMax }: HeapSizes) =>
  Effect.gen(function* () {
    const InMemory = Layer.succeed(
      QuoteProvider,
      QuoteProvider.of({
        name: "memory",
        quoteBatch: (batch) => Effect.succeed(new Map(batch.map((symbol) => [symbol, found(quoteOf(symbol))]))),
        quote: (symbol) => Effect.succeed(found(quoteOf(symbol))),
        bars: () => Effect.succeed(Option.none())
      })
    )
    const market = yield* Layer.build(
      MarketData.DefaultWithoutDependencies.pipe(
        Layer.provide(Layer.mergeAll(AppConfig.Default, Breakers.Default, StatusBoard.Default, InMemory)),
        Layer.provide(config({ QUOTE_CACHE_MAX: cacheMax, QUOTE_BATCH_SIZE: 50 }))
      )
    ).pipe(Effect.map(Context.get(MarketData)))

    let bounded = 0
    let start = 0
    for (let cycle = 0; cycle < cycles; cycle++) {
      if (cycle === warmUp) start = heapMb()
      yield* market.enrich(freshSymbols(cycle).map(item))
    }
    bounded = heapMb() - start

    // The old bot: every price it ever saw, in a dict that never shrinks.
    const dict = new Map<string, Quote>()
    let unboundedStart = 0
    for (let cycle = 0; cycle < cycles; cycle++) {
      if (cycle === warmUp) unboundedStart = heapMb()
      for (const symbol of freshSymbols(cycles + cycle)) dict.set(symbol, quoteOf(symbol))
    }
    const unbounded = heapMb() - unboundedStart
    return { bounded, unbounded, dictSize: dict.size }
  }).pipe(Effect.scoped)

const timeIt = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const started = performance.now()
    yield* effect
    return performance.now() - started
  })

/** Batched enrich versus one provider call per symbol, one after another, on the same fake server. */
const batchedVersusSingle = (provider: "tiingo" | "yahoo", fake: FakeQuotes.FakeQuotes, count: number) =>
  Effect.gen(function* () {
    const values = {
      MARKET_DATA_PROVIDER: provider,
      YAHOO_BASE_URL: fake.url,
      TIINGO_BASE_URL: fake.url,
      TIINGO_API_KEY: key,
      QUOTE_BATCH_SIZE: 50,
      QUOTE_RETRIES: 0
    }
    const context = yield* Layer.build(
      Layer.mergeAll(MarketData.Default, provider === "tiingo" ? Tiingo.layer : Yahoo.layer).pipe(
        Layer.provide(Layer.mergeAll(NodeHttpClient.layerUndici, AppConfig.Default)),
        Layer.provide(config(values))
      )
    )
    const market = Context.get(context, MarketData)
    const quotes = Context.get(context, QuoteProvider)
    const symbols = Array.from({ length: count }, (_, i) => `${provider.toUpperCase()}B${i}`)
    // Warm both paths (JIT, connection pool) on other symbols first.
    yield* market.enrich(symbols.slice(0, 50).map((symbol) => item(`${symbol}W`)))
    yield* Effect.forEach(symbols.slice(0, 20), (symbol) => quotes.quote(`${symbol}V`), { discard: true })
    fake.clearRequests()
    const batched = yield* timeIt(market.enrich(symbols.map(item)))
    const batchedRequests = fake.requests().length
    fake.clearRequests()
    const single = yield* timeIt(Effect.forEach(symbols, (symbol) => quotes.quote(`${symbol}S`), { discard: true }))
    const singleRequests = fake.requests().length
    return { batched, single, batchedRequests, singleRequests }
  })

export const run = async (): Promise<BenchReport> => {
  const figures: Array<Figure> = []
  const heap = await Effect.runPromise(heapGrowth({ cycles, warmUp, cacheMax: 5_000 }))
  figures.push({
    label: `heap growth after warm-up, ${cycles} cycles × ${symbolsPerCycle} fresh symbols (QUOTE_CACHE_MAX 5000)`,
    value: heap.bounded,
    unit: "MB",
    baseline: { label: `unbounded dict of ${heap.dictSize} quotes, MB`, value: heap.unbounded },
    ratio: heap.unbounded / Math.max(heap.bounded, 0.1),
    ...judge(targets.quoteCacheHeap, heap.bounded)
  })

  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* FakeQuotes.make({ tiingoKey: key, latencyMs })
        for (const provider of ["tiingo", "yahoo"] as const) {
          const result = yield* batchedVersusSingle(provider, fake, 500)
          figures.push({
            label: `${provider}: 500 symbols batched (${result.batchedRequests} requests, ${latencyMs} ms server latency)`,
            value: result.batched,
            unit: "ms",
            baseline: { label: `one call per symbol (${result.singleRequests} requests), ms`, value: result.single },
            ratio: result.single / result.batched,
            ...judge(targets.quotesBatched, result.batched, result.single / result.batched)
          })
        }
      })
    )
  )
  return { name: "quotes", figures }
}

/**
 * bench:check's quick mode: 120 cycles of fresh symbols through a cache of 250, three rounds, each beside the
 * unbounded dict fed the same quotes; the median of each one's heap growth. Needs --expose-gc.
 */
const quickCycles = 120

export const quick = async (): Promise<ReadonlyArray<CheckedFigure>> => {
  if (global.gc === undefined) throw new Error("bench:check's quotes figure needs node --expose-gc")
  const rounds: Array<{ bounded: number; unbounded: number }> = []
  for (let round = 0; round < 3; round++) {
    rounds.push(await Effect.runPromise(heapGrowth({ cycles: quickCycles, warmUp: 20, cacheMax: 250 })))
  }
  const bounded = median(rounds.map((round) => round.bounded))
  const unbounded = median(rounds.map((round) => round.unbounded))
  return [
    {
      label: "quotes: heap growth of the bounded quote cache vs an unbounded dict",
      ratio: bounded / unbounded,
      target: targets.quoteCacheVersusUnbounded,
      detail: `${bounded.toFixed(2)} MB / ${unbounded.toFixed(2)} MB over ${quickCycles} cycles × ${symbolsPerCycle} fresh symbols`
    }
  ]
}

if (isMain(import.meta.url)) publish(await run())
