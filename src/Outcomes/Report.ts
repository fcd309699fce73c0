import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Clock, Effect, Schema } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import { OutcomeStore } from "./OutcomeStore.js"
import {
  categoryKeys,
  formTypeKey,
  type GroupStats,
  groupBy,
  move1hPct,
  summarise,
  type TrackedOutcome
} from "./Stats.js"

export interface MissedOpportunity {
  readonly at: string
  readonly ticker: string
  readonly source: string
  readonly title: string
  readonly reason: string | null
  readonly maxFavourable1hPct: number
  readonly move1hPct: number | null
}

export interface OutcomeReport {
  readonly generatedAt: string
  readonly since: string
  readonly hitPct: number
  readonly missedPct: number
  readonly total: GroupStats
  /** Alerts whose later checkpoints (+4 h, next close) are still being tracked. */
  readonly stillTracking: number
  readonly byCategory: ReadonlyArray<GroupStats>
  readonly bySource: ReadonlyArray<GroupStats>
  readonly byFormType: ReadonlyArray<GroupStats>
  readonly missed: {
    readonly filteredTracked: number
    readonly opportunities: ReadonlyArray<MissedOpportunity>
  }
}

const missedListed = 20
const iso = (epoch: number) => new Date(epoch).toISOString()

export const buildReport = (
  outcomes: ReadonlyArray<TrackedOutcome>,
  options: { readonly now: number; readonly since: number; readonly hitPct: number; readonly missedPct: number }
): OutcomeReport => {
  const alerts = outcomes.filter((outcome) => outcome.kind === "alert")
  const filtered = outcomes.filter((outcome) => outcome.kind === "filtered")
  const opportunities = filtered
    .filter((outcome) => (outcome.maxFavourable1hPct ?? Number.NEGATIVE_INFINITY) >= options.missedPct)
    .sort((a, b) => b.maxFavourable1hPct! - a.maxFavourable1hPct! || a.alertAt - b.alertAt)
    .slice(0, missedListed)
    .map((outcome): MissedOpportunity => ({
      at: iso(outcome.alertAt),
      ticker: outcome.ticker,
      source: outcome.source,
      title: outcome.title,
      reason: outcome.reason,
      maxFavourable1hPct: outcome.maxFavourable1hPct!,
      move1hPct: move1hPct(outcome)
    }))
  return {
    generatedAt: iso(options.now),
    since: iso(options.since),
    hitPct: options.hitPct,
    missedPct: options.missedPct,
    total: summarise("all alerts", alerts, options.hitPct),
    stillTracking: alerts.filter((outcome) => !outcome.complete).length,
    byCategory: groupBy(alerts, categoryKeys, options.hitPct),
    bySource: groupBy(alerts, (outcome) => [outcome.source], options.hitPct),
    byFormType: groupBy(alerts, (outcome) => [formTypeKey(outcome.formType)], options.hitPct),
    missed: { filteredTracked: filtered.length, opportunities }
  }
}

const percent = (value: number | null, signed = true) =>
  value === null ? "–" : `${signed && value > 0 ? "+" : ""}${value.toFixed(2)}%`
const rate = (value: number | null) => (value === null ? "–" : `${(value * 100).toFixed(1)}%`)
/** Table cells come from feed text: keep pipes and newlines from breaking the table. */
const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\s+/g, " ").trim()

export const statsTable = (heading: string, rows: ReadonlyArray<GroupStats>): ReadonlyArray<string> =>
  rows.length === 0
    ? ["No alerts."]
    : [
        `| ${heading} | alerts | tracked | hits | hit rate | mean move 1h | median move 1h |`,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ...rows.map(
          (row) =>
            `| ${cell(row.key)} | ${row.alerts} | ${row.tracked} | ${row.hits} | ${rate(row.hitRate)} | ${percent(row.meanMovePct)} | ${percent(row.medianMovePct)} |`
        )
      ]

export const renderMarkdown = (report: OutcomeReport): string => {
  const { total, missed } = report
  return [
    `# Alert outcomes since ${report.since.slice(0, 16).replace("T", " ")} UTC`,
    "",
    `A hit moved at least ${report.hitPct}% in the catalyst's direction within 1 h of the alert. ` +
      "The move is the +1 h price against the alert price, in the catalyst's direction (bearish alerts count a fall as positive).",
    "",
    `**${total.alerts} alerts**, ${total.tracked} with prices, ${total.hits} hits (${rate(total.hitRate)}), ` +
      `mean move ${percent(total.meanMovePct)}, median ${percent(total.medianMovePct)}` +
      (report.stillTracking > 0 ? `; ${report.stillTracking} still being tracked.` : "."),
    "",
    "## By category",
    "",
    ...statsTable("category", report.byCategory),
    "",
    "## By source",
    "",
    ...statsTable("source", report.bySource),
    "",
    "## By form type",
    "",
    ...statsTable("form type", report.byFormType),
    "",
    "## Missed opportunities",
    "",
    `Filtered items that moved at least ${report.missedPct}% their way within 1 h ` +
      `(${missed.opportunities.length} of ${missed.filteredTracked} filtered items tracked).`,
    "",
    ...(missed.opportunities.length === 0
      ? ["None."]
      : [
          "| when (UTC) | ticker | source | filtered because | best move 1h | move 1h | headline |",
          "| --- | --- | --- | --- | ---: | ---: | --- |",
          ...missed.opportunities.map(
            (o) =>
              `| ${o.at.slice(0, 16).replace("T", " ")} | ${o.ticker} | ${cell(o.source)} | ${cell(o.reason ?? "")} | ${percent(o.maxFavourable1hPct)} | ${percent(o.move1hPct)} | ${cell(o.title)} |`
          )
        ]),
    ""
  ].join("\n")
}

/** Per category, source and form type: how the delivered alerts did, plus what the filters let go. */
export class Report extends Effect.Service<Report>()("Outcomes/Report", {
  effect: Effect.gen(function* () {
    const store = yield* OutcomeStore
    const { outcomes: settings } = yield* AppConfig

    const build = Effect.fn("Report.build")(function* (lookbackMs: number) {
      const now = yield* Clock.currentTimeMillis
      const since = now - lookbackMs
      const outcomes = yield* store.since(since)
      return buildReport(outcomes, { now, since, hitPct: settings.hitPct, missedPct: settings.missedPct })
    })

    return { build } as const
  }),
  dependencies: [OutcomeStore.Default, AppConfig.Default]
}) {}

/** A bad command-line value, reported as one line naming the option. */
export class InvalidOption extends Schema.TaggedError<InvalidOption>()("InvalidOption", {
  message: Schema.String
}) {}

export class ReportWriteFailed extends Schema.TaggedError<ReportWriteFailed>()("ReportWriteFailed", {
  message: Schema.String
}) {}

const lookbackUnits = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

/** `30m`, `24h`, `7d`, `2w` → milliseconds. */
export const parseLookback = (option: string, value: string): Effect.Effect<number, InvalidOption> => {
  const match = /^(\d+)\s*([mhdw])$/.exec(value.trim())
  return match === null || Number(match[1]) === 0
    ? Effect.fail(
        new InvalidOption({ message: `--${option} expects a positive span like 30m, 24h, 7d or 2w, got "${value}"` })
      )
    : Effect.succeed(Number(match[1]) * lookbackUnits[match[2] as keyof typeof lookbackUnits])
}

/** Writes the report and its chart side by side in `dir`; returns both paths. */
export const writeReport = Effect.fn("Report.write")(
  function* (report: OutcomeReport, text: string, format: "md" | "json", dir: string) {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const reportFile = path.join(dir, `outcomes-report.${format}`)
    const chartFile = path.join(dir, "hit-rate-by-category.png")
    // ECharts is imported only here: the bot's own process never draws the report's chart.
    const { renderHitRateChart } = yield* Effect.promise(() => import("./HitRateChart.js"))
    const png = renderHitRateChart(report.byCategory, `Hit rate by category (≥ ${report.hitPct}% within 1 h)`)
    yield* fs.makeDirectory(dir, { recursive: true })
    yield* fs.writeFileString(reportFile, text)
    yield* fs.writeFile(chartFile, png)
    return { reportFile, chartFile }
  },
  Effect.mapError((error) => new ReportWriteFailed({ message: `can't write the report: ${error.message}` }))
)
