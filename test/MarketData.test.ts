import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric, Option, Tracer } from "effect"
import { Breakers } from "../src/Kernel/Breakers.js"
import type { ClassifiedItem, EnrichedItem } from "../src/Kernel/Domain.js"
import { MarketData, MarketDataMetrics } from "../src/MarketData/MarketData.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import * as FakeQuotes from "../src/World/FakeQuotes.js"
import { configLayer } from "./support/TestLayers.js"
import { classifiedFixture, itemFixture } from "./support/Alerts.js"

const key = "test-key-123"

const item = (symbol: string, id = symbol): ClassifiedItem =>
  classifiedFixture(
    itemFixture(id, {
      title: `${symbol} announces things`,
      fetchedAt: "2026-11-27T15:00:00.000Z",
      tickers: [{ symbol, exchange: "Nasdaq" }]
    }),
    { categories: ["contract"], sentiment: 0.5 }
  )

const symbols = (count: number, prefix = "S") => Array.from({ length: count }, (_, i) => `${prefix}${i}`)

/** MarketData against the fake server, plus the shared services a test may want to look at. */
const liveMarket = (url: string, values: Record<string, string | number>) =>
  Layer.mergeAll(MarketData.Default, Breakers.Default, StatusBoard.Default).pipe(
    Layer.provide(NodeHttpClient.layerUndici),
    Layer.provide(
      configLayer({
        YAHOO_BASE_URL: url,
        TIINGO_BASE_URL: url,
        TIINGO_API_KEY: key,
        QUOTE_RETRIES: 0,
        ...values
      })
    )
  )

const counter = (metric: Metric.Metric.Counter<number>, tag: string, value: string) =>
  Metric.value(Metric.tagged(metric, tag, value)).pipe(Effect.map((state) => state.count))

/** Builds the layer in the test's scope, so its HTTP client outlives this call. */
const provideScoped =
  <ROut, E>(layer: Layer.Layer<ROut, E>) =>
  <A, E2, R>(effect: Effect.Effect<A, E2, R>) =>
    Effect.flatMap(Layer.build(layer), (context) => Effect.provide(effect, context))

const services = <E>(layer: Layer.Layer<MarketData, E>) => provideScoped(layer)(MarketData)

const tags = (enriched: ReadonlyArray<EnrichedItem>) => enriched.map((entry) => entry.market._tag)

describe("MarketData", () => {
  it.scopedLive("two pollers' enriches run side by side: neither's quotes wait for the other's", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make({ tiingoKey: key, latencyMs: 1_500 })
      const market = yield* services(liveMarket(fake.url, { MARKET_DATA_PROVIDER: "tiingo" }))
      const [wire, sec] = yield* Effect.all(
        [market.enrich(symbols(3, "W").map((s) => item(s))), market.enrich(symbols(3, "E").map((s) => item(s)))],
        { concurrency: "unbounded" }
      )
      expect([...tags(wire), ...tags(sec)]).toEqual(Array(6).fill("Priced"))
      const batches = fake.requests().filter((r) => r.api === "tiingo-batch")
      expect(batches).toHaveLength(2)
      // Serialised, the second batch would be asked only once the first was answered, 1.5 s later.
      expect(Math.abs(batches[1]!.at - batches[0]!.at)).toBeLessThan(1_000)
    })
  )

  it.scopedLive("batches cache misses by QUOTE_BATCH_SIZE and serves repeats from the cache", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make({ tiingoKey: key })
      fake.script("GONE", { mode: "delisted" })
      const market = yield* services(liveMarket(fake.url, { MARKET_DATA_PROVIDER: "tiingo", QUOTE_BATCH_SIZE: 50 }))
      const hits = yield* counter(MarketDataMetrics.cacheHits, "cache", "quotes")
      const misses = yield* counter(MarketDataMetrics.cacheMisses, "cache", "quotes")

      const items = [...symbols(119).map((s) => item(s)), item("GONE"), item("S1", "second story about S1")]
      const first = yield* market.enrich(items)
      const batches = fake.requests().filter((r) => r.api === "tiingo-batch")
      expect(batches.map((r) => r.symbols.length)).toEqual([50, 50, 20])
      expect(fake.requests().filter((r) => r.api === "tiingo-quote")).toHaveLength(0)
      expect(tags(first).filter((t) => t === "Priced")).toHaveLength(120)
      expect(first[119]?.market).toEqual({ _tag: "UnknownSymbol", symbol: "GONE" })
      expect(first[120]?.market).toEqual(first[1]?.market)

      fake.clearRequests()
      const second = yield* market.enrich(items)
      expect(fake.requests()).toHaveLength(0)
      expect(second.map((e) => e.market)).toEqual(first.map((e) => e.market))
      expect((yield* counter(MarketDataMetrics.cacheMisses, "cache", "quotes")) - misses).toBe(120)
      expect((yield* counter(MarketDataMetrics.cacheHits, "cache", "quotes")) - hits).toBe(120)
    })
  )

  it.scopedLive("200 symbols while the batch path fails: per-symbol calls never come faster than QUOTE_RPS", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make({ tiingoKey: key })
      fake.failBatches(503)
      const rps = 50
      const market = yield* services(
        liveMarket(fake.url, { MARKET_DATA_PROVIDER: "tiingo", QUOTE_BATCH_SIZE: 50, QUOTE_RPS: rps })
      )
      const enriched = yield* market.enrich(symbols(200).map((s) => item(s)))
      expect(tags(enriched).every((t) => t === "Priced")).toBe(true)
      expect(fake.requests().filter((r) => r.api === "tiingo-batch")).toHaveLength(4)
      const times = fake
        .requests()
        .filter((r) => r.api === "tiingo-quote")
        .map((r) => r.at)
        .sort((a, b) => a - b)
      expect(times).toHaveLength(200)
      const busiest = (windowMs: number) =>
        Math.max(...times.map((start) => times.filter((t) => t >= start && t < start + windowMs).length))
      expect(busiest(1000)).toBeLessThanOrEqual(rps)
      // Spread out, not a burst: no 100 ms holds more than twice its share. (The fake shares this
      // process's event loop, so a stall can make a few paced requests arrive together.)
      expect(busiest(100)).toBeLessThanOrEqual((2 * rps) / 10)
    })
  )

  it.scopedLive("a failing provider opens the breaker: requests stop and items say why the price is missing", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      const names = symbols(10, "X")
      for (const name of names) fake.script(name, { status: 503 })
      const { market, breakers } = yield* Effect.all({ market: MarketData, breakers: Breakers }).pipe(
        provideScoped(liveMarket(fake.url, { MARKET_DATA_PROVIDER: "yahoo", QUOTE_BATCH_SIZE: 10, QUOTE_RPS: 4 }))
      )
      const enriched = yield* market.enrich(names.map((s) => item(s)))
      expect(tags(enriched).every((t) => t === "PriceUnavailable")).toBe(true)
      // 10 in the batch, then one chunk of QUOTE_RPS single calls before the fifth failure opened the breaker.
      expect(fake.requests()).toHaveLength(14)
      const [state] = yield* breakers.states
      expect(state).toMatchObject({ name: "market data (yahoo)", state: { _tag: "Open" } })

      fake.clearRequests()
      const again = yield* market.enrich(names.map((s) => item(s)))
      expect(fake.requests()).toHaveLength(0)
      const reason = again[0]?.market._tag === "PriceUnavailable" ? again[0].market.reason : ""
      expect(reason).toContain("paused after repeated failures")
    })
  )

  it.scopedLive("after the backoff the breaker lets one probe through and closes when it succeeds", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make({ tiingoKey: key })
      fake.failBatches(503)
      fake.script("ABCD", { status: 503 })
      const { market, breakers } = yield* Effect.all({ market: MarketData, breakers: Breakers }).pipe(
        provideScoped(
          liveMarket(fake.url, {
            MARKET_DATA_PROVIDER: "tiingo",
            QUOTE_BREAKER_FAILURES: 2,
            QUOTE_BREAKER_BACKOFF_SECONDS: 1
          })
        )
      )
      const down = yield* market.enrich([item("ABCD")])
      expect(down[0]?.market._tag).toBe("PriceUnavailable")
      expect((yield* breakers.states)[0]?.state._tag).toBe("Open")

      fake.failBatches(null)
      fake.script("ABCD", {})
      fake.clearRequests()
      const stillOpen = yield* market.enrich([item("ABCD")])
      expect(stillOpen[0]?.market._tag).toBe("PriceUnavailable")
      expect(fake.requests()).toHaveLength(0)

      yield* Effect.sleep("1100 millis")
      const recovered = yield* market.enrich([item("ABCD")])
      expect(recovered[0]?.market._tag).toBe("Priced")
      expect(fake.requests()).toHaveLength(1)
      expect((yield* breakers.states)[0]?.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    })
  )

  it.scopedLive("annotates quote batch spans with symbol counts", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make({ tiingoKey: key })
      fake.failBatches(500)
      fake.script("GONE", { mode: "delisted" })
      const spans: Array<Tracer.Span> = []
      const native = yield* Effect.tracer
      const recording = Tracer.make({
        span: (...args) => {
          const span = native.span(...args)
          spans.push(span)
          return span
        },
        context: native.context
      })
      const market = yield* services(
        liveMarket(fake.url, { MARKET_DATA_PROVIDER: "tiingo", QUOTE_BATCH_SIZE: 3, QUOTE_RPS: 100 })
      )
      yield* market.enrich(["A", "B", "C", "GONE"].map((s) => item(s))).pipe(Effect.withTracer(recording))
      const batchSpans = spans.filter((span) => span.name === "MarketData.quoteBatch")
      expect(batchSpans.map((span) => span.attributes.get("quote.symbols"))).toEqual([3, 1])
      expect(batchSpans.map((span) => span.attributes.get("quote.fallback"))).toEqual([3, 1])
      const fallback = spans.filter((span) => span.name === "MarketData.quoteFallback")
      expect(fallback.map((span) => span.attributes.get("quote.symbols"))).toEqual([3, 1])
    })
  )

  it.scopedLive("caches bars per symbol and interval", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      fake.script("GONE", { mode: "delisted" })
      const market = yield* services(liveMarket(fake.url, { MARKET_DATA_PROVIDER: "yahoo" }))
      const first = yield* market.bars("ABCD", "5m")
      const again = yield* market.bars("abcd", "5m")
      const daily = yield* market.bars("ABCD", "1d")
      expect(Option.getOrThrow(first).bars.length).toBe(192)
      expect(again).toEqual(first)
      expect(Option.getOrThrow(daily).interval).toBe("1d")
      expect(Option.isNone(yield* market.bars("GONE", "5m"))).toBe(true)
      expect(fake.requests().map((r) => `${r.symbols[0]} ${r.query.interval}`)).toEqual([
        "ABCD 5m",
        "ABCD 1d",
        "GONE 5m"
      ])
    })
  )

  it.scopedLive("MARKET_DATA_PROVIDER=none marks items and asks nobody", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      const market = yield* services(liveMarket(fake.url, { MARKET_DATA_PROVIDER: "none" }))
      const [entry] = yield* market.enrich([item("ABCD")])
      expect(entry?.market).toEqual({
        _tag: "PriceUnavailable",
        reason: "market data is off (MARKET_DATA_PROVIDER=none)"
      })
      expect(Option.isNone(yield* market.bars("ABCD", "5m"))).toBe(true)
      expect(fake.requests()).toHaveLength(0)
    })
  )
})
