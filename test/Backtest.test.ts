import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { Backtest, renderBacktest } from "../src/Outcomes/Backtest.js"
import { Classifier } from "../src/Classification/Classifier.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { MarketSnapshot, NormalizedItem } from "../src/Kernel/Domain.js"
import { type ArchiveEntry, ItemArchive } from "../src/Outcomes/ItemArchive.js"
import { OutcomeStore } from "../src/Outcomes/OutcomeStore.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { configLayer, tempDir } from "./support/TestLayers.js"
import { classifiedFixture, itemFixture } from "./support/Alerts.js"

const now = Date.UTC(2026, 10, 24, 15)

/** A stand-in keyword engine: "FDA" scores 3, "partnership" 1. */
const FakeClassifier = Classifier.Test({
  classify: (items: ReadonlyArray<NormalizedItem>) =>
    Effect.succeed(
      items.map((item) =>
        classifiedFixture(item, {
          categories: item.title.includes("FDA") ? ["fda"] : ["partnership"],
          score: item.title.includes("FDA") ? 3 : 1,
          sentiment: 0.5
        })
      )
    )
})

const BacktestLive = (dir: string, settings: Record<string, number>) =>
  Backtest.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(Layer.mergeAll(ItemArchive.Default, OutcomeStore.Default, FakeClassifier)),
    Layer.provideMerge(SqlLive),
    Layer.provideMerge(AppConfig.Default),
    Layer.provide(configLayer({ DATA_DIR: dir, OUTCOME_HIT_PCT: 5, ...settings }))
  )

const priced = (price: number): MarketSnapshot => ({
  _tag: "Priced",
  quote: { symbol: "X", price, previousClose: null, changePct: null, volume: null, relativeVolume: null }
})

const entry = (
  id: string,
  title: string,
  outcome: ArchiveEntry["outcome"],
  options: { market?: MarketSnapshot; tickers?: NormalizedItem["tickers"] } = {}
): ArchiveEntry => ({
  item: itemFixture(id, {
    title,
    fetchedAt: new Date(now).toISOString(),
    tickers: options.tickers ?? [{ symbol: id.toUpperCase(), exchange: "NASDAQ" }]
  }),
  outcome,
  reason: outcome === "alerted" ? null : "live reason",
  classification: null,
  market: options.market ?? null
})

const seed = Effect.gen(function* () {
  yield* TestClock.setTime(now)
  yield* (yield* ItemArchive).record([
    entry("i1", "Acme wins FDA approval", "alerted", { market: priced(5) }),
    entry("i2", "Acme signs partnership", "filtered"),
    entry("i3", "Beta signs partnership", "filtered"),
    entry("i4", "Gamma FDA clearance", "filtered", { market: priced(0.5) }),
    entry("i5", "Delta FDA news", "filtered", { tickers: [] }),
    entry("i6", "Acme wins FDA approval (repeat)", "duplicate")
  ])
  const sql = yield* SqlClient.SqlClient
  for (const [id, kind, p1h, mfe] of [
    ["i1", "alert", 10.6, 8],
    ["i2", "filtered", 10.1, 2]
  ] as const) {
    yield* sql`INSERT INTO price_outcomes ${sql.insert({
      item_id: id,
      kind,
      ticker: id.toUpperCase(),
      source: "GlobeNewswire",
      title: id,
      categories: "[]",
      score: 1,
      sentiment: 0.5,
      alert_at: now,
      price_at_alert: 10,
      price_1h: p1h,
      max_favourable_1h_pct: mfe,
      status: "complete",
      next_check_at: now
    })}`
  }
})

describe("backtest", () => {
  it.scoped("re-classifies and re-filters the archive with new settings, and scores the would-be alerts", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* seed.pipe(Effect.provide(BacktestLive(dir, {})))

      const looser = yield* Effect.flatMap(Backtest, (backtest) => backtest.run({ since: 0, limit: 10 })).pipe(
        Effect.provide(BacktestLive(dir, { MIN_SCORE: 1, PRICE_FLOOR: 1 }))
      )
      expect(looser).toMatchObject({
        minScore: 1,
        scanned: 5,
        liveAlerts: 1,
        wouldAlert: 3,
        kept: 1,
        added: 2,
        dropped: 0
      })
      expect(looser.alerts.map((a) => [a.itemId, a.score, a.live, a.maxFavourable1hPct])).toEqual([
        ["i1", 3, "alerted", 8],
        ["i2", 1, "filtered", 2],
        ["i3", 1, "filtered", null]
      ])
      expect(looser.performance.wouldAlert).toMatchObject({ alerts: 3, tracked: 2, hits: 1, hitRate: 0.5 })
      expect(looser.performance.wouldAlert.meanMovePct).toBeCloseTo(3.5, 9)
      expect(looser.performance.liveAlerts).toMatchObject({ alerts: 1, tracked: 1, hits: 1 })
      expect(renderBacktest(looser, "keywords.json")).toContain("# Backtest: MIN_SCORE 1, keywords from keywords.json")

      const stricter = yield* Effect.flatMap(Backtest, (backtest) => backtest.run({ since: 0, limit: 10 })).pipe(
        Effect.provide(BacktestLive(dir, { MIN_SCORE: 5 }))
      )
      expect(stricter).toMatchObject({ wouldAlert: 0, kept: 0, added: 0, dropped: 1, alerts: [] })
    })
  )
})
