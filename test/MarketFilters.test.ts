import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { Classifier } from "../src/Classification/Classifier.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { Cycle } from "../src/Runner/Cycle.js"
import type { EnrichedItem, MarketSnapshot } from "../src/Kernel/Domain.js"
import { FeedIngest } from "../src/Feeds/FeedIngest.js"
import { holdOnMarket, rejectBeforeMarket, rejectOnMarket } from "../src/MarketData/Filters.js"
import { MarketData } from "../src/MarketData/MarketData.js"
import { ItemArchive } from "../src/Outcomes/ItemArchive.js"
import { AlertLinks } from "../src/Delivery/AlertLinks.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { configLayer, tempDataConfig } from "./support/TestLayers.js"
import { classifiedFixture, itemFixture } from "./support/Alerts.js"

const news = itemFixture("gnw-1", {
  title: "ABCD wins a contract",
  link: "https://example.com/1",
  fetchedAt: "2026-11-27T15:00:00.000Z",
  tickers: [{ symbol: "ABCD", exchange: "Nasdaq" }]
})

const classified = classifiedFixture(news, { categories: ["contract"], sentiment: 0.5 })

const priced = (price: number, volume: number | null): MarketSnapshot => ({
  _tag: "Priced",
  quote: { symbol: "ABCD", price, previousClose: null, changePct: null, volume, relativeVolume: null }
})

const withMarket = (market: MarketSnapshot): EnrichedItem => ({ ...classified, market })

const filtersFrom = (values: Record<string, string | number>) =>
  Effect.map(AppConfig, (config) => config.filters).pipe(
    Effect.provide(AppConfig.Default),
    Effect.provide(configLayer(values))
  )

describe("market filters", () => {
  it.effect("an OTC-only item is filtered with ALLOW_OTC_TICKERS=0, naming the ticker; =1 lets it through", () =>
    Effect.gen(function* () {
      const otc = { ...classified, item: { ...news, tickers: [{ symbol: "ABCDF", exchange: "OTC" }] } }
      expect(rejectBeforeMarket(yield* filtersFrom({}), otc)).toBe(
        "OTC-only ticker ABCDF (OTC) with ALLOW_OTC_TICKERS=0"
      )
      expect(rejectBeforeMarket(yield* filtersFrom({ ALLOW_OTC_TICKERS: 1 }), otc)).toBeNull()
      expect(rejectBeforeMarket(yield* filtersFrom({}), classified)).toBeNull()
    })
  )

  it.effect("PRICE_FLOOR, PRICE_CEILING and MIN_VOLUME each reject with their reason; 0 disables", () =>
    Effect.gen(function* () {
      const strict = yield* filtersFrom({ PRICE_FLOOR: 1, PRICE_CEILING: 20, MIN_VOLUME: 100_000 })
      expect(rejectOnMarket(strict, withMarket(priced(0.5, 1e6)))).toBe("price 0.5 below PRICE_FLOOR 1")
      expect(rejectOnMarket(strict, withMarket(priced(25, 1e6)))).toBe("price 25 above PRICE_CEILING 20")
      expect(rejectOnMarket(strict, withMarket(priced(5, 5_000)))).toBe("volume 5000 below MIN_VOLUME 100000")
      expect(rejectOnMarket(strict, withMarket(priced(5, 1e6)))).toBeNull()
      // No volume from the provider: nothing to judge, so not rejected.
      expect(rejectOnMarket(strict, withMarket(priced(5, null)))).toBeNull()
      expect(rejectOnMarket(strict, withMarket({ _tag: "UnknownSymbol", symbol: "ABCD" }))).toBe(
        "unknown or delisted symbol ABCD"
      )
      const off = yield* filtersFrom({})
      expect(rejectOnMarket(off, withMarket(priced(0.0001, 1)))).toBeNull()
    })
  )

  it.effect("QUOTES_ON_OUTAGE=hold holds items without a price; send lets them through", () =>
    Effect.gen(function* () {
      const unavailable = withMarket({ _tag: "PriceUnavailable", reason: "yahoo: HTTP 503" })
      const hold = yield* filtersFrom({ QUOTES_ON_OUTAGE: "hold" })
      expect(holdOnMarket(hold, unavailable)).toBe(
        "held until prices are back (QUOTES_ON_OUTAGE=hold): yahoo: HTTP 503"
      )
      expect(holdOnMarket(hold, withMarket(priced(5, 1)))).toBeNull()
      const send = yield* filtersFrom({})
      expect(holdOnMarket(send, unavailable)).toBeNull()
      expect(rejectOnMarket(send, unavailable)).toBeNull()
    })
  )

  it.effect("configuration errors name the variable", () =>
    Effect.gen(function* () {
      const bad = yield* Effect.either(filtersFrom({ MARKET_DATA_PROVIDER: "none", QUOTES_ON_OUTAGE: "hold" }))
      expect(String(Either.getLeft(bad))).toContain("QUOTES_ON_OUTAGE")
      const provider = yield* Effect.either(filtersFrom({ MARKET_DATA_PROVIDER: "bloomberg" }))
      expect(String(Either.getLeft(provider))).toContain("MARKET_DATA_PROVIDER")
      const rps = yield* Effect.either(filtersFrom({ QUOTE_RPS: 0 }))
      expect(String(Either.getLeft(rps))).toContain("QUOTE_RPS")
    })
  )
})

/** A cycle with one news item whose price is unavailable. */
const cycleLayer = (values: Record<string, string | number>) =>
  Cycle.DefaultWithoutDependencies.pipe(
    Layer.provide(
      Layer.mergeAll(
        FeedIngest.Test({ fetchAll: Effect.succeed({ reports: [], items: [news], stale: [] }) }),
        Classifier.Test({
          classifyBatch: (items) => Effect.succeed({ items: items.map(() => classified), notes: [] })
        }),
        MarketData.Test({
          enrich: (items) =>
            Effect.succeed(items.map((entry) => ({ ...entry, market: { _tag: "PriceUnavailable", reason: "down" } })))
        })
      )
    ),
    Layer.provideMerge(
      Layer.mergeAll(
        SeenStore.Default,
        Outbox.Default,
        ItemArchive.Default,
        AlertLinks.Default,
        SqlLive,
        AppConfig.Default
      )
    ),
    Layer.provide(tempDataConfig({ MIN_SCORE: 0, ...values }))
  )

describe("cycle during a quote outage", () => {
  it.scoped("hold: the item is held, not marked seen, and evaluated again next cycle", () =>
    Effect.gen(function* () {
      const cycle = yield* Cycle
      const first = yield* cycle.run()
      const second = yield* cycle.run()
      for (const summary of [first, second]) {
        expect(summary.outcomes.map((o) => [o.outcome, o.reason])).toEqual([
          ["held", "held until prices are back (QUOTES_ON_OUTAGE=hold): down"]
        ])
        expect(summary.alerted).toBe(0)
      }
      expect(yield* (yield* Outbox).due(10)).toHaveLength(0)
    }).pipe(Effect.provide(cycleLayer({ QUOTES_ON_OUTAGE: "hold" })))
  )

  it.scoped('send: the alert goes out flagged "price unavailable", and the item is seen', () =>
    Effect.gen(function* () {
      const cycle = yield* Cycle
      const first = yield* cycle.run()
      expect(first.outcomes.map((o) => o.outcome)).toEqual(["alerted"])
      const [row] = yield* (yield* Outbox).due(10)
      expect(row?.alert.market).toEqual({ _tag: "PriceUnavailable", reason: "down" })
      const second = yield* cycle.run()
      expect(second.outcomes.map((o) => o.outcome)).toEqual(["duplicate"])
    }).pipe(Effect.provide(cycleLayer({ QUOTES_ON_OUTAGE: "send" })))
  )
})
