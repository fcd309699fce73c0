import { SqlClient } from "@effect/sql"
import Database from "better-sqlite3"
import { Effect, ManagedRuntime } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import os from "node:os"
import { join } from "node:path"
import { BacktestLive, withConfig } from "../src/App/Layers.js"
import { Backtest } from "../src/Outcomes/Backtest.js"
import type { MarketSnapshot, NormalizedItem } from "../src/Kernel/Domain.js"
import { type ArchiveEntry, ItemArchive } from "../src/Outcomes/ItemArchive.js"
import { type BenchReport, isMain, percentile, publish } from "./lib.js"
import { judge, targets } from "./targets.js"
import { classificationFixture, itemFixture } from "../test/support/Alerts.js"

/**
 * `catalyst-bot backtest` over 100k archived items, against the floor of the same job: a raw
 * better-sqlite3 scan that reads and JSON-parses the same rows. The classifier is the real one with
 * the shipped keyword file (LLM_PROVIDER=none, as the CLI forces), so the figure covers the archive
 * scan, decoding, keyword classification, both filter passes and the would-be alerts' outcome lookups.
 */
const items = 100_000
const runs = 3

const headlines = [
  "Acme Bio Announces FDA Approval of Widgetumab",
  "Beta Corp Reports Topline Results From Phase 3 Trial",
  "Gamma Inc. Signs Strategic Partnership With Delta",
  "Epsilon Awarded $40 Million Government Contract",
  "Zeta Announces Pricing of $10 Million Public Offering",
  "Eta Holdings Announces 1-for-20 Reverse Stock Split",
  "Theta Receives Nasdaq Delisting Notice",
  "Iota Announces Third Quarter Results",
  "Kappa to Present at Investor Conference",
  "Lambda Appoints New Chief Financial Officer",
  "Mu Reports Record Revenue and Raises Guidance",
  "Nu Granted U.S. Patent for Battery Technology"
]
const sources = ["GlobeNewswire", "PR Newswire", "Business Wire", "SEC EDGAR"]

const archiveEntry = (i: number): ArchiveEntry => {
  const symbol = `T${(i % 5000).toString(36).toUpperCase()}`
  const market: MarketSnapshot | null =
    i % 3 === 0
      ? {
          _tag: "Priced",
          quote: {
            symbol,
            price: 0.5 + (i % 40),
            previousClose: null,
            changePct: null,
            volume: null,
            relativeVolume: null
          }
        }
      : null
  return {
    item: itemFixture(`item-${i}`, {
      source: sources[i % sources.length]!,
      title: headlines[i % headlines.length]!.replace(/^\w+/, symbol),
      summary: `${symbol} (NASDAQ: ${symbol}) today announced news. Forward-looking statements apply. `.repeat(3),
      link: `https://example.com/news/${i}`,
      published: "2026-11-24T15:00:00.000Z",
      fetchedAt: "2026-11-24T15:00:05.000Z",
      tickers: i % 10 === 0 ? [] : [{ symbol, exchange: "NASDAQ" }]
    }),
    outcome: i % 7 === 0 ? "alerted" : "filtered",
    reason: i % 7 === 0 ? null : "score below MIN_SCORE",
    classification: classificationFixture({
      score: i % 7 === 0 ? 2 : 0,
      llm: { _tag: "Skipped", reason: "LLM_PROVIDER=none" }
    }),
    market
  }
}

const seed = Effect.gen(function* () {
  const archive = yield* ItemArchive
  const sql = yield* SqlClient.SqlClient
  for (let start = 0; start < items; start += 5_000) {
    const chunk = Array.from({ length: 5_000 }, (_, k) => archiveEntry(start + k))
    yield* sql.withTransaction(archive.record(chunk))
  }
  // Outcomes for the live alerts, as the tracker would have recorded them.
  yield* sql`INSERT INTO price_outcomes (item_id, kind, ticker, source, title, categories, score, sentiment, alert_at,
      price_at_alert, price_1h, max_favourable_1h_pct, max_adverse_1h_pct, status, next_check_at)
    SELECT item_id, 'alert', coalesce(ticker, '?'), source, title, '[]', 1, 0.6, archived_at,
      10, 10 + (id % 13) / 10.0, (id % 17) / 1.5, -(id % 5) / 2.0, 'complete', archived_at
    FROM item_archive WHERE outcome = 'alerted'`
})

/** Wall and CPU time: on a shared machine the CPU time shows what the job costs without the queueing. */
const time = async (task: () => Promise<unknown>) => {
  const started = performance.now()
  const cpu = process.cpuUsage()
  await task()
  const used = process.cpuUsage(cpu)
  return { wall: performance.now() - started, cpu: (used.user + used.system) / 1000 }
}

export const run = async (): Promise<BenchReport> => {
  const dir = mkdtempSync(join(os.tmpdir(), "catalyst-bot-bench-backtest-"))
  const runtime = ManagedRuntime.make(BacktestLive.pipe(withConfig({ DATA_DIR: dir, MIN_SCORE: 2, PRICE_FLOOR: 1 })))
  try {
    await runtime.runPromise(seed)
    let wouldAlert = 0
    const backtest = () =>
      runtime.runPromise(
        Effect.flatMap(Backtest, (b) => b.run({ since: 0, limit: 25 })).pipe(
          Effect.tap((result) => Effect.sync(() => (wouldAlert = result.wouldAlert)))
        )
      )
    const database = new Database(join(dir, "catalyst-bot.sqlite"), { readonly: true })
    const rawScan = async () => {
      let parsed = 0
      for (const row of database
        .prepare(
          "SELECT id, outcome, item, market FROM item_archive WHERE archived_at >= 0 AND outcome IN ('filtered', 'alerted') ORDER BY id"
        )
        .iterate() as Iterable<{ item: string; market: string | null }>) {
        const item = JSON.parse(row.item) as NormalizedItem
        if (row.market !== null) JSON.parse(row.market)
        parsed += item.tickers.length
      }
      return parsed
    }
    const backtestTimes: Array<{ wall: number; cpu: number }> = []
    const rawTimes: Array<{ wall: number; cpu: number }> = []
    for (let i = 0; i < runs; i++) {
      rawTimes.push(await time(rawScan))
      backtestTimes.push(await time(backtest))
    }
    database.close()
    const median = (times: ReadonlyArray<{ wall: number; cpu: number }>, key: "wall" | "cpu") =>
      percentile(
        times.map((t) => t[key]),
        50
      )
    const wall = median(backtestTimes, "wall")
    const rawWall = median(rawTimes, "wall")
    const cpu = median(backtestTimes, "cpu")
    const rawCpu = median(rawTimes, "cpu")
    const load = os.loadavg()[0]!
    return {
      name: "backtest",
      figures: [
        {
          label: `backtest over ${items / 1000}k archived items (${wouldAlert} would alert), wall, median of ${runs} (load average ${load.toFixed(1)} on ${os.availableParallelism()} cores)`,
          value: wall,
          unit: "ms",
          baseline: { label: "raw better-sqlite3 scan + JSON.parse of the same rows (ms)", value: rawWall },
          ratio: rawWall / wall,
          ...judge(targets.backtestWall, wall)
        },
        {
          label: "backtest CPU time (what it costs without waiting for a core)",
          value: cpu,
          unit: "ms",
          baseline: { label: "raw scan CPU (ms)", value: rawCpu },
          ratio: rawCpu / cpu,
          ...judge(targets.backtestWall, cpu)
        },
        {
          label: "backtest throughput (wall)",
          value: items / (wall / 1000),
          unit: "items/s",
          baseline: { label: "raw scan (items/s)", value: items / (rawWall / 1000) },
          ratio: rawWall / wall
        }
      ]
    }
  } finally {
    await runtime.dispose()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (isMain(import.meta.url)) publish(await run())
