import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigError, Effect, Either, Layer, Option } from "effect"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { QuoteProvider } from "../src/MarketData/QuoteProvider.js"
import * as Tiingo from "../src/MarketData/QuoteProvider/Tiingo.js"
import * as Yahoo from "../src/MarketData/QuoteProvider/Yahoo.js"
import * as FakeQuotes from "../src/World/FakeQuotes.js"
import { configLayer } from "./support/TestLayers.js"

const key = "test-key-123"

/** Runs `body` against one adapter pointed at the fake server. */
const withProvider = <A, E>(
  adapter: "yahoo" | "tiingo",
  url: string,
  body: (provider: QuoteProvider["Type"]) => Effect.Effect<A, E>,
  extra: Record<string, string | number> = {}
) =>
  Effect.flatMap(QuoteProvider, body).pipe(
    Effect.provide(
      (adapter === "yahoo" ? Yahoo.layer : Tiingo.layer).pipe(
        Layer.provide(Layer.mergeAll(AppConfig.Default, NodeHttpClient.layerUndici)),
        Layer.provide(
          configLayer({
            YAHOO_BASE_URL: url,
            TIINGO_BASE_URL: url,
            TIINGO_API_KEY: key,
            QUOTE_RETRIES: 0,
            QUOTE_TIMEOUT_SECONDS: 5,
            ...extra
          })
        )
      )
    )
  )

describe("Yahoo chart adapter", () => {
  it.scopedLive("reads price, previous close, volume and relative volume from a month of daily bars", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      fake.script("ABCD", { price: 2.2, previousClose: 2, volume: 5_000_000, averageVolume: 1_000_000 })
      const answer = yield* withProvider("yahoo", fake.url, (p) => p.quote("ABCD"))
      expect(answer._tag).toBe("Found")
      if (answer._tag !== "Found") return
      expect(answer.quote.price).toBe(2.2)
      expect(answer.quote.previousClose).toBe(2)
      expect(answer.quote.changePct).toBeCloseTo(10, 6)
      expect(answer.quote.volume).toBe(5_000_000)
      expect(answer.quote.relativeVolume).toBeCloseTo(5, 6)
      const [request] = fake.requests()
      expect(request?.query).toMatchObject({ range: "1mo", interval: "1d" })
    })
  )

  it.scopedLive("skips the nulls inside the arrays (halts) for quotes and bars", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      fake.script("HALT", { mode: "nulls", price: 3, previousClose: 2.5 })
      const [answer, bars] = yield* withProvider("yahoo", fake.url, (p) =>
        Effect.all([p.quote("HALT"), p.bars({ symbol: "HALT", interval: "5m", lookbackDays: 90 })])
      )
      expect(answer._tag === "Found" && answer.quote.previousClose).toBe(2.5)
      expect(answer._tag === "Found" && answer.quote.changePct).toBeCloseTo(20, 6)
      const series = Option.getOrThrow(bars)
      // 16 hours of 5-minute bars; the fake nulls indices 2, 7, …, 187 (a halt), which are dropped.
      expect(series.bars.length).toBe(192 - 38)
      expect(series.bars.every((bar) => Number.isFinite(bar.close))).toBe(true)
      expect(series.previousClose).toBe(2.5)
      expect(series.regularStart).toBe(fake.session.regularStart)
      expect(series.regularEnd).toBe(fake.session.regularEnd)
      // Pre-market bars are included.
      expect(series.bars[0]!.time).toBeLessThan(fake.session.regularStart)
      expect(series.bars.at(-1)!.time).toBeGreaterThan(fake.session.regularEnd)
      expect(fake.requests()[1]?.query).toMatchObject({ range: "1d", interval: "5m", includePrePost: "true" })
    })
  )

  it.scopedLive("treats a weekend reply without `timestamp` as no bars, but still a price", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      fake.script("WKND", { mode: "empty", price: 4 })
      const [answer, bars] = yield* withProvider("yahoo", fake.url, (p) =>
        Effect.all([p.quote("WKND"), p.bars({ symbol: "WKND", interval: "5m", lookbackDays: 90 })])
      )
      expect(answer).toMatchObject({ _tag: "Found", quote: { price: 4, previousClose: null, relativeVolume: null } })
      expect(Option.isNone(bars)).toBe(true)
    })
  )

  it.scopedLive('answers "unknown" for the 404 "No data found, symbol may be delisted"', () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      fake.script("GONE", { mode: "delisted" })
      const [answer, bars] = yield* withProvider("yahoo", fake.url, (p) =>
        Effect.all([p.quote("GONE"), p.bars({ symbol: "GONE", interval: "1d", lookbackDays: 90 })])
      )
      expect(answer._tag).toBe("Unknown")
      expect(Option.isNone(bars)).toBe(true)
    })
  )

  it.scopedLive("fails with a clear reason on 429 after its retries, and never leaks the URL", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      fake.script("BUSY", { status: 429 })
      const result = yield* withProvider("yahoo", fake.url, (p) => Effect.either(p.quote("BUSY")), {
        QUOTE_RETRIES: 1
      })
      const error = Either.getLeft(result).pipe(Option.getOrThrow)
      expect(error.message).toBe("yahoo: BUSY: rate limited (HTTP 429)")
      expect(error.message).not.toContain("127.0.0.1")
      expect(fake.requestTimes("BUSY")).toHaveLength(2)
    })
  )

  it.scopedLive("retries a 5xx and recovers; reports one that persists", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      fake.failNextRequests(1, 503)
      const recovered = yield* withProvider("yahoo", fake.url, (p) => p.quote("OKAY"), { QUOTE_RETRIES: 2 })
      expect(recovered._tag).toBe("Found")
      expect(fake.requests().map((r) => r.status)).toEqual([503, 200])
      fake.script("DOWN", { status: 500 })
      const failed = yield* withProvider("yahoo", fake.url, (p) => Effect.flip(p.quote("DOWN")))
      expect(failed.reason).toBe("DOWN: HTTP 500")
    })
  )

  it.scopedLive("serves daily bars over the lookback window", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make({ sessionDate: "2026-11-27" })
      const bars = yield* withProvider("yahoo", fake.url, (p) =>
        p.bars({ symbol: "DAYS", interval: "1d", lookbackDays: 30 })
      )
      const series = Option.getOrThrow(bars)
      expect(series.interval).toBe("1d")
      const request = fake.requests()[0]!
      expect(Number(request.query.period2) - Number(request.query.period1)).toBe(30 * 86_400)
      expect(series.bars.length).toBeGreaterThan(0)
      expect(series.bars.every((bar) => bar.time >= Number(request.query.period1) * 1000)).toBe(true)
    })
  )

  it.scopedLive("a batch answers what it can and leaves failed symbols out", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      fake.script("BAD", { status: 503 })
      fake.script("GONE", { mode: "delisted" })
      const answers = yield* withProvider("yahoo", fake.url, (p) => p.quoteBatch(["AAA", "BAD", "GONE"]))
      expect(answers.get("AAA")?._tag).toBe("Found")
      expect(answers.get("GONE")?._tag).toBe("Unknown")
      expect(answers.has("BAD")).toBe(false)
    })
  )
})

describe("Tiingo adapter", () => {
  it.scopedLive("batches many tickers into one call; unknown ones are left out by Tiingo and marked unknown", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make({ tiingoKey: key })
      fake.script("GONE", { mode: "delisted" })
      fake.script("NULL", { mode: "nulls", price: 7, previousClose: 5 })
      const answers = yield* withProvider("tiingo", fake.url, (p) => p.quoteBatch(["AAA", "GONE", "NULL"]))
      expect(fake.requests()).toHaveLength(1)
      expect(fake.requests()[0]?.query.tickers).toBe("aaa,gone,null")
      expect(answers.get("AAA")?._tag).toBe("Found")
      expect(answers.get("GONE")?._tag).toBe("Unknown")
      // `last` is null: the Tiingo composite price stands in.
      expect(answers.get("NULL")).toMatchObject({ _tag: "Found", quote: { price: 7, previousClose: 5, volume: null } })
    })
  )

  it.scopedLive("single quotes: 404 and [] both mean unknown", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make({ tiingoKey: key })
      fake.script("GONE", { mode: "delisted" })
      fake.script("VOID", { mode: "empty" })
      const answers = yield* withProvider("tiingo", fake.url, (p) =>
        Effect.all([p.quote("GONE"), p.quote("VOID"), p.quote("ABCD")])
      )
      expect(answers.map((a) => a._tag)).toEqual(["Unknown", "Unknown", "Found"])
    })
  )

  it.scopedLive("sends the key in the Authorization header; a wrong key fails without echoing it", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make({ tiingoKey: "the-right-key" })
      const error = yield* withProvider("tiingo", fake.url, (p) => Effect.flip(p.quote("ABCD")))
      expect(error.reason).toBe("ABCD: HTTP 401")
      expect(error.message).not.toContain(key)
    })
  )

  it.scopedLive("5-minute bars with pre/post market, previous close and regular-session bounds; daily bars", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make({ tiingoKey: key })
      fake.script("ABCD", { price: 3, previousClose: 2 })
      fake.script("GONE", { mode: "delisted" })
      const [intraday, daily, gone] = yield* withProvider("tiingo", fake.url, (p) =>
        Effect.all([
          p.bars({ symbol: "ABCD", interval: "5m", lookbackDays: 90 }),
          p.bars({ symbol: "ABCD", interval: "1d", lookbackDays: 90 }),
          p.bars({ symbol: "GONE", interval: "1d", lookbackDays: 90 })
        ])
      )
      const series = Option.getOrThrow(intraday)
      expect(series.bars).toHaveLength(192)
      expect(series.previousClose).toBe(2)
      expect(series.regularStart).toBe(fake.session.regularStart)
      expect(series.regularEnd).toBe(fake.session.regularEnd)
      expect(fake.requests().find((r) => r.api === "tiingo-intraday")?.query).toMatchObject({
        resampleFreq: "5min",
        afterHours: "true"
      })
      expect(Option.getOrThrow(daily).bars.length).toBeGreaterThan(0)
      expect(Option.isNone(gone)).toBe(true)
    })
  )

  it.scopedLive("refuses to start without TIINGO_API_KEY, naming the variable", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      const error = yield* withProvider("tiingo", fake.url, () => Effect.void, { TIINGO_API_KEY: "" }).pipe(Effect.flip)
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(String(error)).toContain("TIINGO_API_KEY")
    })
  )
})
