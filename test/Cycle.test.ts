import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import { Classifier } from "../src/Classification/Classifier.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { Cycle } from "../src/Runner/Cycle.js"
import type { ClassifiedItem, EnrichedItem, NormalizedItem } from "../src/Kernel/Domain.js"
import { type FeedBatch, FeedIngest } from "../src/Feeds/FeedIngest.js"
import type { FeedSource } from "../src/Feeds/Sources.js"
import { ItemArchive } from "../src/Outcomes/ItemArchive.js"
import { MarketData } from "../src/MarketData/MarketData.js"
import { AlertLinks } from "../src/Delivery/AlertLinks.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { tempDataConfig } from "./support/TestLayers.js"
import { classifiedFixture, itemFixture } from "./support/Alerts.js"

const item = (id: string, title: string, symbol: string | null): NormalizedItem =>
  itemFixture(id, {
    title,
    published: "2026-11-28T14:00:00.000Z",
    fetchedAt: "2026-11-28T14:00:05.000Z",
    tickers: symbol === null ? [] : [{ symbol, exchange: "NASDAQ" }]
  })

const items = [
  item("fda", "Acme receives FDA approval", "ACME"),
  item("meh", "Acme to present at conference", "ACME"),
  item("noticker", "Industry report on widgets", null),
  item("penny", "Tiny Co wins contract", "TINY")
]

const feeds = FeedIngest.Test({
  fetchAll: Effect.succeed({
    reports: [{ name: "GlobeNewswire", url: "https://x", status: { _tag: "Ok", items: 4, fresh: 4 } }],
    items,
    stale: [item("old", "Old news", "OLD")]
  })
})

const classifier = Classifier.Test({
  classifyBatch: (batch: ReadonlyArray<NormalizedItem>) =>
    Effect.succeed({
      notes: ["LLM off (LLM_PROVIDER=none): keywords only"],
      items: batch.map((entry) => classifiedFixture(entry, { score: entry.id === "meh" ? 0 : 3, sentiment: 0.5 }))
    })
})

const market = MarketData.Test({
  enrich: (batch: ReadonlyArray<ClassifiedItem>) =>
    Effect.succeed(
      batch.map((entry): EnrichedItem => ({
        ...entry,
        market: {
          _tag: "Priced",
          quote: {
            symbol: entry.item.tickers[0]!.symbol,
            price: entry.item.id === "penny" ? 0.2 : 4.5,
            previousClose: 4,
            changePct: 12.5,
            volume: 1_000_000,
            relativeVolume: null
          }
        }
      }))
    )
})

const stages = Layer.mergeAll(feeds, classifier, market)
const storage = Layer.mergeAll(
  SeenStore.Default,
  Outbox.Default,
  ItemArchive.Default,
  AlertLinks.Default,
  SqlLive,
  AppConfig.Default
).pipe(Layer.provide(tempDataConfig({ MIN_SCORE: 1, PRICE_FLOOR: 1 })))
const CycleLive = Cycle.DefaultWithoutDependencies.pipe(Layer.provideMerge(stages), Layer.provideMerge(storage))

describe("Cycle", () => {
  it.scoped("gives every item an outcome and enqueues only what passes", () =>
    Effect.gen(function* () {
      const cycle = yield* Cycle
      const summary = yield* cycle.run()
      const byId = Object.fromEntries(summary.outcomes.map((o) => [o.itemId, o]))
      expect(byId.fda?.outcome).toBe("alerted")
      expect(byId.meh?.outcome).toBe("filtered")
      expect(byId.meh?.reason).toContain("MIN_SCORE")
      expect(byId.noticker?.reason).toBe("no ticker")
      expect(byId.penny?.reason).toContain("PRICE_FLOOR")
      expect(byId.old?.outcome).toBe("stale")
      expect(summary.alerted).toBe(1)
      expect(summary.notes).toEqual(["LLM off (LLM_PROVIDER=none): keywords only"])
      const outbox = yield* Outbox
      expect(yield* outbox.pendingCount).toBe(1)

      const again = yield* cycle.run()
      expect(again.outcomes.filter((o) => o.outcome === "duplicate")).toHaveLength(4)
      expect(again.alerted).toBe(0)
      expect(yield* outbox.pendingCount).toBe(1)
    }).pipe(Effect.provide(CycleLive))
  )

  it.scoped("starts drawing the charts of alerts that passed the price filters before they are queued", () =>
    Effect.gen(function* () {
      const prefetched: Array<{ symbol: string; published: string | null; queuedBefore: number }> = []
      let outbox: Outbox | undefined
      const charts = ChartRenderer.Test({
        prefetch: (symbol: string, published: string | null) =>
          Effect.map(outbox!.pendingCount, (queuedBefore) => void prefetched.push({ symbol, published, queuedBefore }))
      })
      const summary = yield* Effect.gen(function* () {
        outbox = yield* Outbox
        return yield* (yield* Cycle).run()
      }).pipe(Effect.provide(CycleLive.pipe(Layer.provide(charts))))
      expect(summary.alerted).toBe(1)
      // The penny stock failed PRICE_FLOOR and the conference item MIN_SCORE: neither costs a chart.
      expect(prefetched).toEqual([{ symbol: "ACME", published: "2026-11-28T14:00:00.000Z", queuedBefore: 0 }])
    })
  )

  it.scoped("marks nothing seen when enqueueing fails, so no alert is lost", () =>
    Effect.gen(function* () {
      const failingOutbox = Outbox.Test({ enqueue: () => Effect.die("disk full") })
      const live = Cycle.DefaultWithoutDependencies.pipe(
        Layer.provideMerge(Layer.mergeAll(stages, failingOutbox)),
        Layer.provideMerge(
          Layer.mergeAll(SeenStore.Default, ItemArchive.Default, AlertLinks.Default, SqlLive, AppConfig.Default)
        ),
        Layer.provide(tempDataConfig({ MIN_SCORE: 1 }))
      )
      yield* Effect.gen(function* () {
        const cycle = yield* Cycle
        const exit = yield* Effect.exit(cycle.run())
        expect(Exit.isFailure(exit)).toBe(true)
        const seen = yield* SeenStore
        expect(yield* seen.filterUnseen(items.map((i) => i.id))).toHaveLength(items.length)
        const sql = yield* SqlClient.SqlClient
        const [stories] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM story_first_seen`
        expect(stories?.n).toBe(0)
      }).pipe(Effect.provide(live))
    })
  )

  it.live("two sources carrying the same story within a millisecond make exactly one alert", () =>
    Effect.gen(function* () {
      const story = (id: string, source: string) => ({
        ...item(id, "Acme receives FDA approval for its lead drug", "ACME"),
        source
      })
      const batchOf = (name: string, id: string): FeedBatch => ({
        reports: [{ name, url: `https://${name}`, status: { _tag: "Ok", items: 1, fresh: 1 } }],
        items: [story(id, name)],
        stale: []
      })
      const wires = FeedIngest.Test({
        poll: (source: FeedSource) =>
          Effect.succeed(
            source.name === "GlobeNewswire" ? batchOf("GlobeNewswire", "gnw-1") : batchOf("PR Newswire", "prn-1")
          )
      })
      // A classifier slow enough that both polls are past their dedupe before either commits.
      const slowClassifier = Classifier.Test({
        classifyBatch: (batch: ReadonlyArray<NormalizedItem>) =>
          Effect.as(Effect.sleep("50 millis"), {
            notes: [],
            items: batch.map((entry) => classifiedFixture(entry, { score: 3, sentiment: 0.5 }))
          })
      })
      const live = Cycle.DefaultWithoutDependencies.pipe(
        Layer.provideMerge(Layer.mergeAll(wires, slowClassifier, market)),
        Layer.provideMerge(storage)
      )
      yield* Effect.gen(function* () {
        const cycle = yield* Cycle
        const source = (name: string): FeedSource => ({ name, url: `https://${name}`, kind: "rss", enabled: true })
        const [gnw, prn] = yield* Effect.all([cycle.run(source("GlobeNewswire")), cycle.run(source("PR Newswire"))], {
          concurrency: "unbounded"
        })
        expect(gnw.alerted + prn.alerted).toBe(1)
        const outbox = yield* Outbox
        expect(yield* outbox.pendingCount).toBe(1)
        const loser = gnw.alerted === 1 ? prn : gnw
        expect(loser.outcomes).toMatchObject([
          { outcome: "duplicate", reason: "same story being decided for another feed" }
        ])
        // The losing feed serves its copy again; by then the winner has committed, and the story check has it.
        const again = yield* cycle.run(source(loser === gnw ? "GlobeNewswire" : "PR Newswire"))
        expect(again.alerted).toBe(0)
        expect(again.outcomes[0]?.reason).toMatch(/^same story first carried by /)
        expect(yield* outbox.pendingCount).toBe(1)
      }).pipe(Effect.provide(live))
    }).pipe(Effect.scoped)
  )
})
