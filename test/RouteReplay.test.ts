import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Classifier } from "../src/Classification/Classifier.js"
import { Routes } from "../src/Delivery/Routes.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { NormalizedItem } from "../src/Kernel/Domain.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { type ArchiveEntry, ItemArchive } from "../src/Outcomes/ItemArchive.js"
import { renderRouteReplay, RouteReplay } from "../src/Outcomes/RouteReplay.js"
import { Watchlist } from "../src/MarketData/Watchlist.js"
import { classifiedFixture, itemFixture } from "./support/Alerts.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

const now = Date.UTC(2026, 10, 24, 15)
const day = 86_400_000

/** "FDA" headlines are fda_approval, the rest offerings; "weak" ones score below MIN_SCORE. */
const FakeClassifier = Classifier.Test({
  classify: (items: ReadonlyArray<NormalizedItem>) =>
    Effect.succeed(
      items.map((item) =>
        classifiedFixture(item, {
          categories: item.title.includes("FDA") ? ["fda_approval"] : ["offering"],
          score: item.title.includes("weak") ? 0.1 : 3,
          sentiment: item.title.includes("FDA") ? 0.8 : -0.6
        })
      )
    )
})

const entry = (id: string, title: string, ageDays: number): ArchiveEntry => ({
  item: itemFixture(id, {
    title,
    fetchedAt: new Date(now - ageDays * day).toISOString(),
    tickers: [{ symbol: id.toUpperCase(), exchange: "NASDAQ" }]
  }),
  outcome: "alerted",
  reason: null,
  classification: null,
  market: null
})

const layer = (dir: string, routesFile: string, values: Record<string, string> = {}) =>
  RouteReplay.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(Layer.mergeAll(ItemArchive.Default, Routes.Default, FakeClassifier, Watchlist.Default)),
    Layer.provideMerge(SqlLive),
    Layer.provideMerge(AppConfig.Default),
    Layer.provide(configLayer({ DATA_DIR: dir, ROUTES_FILE: routesFile, MIN_SCORE: 1, ...values }))
  )

describe("routes test", () => {
  it.scoped("replays the archive through ROUTES_FILE: alerts per route and three examples each", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const routesFile = join(mkdtempSync(join(tmpdir(), "routes-")), "routes.json")
      writeFileSync(
        routesFile,
        JSON.stringify({
          routes: [
            { name: "fda", webhook: "https://discord.com/api/webhooks/1/a", match: { categories: ["fda_approval"] } },
            { name: "bearish", webhook: "https://discord.com/api/webhooks/2/b", match: { sentiment: "negative" } },
            { name: "nobody", webhook: "https://discord.com/api/webhooks/3/c", match: { tickers: ["ZZZZ"] } }
          ]
        })
      )
      yield* TestClock.setTime(now)
      const result = yield* Effect.gen(function* () {
        // Archived as they happened: each entry at its own time.
        for (const [id, title, age] of [
          ["a1", "Acme FDA approval", 1],
          ["a2", "Beta FDA approval", 2],
          ["a3", "Gamma FDA approval", 3],
          ["a4", "Delta FDA approval", 4],
          ["o1", "Omega prices offering", 1],
          ["w1", "weak FDA rumour", 1],
          ["old", "Ancient FDA approval", 30]
        ] as const) {
          yield* TestClock.setTime(now - age * day)
          yield* (yield* ItemArchive).record([entry(id, title, age)])
        }
        yield* TestClock.setTime(now)
        return yield* (yield* RouteReplay).run(now - 7 * day)
      }).pipe(Effect.provide(layer(dir, routesFile)))

      expect(result).toMatchObject({ scanned: 6, wouldAlert: 5, unrouted: 0 })
      const byRoute = Object.fromEntries(result.routes.map((tally) => [tally.route, tally]))
      expect(byRoute["fda"]!.alerts).toBe(4)
      expect(byRoute["fda"]!.examples.map((example) => example.ticker)).toHaveLength(3)
      expect(byRoute["bearish"]).toMatchObject({ alerts: 1, examples: [{ ticker: "O1" }] })
      expect(byRoute["nobody"]).toMatchObject({ alerts: 0, examples: [] })
      const text = renderRouteReplay(result, 7)
      expect(text).toContain("route fda: 4 alert(s)")
      expect(text).toContain("route nobody: 0 alert(s)")
    })
  )

  it.scoped(
    "a watchlist ticker is marked and routed as the bot would, past MIN_SCORE with WATCHLIST_BYPASS_FILTERS",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const files = mkdtempSync(join(tmpdir(), "routes-"))
        const routesFile = join(files, "routes.json")
        const watchlistFile = join(files, "watchlist.json")
        writeFileSync(
          routesFile,
          JSON.stringify({
            routes: [
              { name: "watch", webhook: "https://discord.com/api/webhooks/1/a", match: { watchlist_tags: ["bio"] } },
              { name: "firehose", webhook: "https://discord.com/api/webhooks/2/b" }
            ]
          })
        )
        writeFileSync(watchlistFile, JSON.stringify({ tickers: [{ ticker: "W1", tags: ["bio"] }] }))
        yield* TestClock.setTime(now)
        const result = yield* Effect.gen(function* () {
          yield* (yield* ItemArchive).record([entry("a1", "Acme FDA approval", 0), entry("w1", "weak FDA rumour", 0)])
          return yield* (yield* RouteReplay).run(now - day)
        }).pipe(
          Effect.provide(layer(dir, routesFile, { WATCHLIST_FILE: watchlistFile, WATCHLIST_BYPASS_FILTERS: "1" }))
        )
        const byRoute = Object.fromEntries(result.routes.map((tally) => [tally.route, tally]))
        expect(result).toMatchObject({ scanned: 2, wouldAlert: 2 })
        expect(byRoute["watch"]).toMatchObject({ alerts: 1, examples: [{ ticker: "W1" }] })
        expect(byRoute["firehose"]!.alerts).toBe(2)
      })
  )
})
