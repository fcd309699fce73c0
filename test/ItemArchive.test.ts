import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { Classifier } from "../src/Classification/Classifier.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { Cycle } from "../src/Runner/Cycle.js"
import type { NormalizedItem } from "../src/Kernel/Domain.js"
import { FeedIngest } from "../src/Feeds/FeedIngest.js"
import { ItemArchive } from "../src/Outcomes/ItemArchive.js"
import { MarketData } from "../src/MarketData/MarketData.js"
import { AlertLinks } from "../src/Delivery/AlertLinks.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { databaseConfig, databases, type DatabaseKind } from "./support/Databases.js"
import { classifiedFixture, itemFixture } from "./support/Alerts.js"

const item = (id: string, title: string, tickers: NormalizedItem["tickers"]): NormalizedItem =>
  itemFixture(id, { title, fetchedAt: "2026-11-24T15:00:00.000Z", tickers })

const abcd = [{ symbol: "ABCD", exchange: "NASDAQ" }]
const fresh = [
  item("fda", "Acme wins FDA approval", abcd),
  item("dull", "Acme appoints auditor", [{ symbol: "WXYZ", exchange: null }]),
  item("noticker", "Private firm wins FDA approval", []),
  {
    ...item("sec", "8-K - ACME", abcd),
    sec: { formType: "8-K", cik: "1", accession: "a", items: [], companyName: "ACME" }
  },
  { ...item("prn", "ACME WINS FDA APPROVAL (NASDAQ: ABCD)", abcd), source: "PR Newswire" }
]
const stale = [item("old", "Old news", abcd)]

const cycleOn = (kind: DatabaseKind) =>
  Cycle.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        SeenStore.Default,
        Outbox.Default,
        ItemArchive.Default,
        AlertLinks.Default,
        MarketData.Test({
          enrich: (items) =>
            Effect.succeed(
              items.map((entry) => ({
                ...entry,
                market: { _tag: "PriceUnavailable", reason: "no market data provider" }
              }))
            )
        }),
        FeedIngest.Test({ fetchAll: Effect.succeed({ reports: [], items: fresh, stale }) }),
        Classifier.Test({
          classifyBatch: (items: ReadonlyArray<NormalizedItem>) =>
            Effect.succeed({
              notes: [],
              items: items.map((entry) =>
                classifiedFixture(entry, {
                  categories: entry.title.includes("FDA") ? ["fda"] : [],
                  score: entry.title.includes("FDA") || entry.sec ? 3 : 0,
                  sentiment: 0.5
                })
              )
            })
        })
      )
    ),
    Layer.provideMerge(SqlLive),
    Layer.provideMerge(AppConfig.Default),
    Layer.provide(databaseConfig(kind, { MIN_SCORE: 1, ARCHIVE_DAYS: 2 }))
  )

describe.each(databases)("item archive on %s", (kind) => {
  const CycleLive = cycleOn(kind)

  it.scoped("keeps every item a cycle decided on, once, with its classification and outcome", () =>
    Effect.gen(function* () {
      const cycle = yield* Cycle
      const sql = yield* SqlClient.SqlClient
      yield* TestClock.setTime(Date.UTC(2026, 10, 24, 15))
      const first = yield* cycle.run()
      const second = yield* cycle.run()
      expect(second.outcomes.filter((o) => o.outcome === "duplicate")).toHaveLength(5)

      const rows = yield* sql<Record<string, unknown>>`
        SELECT item_id AS id, outcome, reason, ticker, form_type AS form, score,
          CASE WHEN classification IS NOT NULL THEN 1 ELSE 0 END AS classified,
          CASE WHEN market IS NOT NULL THEN 1 ELSE 0 END AS priced
        FROM item_archive ORDER BY item_id`
      expect(rows).toEqual([
        {
          id: "dull",
          outcome: "filtered",
          reason: "score 0.00 below MIN_SCORE 1",
          ticker: "WXYZ",
          form: null,
          score: 0,
          classified: 1,
          priced: 0
        },
        { id: "fda", outcome: "alerted", reason: null, ticker: "ABCD", form: null, score: 3, classified: 1, priced: 1 },
        {
          id: "noticker",
          outcome: "filtered",
          reason: "no ticker",
          ticker: null,
          form: null,
          score: 3,
          classified: 1,
          priced: 0
        },
        {
          id: "old",
          outcome: "stale",
          reason: "older than the age limit",
          ticker: "ABCD",
          form: null,
          score: null,
          classified: 0,
          priced: 0
        },
        {
          id: "prn",
          outcome: "duplicate",
          reason: "same story first carried by GlobeNewswire",
          ticker: "ABCD",
          form: null,
          score: null,
          classified: 0,
          priced: 0
        },
        { id: "sec", outcome: "alerted", reason: null, ticker: "ABCD", form: "8-K", score: 3, classified: 1, priced: 1 }
      ])
      expect(first.outcomes.map((o) => o.itemId).sort()).toEqual(rows.map((row) => row.id))
    }).pipe(Effect.provide(CycleLive))
  )

  it.scoped("forgets items older than ARCHIVE_DAYS", () =>
    Effect.gen(function* () {
      const cycle = yield* Cycle
      const archive = yield* ItemArchive
      const sql = yield* SqlClient.SqlClient
      yield* TestClock.setTime(Date.UTC(2026, 10, 24, 15))
      yield* cycle.run()
      yield* TestClock.adjust("47 hours")
      yield* archive.purgeExpired()
      expect((yield* sql<{ n: number }>`SELECT count(*) AS n FROM item_archive`)[0]?.n).toBe(6)
      yield* TestClock.adjust("2 hours")
      yield* archive.purgeExpired()
      expect((yield* sql<{ n: number }>`SELECT count(*) AS n FROM item_archive`)[0]?.n).toBe(0)
    }).pipe(Effect.provide(CycleLive))
  )
})
