import { Effect } from "effect"
import { Classifier } from "../Classification/Classifier.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { MarketSnapshot } from "../Kernel/Domain.js"
import { rejectBeforeMarket, rejectOnMarket } from "../MarketData/Filters.js"
import { ItemArchive } from "./ItemArchive.js"
import { OutcomeStore } from "./OutcomeStore.js"
import { categoryKeys, type GroupStats, groupBy, move1hPct, summarise, type TrackedOutcome } from "./Stats.js"
import { statsTable } from "./Report.js"

export interface WouldAlert {
  readonly at: string
  readonly itemId: string
  readonly ticker: string
  readonly source: string
  readonly title: string
  readonly score: number
  readonly categories: ReadonlyArray<string>
  /** What the live run did with the item. */
  readonly live: "alerted" | "filtered"
  readonly move1hPct: number | null
  readonly maxFavourable1hPct: number | null
}

export interface BacktestResult {
  readonly minScore: number
  readonly scanned: number
  readonly liveAlerts: number
  readonly wouldAlert: number
  /** Would alert now and alerted live. */
  readonly kept: number
  /** Would alert now but were filtered live. */
  readonly added: number
  /** Alerted live but would be filtered now. */
  readonly dropped: number
  readonly performance: {
    readonly wouldAlert: GroupStats
    readonly liveAlerts: GroupStats
    readonly byCategory: ReadonlyArray<GroupStats>
  }
  /** The highest-scored would-be alerts, up to the requested limit. */
  readonly alerts: ReadonlyArray<WouldAlert>
}

const pageSize = 5_000
/** The live run only priced items that passed the cheap filters; others pass the price filters here. */
const notPriced: MarketSnapshot = { _tag: "PriceUnavailable", reason: "not priced when archived" }

/**
 * Re-runs classification and the filters over the item archive with the settings in scope (the CLI
 * overrides MIN_SCORE and KEYWORDS_FILE), sends nothing, and scores the would-be alerts against the
 * price outcomes tracked for them (delivered alerts, and the sample of filtered items).
 */
export class Backtest extends Effect.Service<Backtest>()("Outcomes/Backtest", {
  effect: Effect.gen(function* () {
    const { filters, outcomes: settings } = yield* AppConfig
    const classifier = yield* Classifier
    const archive = yield* ItemArchive
    const store = yield* OutcomeStore

    const run = Effect.fn("Backtest.run")(function* (options: { readonly since: number; readonly limit: number }) {
      const would: Array<Omit<WouldAlert, "move1hPct" | "maxFavourable1hPct">> = []
      const liveIds: Array<string> = []
      let scanned = 0
      let afterId = 0
      for (;;) {
        const page = yield* archive.page({ afterId, since: options.since, limit: pageSize })
        if (page.length === 0) break
        afterId = page[page.length - 1]!.id
        scanned += page.length
        const archived = new Map(page.map((entry) => [entry.item.id, entry]))
        for (const entry of page) if (entry.outcome === "alerted") liveIds.push(entry.item.id)
        // An item without a ticker can never alert, whatever its score: don't pay for classifying it.
        const alertable = page.filter((entry) => entry.item.tickers.length > 0).map((entry) => entry.item)
        for (const classified of yield* classifier.classify(alertable)) {
          const entry = archived.get(classified.item.id)!
          const rejected =
            rejectBeforeMarket(filters, classified) ??
            rejectOnMarket(filters, { ...classified, market: entry.market ?? notPriced })
          const ticker = classified.item.tickers[0]
          if (rejected !== null || ticker === undefined) continue
          would.push({
            at: new Date(entry.archivedAt).toISOString(),
            itemId: classified.item.id,
            ticker: ticker.symbol,
            source: classified.item.source,
            title: classified.item.title,
            score: classified.classification.score,
            categories: classified.classification.categories,
            live: entry.outcome === "alerted" ? "alerted" : "filtered"
          })
        }
      }

      const tracked = yield* store.forItems([...would.map((alert) => alert.itemId), ...liveIds])
      const trackedOf = (ids: ReadonlyArray<string>) =>
        ids.flatMap((id): ReadonlyArray<TrackedOutcome> => {
          const outcome = tracked.get(id)
          return outcome === undefined ? [] : [outcome]
        })
      const wouldTracked = trackedOf(would.map((alert) => alert.itemId))
      const counted = (stats: GroupStats, alerts: number): GroupStats => ({ ...stats, alerts })
      const kept = would.filter((alert) => alert.live === "alerted").length
      return {
        minScore: filters.minScore,
        scanned,
        liveAlerts: liveIds.length,
        wouldAlert: would.length,
        kept,
        added: would.length - kept,
        dropped: liveIds.length - kept,
        performance: {
          // Untracked alerts still count as alerts; the hit rate's denominator is the tracked ones.
          wouldAlert: counted(summarise("would alert", wouldTracked, settings.hitPct), would.length),
          liveAlerts: counted(summarise("alerted live", trackedOf(liveIds), settings.hitPct), liveIds.length),
          byCategory: groupBy(wouldTracked, categoryKeys, settings.hitPct)
        },
        alerts: [...would]
          .sort((a, b) => b.score - a.score || a.at.localeCompare(b.at))
          .slice(0, options.limit)
          .map((alert): WouldAlert => {
            const outcome = tracked.get(alert.itemId)
            return {
              ...alert,
              move1hPct: outcome === undefined ? null : move1hPct(outcome),
              maxFavourable1hPct: outcome?.maxFavourable1hPct ?? null
            }
          })
      } satisfies BacktestResult
    })

    return { run } as const
  }),
  dependencies: [AppConfig.Default, Classifier.Default, ItemArchive.Default, OutcomeStore.Default]
}) {}

const signed = (value: number | null) => (value === null ? "–" : `${value > 0 ? "+" : ""}${value.toFixed(2)}%`)

export const renderBacktest = (result: BacktestResult, keywordsFile: string | null): string =>
  [
    `# Backtest: MIN_SCORE ${result.minScore}${keywordsFile === null ? "" : `, keywords from ${keywordsFile}`}`,
    "",
    `${result.scanned} archived items re-classified. ${result.wouldAlert} would alert ` +
      `(live: ${result.liveAlerts}): ${result.kept} alerted live too, ${result.added} new, ${result.dropped} live alerts dropped.`,
    "",
    ...statsTable("set", [result.performance.wouldAlert, result.performance.liveAlerts]),
    "",
    "Hit rate and moves only cover alerts whose prices were tracked (delivered alerts and the sampled filtered items).",
    "",
    "## Would-be alerts by category",
    "",
    ...statsTable("category", result.performance.byCategory),
    "",
    `## Would-be alerts (top ${result.alerts.length} by score)`,
    "",
    "| when (UTC) | ticker | score | categories | live | best move 1h | move 1h | headline |",
    "| --- | --- | ---: | --- | --- | ---: | ---: | --- |",
    ...result.alerts.map(
      (alert) =>
        `| ${alert.at.slice(0, 16).replace("T", " ")} | ${alert.ticker} | ${alert.score.toFixed(2)} | ${alert.categories.join(", ")} | ${alert.live} | ${signed(alert.maxFavourable1hPct)} | ${signed(alert.move1hPct)} | ${alert.title.replace(/\|/g, "\\|").replace(/\s+/g, " ")} |`
    ),
    ""
  ].join("\n")
