import { NodeContext } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { GroupStats } from "../src/Outcomes/Stats.js"
import { renderMarkdown, Report, writeReport } from "../src/Outcomes/Report.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { databaseConfig, databases, type DatabaseKind } from "./support/Databases.js"
import { tempDir } from "./support/TestLayers.js"

const now = Date.UTC(2026, 10, 28, 12)
const hour = 3_600_000

interface Fixture {
  readonly id: string
  readonly kind?: "alert" | "filtered"
  readonly categories: ReadonlyArray<string>
  readonly source: string
  readonly form: string | null
  readonly sentiment: number
  readonly p0?: number | null
  readonly p1h: number | null
  readonly mfe: number | null
  readonly open?: boolean
  readonly ageHours?: number
  readonly reason?: string
}

const gnw = "GlobeNewswire"
const prn = "PR Newswire"
const sec = "SEC EDGAR"

/** Every alert priced 10 at alert time, so a +1 h price of 10.5 is a 5% move; bearish alerts count falls. */
const fixtures: ReadonlyArray<Fixture> = [
  { id: "a1", categories: ["fda"], source: gnw, form: null, sentiment: 0.8, p1h: 11, mfe: 12 },
  { id: "a2", categories: ["fda"], source: gnw, form: null, sentiment: 0.8, p1h: 10.5, mfe: 6 },
  { id: "a3", categories: ["fda"], source: prn, form: null, sentiment: 0.8, p1h: 9.8, mfe: 1 },
  { id: "a4", categories: ["fda"], source: prn, form: null, sentiment: 0.8, p1h: 10.2, mfe: 5 },
  { id: "a5", categories: ["fda"], source: gnw, form: null, sentiment: 0.8, p0: null, p1h: 10.2, mfe: null },
  { id: "a6", categories: ["partnership"], source: gnw, form: null, sentiment: 0.5, p1h: 10.1, mfe: 2 },
  { id: "a7", categories: ["partnership"], source: prn, form: null, sentiment: 0.5, p1h: 10.3, mfe: 4.99 },
  { id: "a8", categories: ["partnership"], source: prn, form: null, sentiment: 0.5, p1h: 9.9, mfe: 0 },
  { id: "a9", categories: ["partnership"], source: gnw, form: null, sentiment: 0.5, p1h: 10.6, mfe: 7 },
  { id: "a10", categories: ["offering"], source: sec, form: "S-1", sentiment: -0.7, p1h: 9, mfe: 11 },
  { id: "a11", categories: ["offering"], source: sec, form: "S-1", sentiment: -0.7, p1h: 10.4, mfe: 0.5 },
  { id: "a12", categories: ["offering"], source: sec, form: "424B5", sentiment: -0.7, p1h: 9.5, mfe: 5.5 },
  { id: "a13", categories: ["offering"], source: sec, form: "424B5", sentiment: -0.7, p1h: 9.7, mfe: 3 },
  { id: "a14", categories: ["contract"], source: sec, form: "8-K", sentiment: 0.6, p1h: 10.8, mfe: 9 },
  { id: "a15", categories: ["contract"], source: sec, form: "8-K", sentiment: 0.6, p1h: 10, mfe: 1.5 },
  { id: "a16", categories: ["contract"], source: sec, form: "8-K", sentiment: 0.6, p1h: 9.6, mfe: 0 },
  { id: "a17", categories: ["fda", "partnership"], source: gnw, form: null, sentiment: 0.9, p1h: 11.5, mfe: 16 },
  { id: "a18", categories: [], source: prn, form: null, sentiment: 0, p1h: 10.05, mfe: 0.5 },
  { id: "a19", categories: [], source: gnw, form: null, sentiment: 0, p1h: null, mfe: null, open: true },
  // Outside the 7-day window.
  { id: "a20", categories: ["fda"], source: gnw, form: null, sentiment: 0.8, p1h: 13, mfe: 30, ageHours: 8 * 24 },
  // Filtered items tracked as a sample: two moved at least OUTCOME_MISSED_PCT (10%).
  {
    id: "f1",
    kind: "filtered",
    categories: [],
    source: prn,
    form: null,
    sentiment: 0,
    p1h: 12,
    mfe: 25,
    reason: "score 0.40 below MIN_SCORE 1"
  },
  {
    id: "f2",
    kind: "filtered",
    categories: ["uplisting"],
    source: gnw,
    form: null,
    sentiment: 0.3,
    p1h: 10.9,
    mfe: 10,
    reason: "price 0.5 below PRICE_FLOOR 1"
  },
  {
    id: "f3",
    kind: "filtered",
    categories: [],
    source: gnw,
    form: null,
    sentiment: 0,
    p1h: 10.9,
    mfe: 9.99,
    reason: "score 0.10 below MIN_SCORE 1"
  },
  {
    id: "f4",
    kind: "filtered",
    categories: [],
    source: gnw,
    form: null,
    sentiment: 0,
    p1h: null,
    mfe: null,
    reason: "score 0.20 below MIN_SCORE 1"
  }
]

const insertFixtures = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  for (const [index, f] of fixtures.entries()) {
    yield* sql`INSERT INTO price_outcomes ${sql.insert({
      item_id: f.id,
      kind: f.kind ?? "alert",
      ticker: `T${index}`,
      source: f.source,
      form_type: f.form,
      title: `Headline ${f.id} | with a pipe`,
      categories: JSON.stringify(f.categories),
      score: 2,
      sentiment: f.sentiment,
      reason: f.reason ?? null,
      alert_at: now - (f.ageHours ?? 1) * hour - index * 1000,
      price_at_alert: f.p0 === undefined ? 10 : f.p0,
      price_1h: f.p1h,
      max_favourable_1h_pct: f.mfe,
      max_adverse_1h_pct: f.mfe === null ? null : 0,
      status: f.open ? "open" : "complete",
      next_check_at: now
    })}`
  }
})

const reportLive = (kind: DatabaseKind) =>
  Report.Default.pipe(
    Layer.provideMerge(SqlLive),
    Layer.provideMerge(AppConfig.Default),
    Layer.provide(databaseConfig(kind, { OUTCOME_HIT_PCT: 5, OUTCOME_MISSED_PCT: 10 }))
  )

const row = (
  key: string,
  alerts: number,
  tracked: number,
  hits: number,
  mean: number | null,
  median: number | null
): GroupStats => ({
  key,
  alerts,
  tracked,
  hits,
  hitRate: tracked === 0 ? null : hits / tracked,
  meanMovePct: mean,
  medianMovePct: median
})

/** Float sums like 9.8 - 10 aren't exact: compare figures to 9 decimals. */
const expectStats = (actual: ReadonlyArray<GroupStats>, expected: ReadonlyArray<GroupStats>) => {
  expect(actual.map((r) => [r.key, r.alerts, r.tracked, r.hits])).toEqual(
    expected.map((r) => [r.key, r.alerts, r.tracked, r.hits])
  )
  actual.forEach((r, i) => {
    for (const field of ["hitRate", "meanMovePct", "medianMovePct"] as const) {
      const want = expected[i]![field]
      if (want === null) expect(r[field]).toBeNull()
      else expect(r[field]).toBeCloseTo(want, 9)
    }
  })
}

describe.each(databases)("outcome report on %s", (kind) => {
  const ReportLive = reportLive(kind)

  it.scoped("gives hand-computed figures per category, source and form type, and the missed opportunities", () =>
    Effect.gen(function* () {
      yield* insertFixtures
      yield* TestClock.setTime(now)
      const report = yield* (yield* Report).build(7 * 24 * hour)

      expectStats([report.total], [row("all alerts", 19, 17, 8, 57.5 / 17, 3)])
      expect(report.stillTracking).toBe(1)
      expectStats(report.byCategory, [
        row("fda", 6, 5, 4, 6, 5),
        row("partnership", 5, 5, 2, 4.8, 3),
        row("offering", 4, 4, 2, 3.5, 4),
        row("contract", 3, 3, 1, 4 / 3, 0),
        row("uncategorised", 2, 1, 0, 0.5, 0.5)
      ])
      expectStats(report.bySource, [
        row(gnw, 7, 5, 4, 7.4, 6),
        row(sec, 7, 7, 3, 18 / 7, 3),
        row(prn, 5, 5, 1, 0.5, 0.5)
      ])
      expectStats(report.byFormType, [
        row("press release", 12, 10, 5, 3.95, 2.5),
        row("8-K", 3, 3, 1, 4 / 3, 0),
        row("424B5", 2, 2, 1, 4, 4),
        row("S-1", 2, 2, 1, 3, 3)
      ])
      expect(report.missed.filteredTracked).toBe(4)
      expect(
        report.missed.opportunities.map((o) => [
          o.ticker,
          o.reason,
          o.maxFavourable1hPct,
          Math.round(o.move1hPct! * 1e9) / 1e9
        ])
      ).toEqual([
        ["T20", "score 0.40 below MIN_SCORE 1", 25, 20],
        ["T21", "price 0.5 below PRICE_FLOOR 1", 10, 9]
      ])

      const markdown = renderMarkdown(report)
      expect(markdown).toContain(
        "**19 alerts**, 17 with prices, 8 hits (47.1%), mean move +3.38%, median +3.00%; 1 still being tracked."
      )
      expect(markdown).toContain("| fda | 6 | 5 | 4 | 80.0% | +6.00% | +5.00% |")
      expect(markdown).toContain("| contract | 3 | 3 | 1 | 33.3% | +1.33% | 0.00% |")
      expect(markdown).toContain(
        "| T20 | PR Newswire | score 0.40 below MIN_SCORE 1 | +25.00% | +20.00% | Headline f1 \\| with a pipe |"
      )
    }).pipe(Effect.provide(ReportLive))
  )

  it.scoped("writes the report and a PNG chart of hit rate by category side by side", () =>
    Effect.gen(function* () {
      yield* insertFixtures
      yield* TestClock.setTime(now)
      const report = yield* (yield* Report).build(7 * 24 * hour)
      const dir = join(yield* tempDir, "reports")
      const written = yield* writeReport(report, JSON.stringify(report), "json", dir)
      expect(written).toEqual({
        reportFile: join(dir, "outcomes-report.json"),
        chartFile: join(dir, "hit-rate-by-category.png")
      })
      expect(JSON.parse(readFileSync(written.reportFile, "utf8")).total.hits).toBe(8)
      const png = readFileSync(written.chartFile)
      expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join("")).toBe("PNG")
      expect(png.readUInt32BE(16)).toBe(800)
      expect(png.readUInt32BE(20)).toBe(450)
    }).pipe(Effect.provide(Layer.merge(ReportLive, NodeContext.layer)))
  )
})
