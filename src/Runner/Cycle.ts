import { SqlClient } from "@effect/sql"
import { Clock, DateTime, Effect, Metric } from "effect"
import { Classifier } from "../Classification/Classifier.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { Alert, CycleSummary, ItemOutcome, ItemOutcomeKind, NormalizedItem } from "../Kernel/Domain.js"
import { FeedIngest } from "../Feeds/FeedIngest.js"
import { applyCycleCap, holdOnMarket, rejectBeforeMarket, rejectOnMarket } from "../MarketData/Filters.js"
import { archiveEntries, ItemArchive } from "../Outcomes/ItemArchive.js"
import { MarketData } from "../MarketData/MarketData.js"
import { Outbox } from "../Delivery/Outbox.js"
import { SeenStore } from "../Storage/SeenStore.js"
import { SqlLive } from "../Kernel/Sql.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

export const itemsFetched = Metric.counter("items_fetched_total", { description: "Items parsed from feeds" })
export const itemsNew = Metric.counter("items_new_total", { description: "Items not seen before" })
export const itemsAlerted = Metric.counter("items_alerted_total", { description: "Alerts enqueued for delivery" })
export const itemsDuplicate = Metric.counter("items_duplicate_total", {
  description: "Items dropped as already seen, or as a story another feed carried first"
})

const outcome = (item: NormalizedItem, kind: ItemOutcomeKind, reason: string | null): ItemOutcome => ({
  itemId: item.id,
  source: item.source,
  title: item.title,
  outcome: kind,
  reason
})

/**
 * One pass of the pipeline: fetch → dedupe → classify → enrich → filter → (seen + outbox in one
 * transaction). Every item leaves with an outcome, so users can ask why something did or didn't alert.
 */
export class Cycle extends Effect.Service<Cycle>()("Runner/Cycle", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    const sql = yield* SqlClient.SqlClient
    const feeds = yield* FeedIngest
    const seen = yield* SeenStore
    const classifier = yield* Classifier
    const market = yield* MarketData
    const outbox = yield* Outbox
    const archive = yield* ItemArchive

    const run = Effect.fn("cycle")(function* () {
      const startedAt = yield* Clock.currentTimeMillis
      const outcomes: Array<ItemOutcome> = []

      const batch = yield* feeds.fetchAll
      for (const item of batch.stale) outcomes.push(outcome(item, "stale", "older than the age limit"))

      const unseenIds = new Set(yield* seen.filterUnseen(batch.items.map((item) => item.id)))
      const unseen: Array<NormalizedItem> = []
      for (const item of batch.items) {
        if (unseenIds.delete(item.id)) unseen.push(item)
        else outcomes.push(outcome(item, "duplicate", "already seen"))
      }
      const repeated = yield* seen.findRepeatedStories(unseen)
      const repeatedIds = new Set(repeated.map(({ item }) => item.id))
      for (const { item, firstSource } of repeated) {
        outcomes.push(outcome(item, "duplicate", `same story first carried by ${firstSource}`))
      }
      const candidates = unseen.filter((item) => !repeatedIds.has(item.id))

      const { items: classified, notes } = yield* classifier.classifyBatch(candidates)
      const passing = classified.filter((entry) => {
        const reason = rejectBeforeMarket(config.filters, entry)
        if (reason !== null) outcomes.push(outcome(entry.item, "filtered", reason))
        return reason === null
      })

      const enriched = yield* market.enrich(passing)
      const decidedAt = DateTime.formatIso(DateTime.unsafeMake(yield* Clock.currentTimeMillis))
      const alerts: Array<Alert> = []
      const heldIds = new Set<string>()
      for (const entry of enriched) {
        const held = holdOnMarket(config.filters, entry)
        if (held !== null) {
          heldIds.add(entry.item.id)
          outcomes.push(outcome(entry.item, "held", held))
          continue
        }
        const reason = rejectOnMarket(config.filters, entry)
        if (reason !== null) {
          outcomes.push(outcome(entry.item, "filtered", reason))
          continue
        }
        const [ticker] = entry.item.tickers
        if (ticker === undefined) continue
        alerts.push({ item: entry.item, ticker, classification: entry.classification, market: entry.market, decidedAt })
        outcomes.push(outcome(entry.item, "alerted", null))
      }

      // Held items (price unavailable, QUOTES_ON_OUTAGE=hold) stay unseen and unarchived: next cycle decides them.
      const settled = heldIds.size === 0 ? unseen : unseen.filter((item) => !heldIds.has(item.id))
      // ...so their feeds must serve them again: those feeds' validators aren't stored this cycle.
      const heldSources = new Set(unseen.filter((item) => heldIds.has(item.id)).map((item) => item.source))
      const cap = {
        maxPerCycle: config.filters.maxAlertsPerCycle,
        overflow: config.delivery.overflow,
        perSource: {
          perPoll: config.filters.sourceMaxAlertsPerPoll,
          perMinute: config.filters.sourceMaxAlertsPerMinute
        }
      }
      const decided = [...batch.stale, ...settled]
      const queued = yield* sql
        .withTransaction(
          Effect.zipRight(
            Effect.zipRight(batch.commit?.(heldSources) ?? Effect.void, seen.markSeen(settled)),
            outbox.enqueue(alerts, cap)
          ).pipe(
            Effect.tap((queued) =>
              archive.record(
                archiveEntries({
                  decided,
                  classified,
                  enriched,
                  outcomes: applyCycleCap(outcomes, queued, cap.maxPerCycle).outcomes
                })
              )
            )
          )
        )
        .pipe(Effect.orDie)
      const capped = applyCycleCap(outcomes, queued, cap.maxPerCycle)
      const enqueued = alerts.length - queued.dropped.length - (queued.overSourceCap?.length ?? 0)

      yield* Metric.incrementBy(itemsFetched, batch.items.length + batch.stale.length)
      yield* Metric.incrementBy(itemsNew, unseen.length)
      yield* Metric.incrementBy(itemsAlerted, enqueued)
      yield* Metric.incrementBy(itemsDuplicate, outcomes.filter((entry) => entry.outcome === "duplicate").length)
      const summary: CycleSummary = {
        startedAt: DateTime.formatIso(DateTime.unsafeMake(startedAt)),
        durationMs: (yield* Clock.currentTimeMillis) - startedAt,
        feeds: batch.reports,
        fetched: batch.items.length + batch.stale.length,
        new: unseen.length,
        alerted: enqueued,
        outcomes: capped.outcomes,
        notes: [...notes, ...capped.notes]
      }
      yield* Effect.annotateCurrentSpan({ fetched: summary.fetched, new: summary.new, alerted: summary.alerted })
      return summary
    })

    return { run } as const
  }),
  dependencies: [
    AppConfig.Default,
    FeedIngest.Default,
    SeenStore.Default,
    Classifier.Default,
    MarketData.Default,
    Outbox.Default,
    ItemArchive.Default,
    SqlLive
  ]
}) {
  static readonly Test = makeTestLayer(Cycle)
}
