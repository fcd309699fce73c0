import { Clock, Duration, Effect, Layer, Option, Ref, Schedule } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import { DatabaseWatch } from "../Kernel/DatabaseWatch.js"
import type { BarInterval, BarSeries } from "../Kernel/Domain.js"
import { Outbox } from "../Delivery/Outbox.js"
import { ItemArchive } from "./ItemArchive.js"
import { MarketData } from "../MarketData/MarketData.js"
import { advance, nextCheckAt, seriesNeeded } from "./Checkpoints.js"
import { type Enrolment, OutcomeStore } from "./OutcomeStore.js"

const minute = 60_000
const day = 24 * 60 * minute
/** A quote older than this when the alert went out (delivery was held up) no longer prices the alert. */
const quoteMaxAgeMs = 5 * minute
/** Filtered items are sampled while their alert-time price can still be read from today's bars. */
const filteredEnrolWindowMs = 60 * minute
const purgeEveryMs = 60 * minute
const enrolPerTick = 500
const checksPerTick = 200

export interface TickReport {
  readonly enrolled: number
  readonly checked: number
  readonly completed: number
}

/**
 * Follows what the price did after each delivered alert, and after a bounded sample of filtered
 * items (the "missed opportunities"). All state is in SQLite, keyed by item: after a restart the
 * next tick picks up every open row and resolves whatever checkpoints the bars still cover.
 */
export class OutcomeTracker extends Effect.Service<OutcomeTracker>()("Outcomes/OutcomeTracker", {
  effect: Effect.gen(function* () {
    const { outcomes: settings } = yield* AppConfig
    const market = yield* MarketData
    const outbox = yield* Outbox
    const archive = yield* ItemArchive
    const store = yield* OutcomeStore
    const lastPurge = yield* Ref.make(Number.NEGATIVE_INFINITY)

    /** Alerts are enrolled in delivery order, so only those delivered since the newest tracked one can be new. */
    const enrolDelivered = Effect.fn("OutcomeTracker.enrolDelivered")(function* (now: number) {
      const since = Math.max(now - settings.archiveDays * day, (yield* store.lastAlertAt) ?? Number.NEGATIVE_INFINITY)
      const delivered = yield* outbox.deliveredSince(since, enrolPerTick)
      const tracked = yield* store.tracked(delivered.map(({ alert }) => alert.item.id))
      const entries = delivered
        .filter(({ alert }) => !tracked.has(alert.item.id))
        .map(({ alert, deliveredAt }): Enrolment => {
          const quoteFresh = deliveredAt - Date.parse(alert.decidedAt) <= quoteMaxAgeMs
          return {
            itemId: alert.item.id,
            kind: "alert",
            ticker: alert.ticker.symbol,
            source: alert.item.source,
            formType: alert.item.sec?.formType ?? null,
            title: alert.item.title,
            categories: alert.classification.categories,
            score: alert.classification.score,
            sentiment: alert.classification.sentiment,
            reason: null,
            alertAt: deliveredAt,
            quotePrice: alert.market._tag === "Priced" && quoteFresh ? alert.market.quote.price : null
          }
        })
      yield* store.enrol(entries)
      return entries.length
    })

    /** At most OUTCOME_FILTERED_PER_DAY filtered items with a ticker, the highest-scored first. */
    const enrolFilteredSample = Effect.fn("OutcomeTracker.enrolFilteredSample")(function* (now: number) {
      if (settings.filteredPerDay === 0) return 0
      const trackedToday = yield* store.filteredCountSince(now - day)
      const room = settings.filteredPerDay - trackedToday
      if (room <= 0) return 0
      // At most `trackedToday` candidates are tracked already, so the top OUTCOME_FILTERED_PER_DAY hold `room` new ones.
      const candidates = yield* archive.filteredSince(now - filteredEnrolWindowMs, settings.filteredPerDay)
      const tracked = yield* store.tracked(candidates.map((candidate) => candidate.itemId))
      const entries = candidates
        .filter((candidate) => !tracked.has(candidate.itemId))
        .slice(0, room)
        .map((candidate): Enrolment => ({
          itemId: candidate.itemId,
          kind: "filtered",
          ticker: candidate.ticker,
          source: candidate.source,
          formType: candidate.formType,
          title: candidate.title,
          categories: candidate.classification?.categories ?? [],
          score: candidate.classification?.score ?? 0,
          sentiment: candidate.classification?.sentiment ?? 0,
          reason: candidate.reason,
          alertAt: candidate.archivedAt,
          quotePrice: candidate.market?._tag === "Priced" ? candidate.market.quote.price : null
        }))
      yield* store.enrol(entries)
      return entries.length
    })

    /** A provider failure reads as "no data yet": the checkpoint waits and is retried, it isn't lost. */
    const barsOrNone = (symbol: string, interval: BarInterval) =>
      market
        .bars(symbol, interval)
        .pipe(
          Effect.catchAllCause((cause) =>
            Effect.as(Effect.logDebug(`${interval} bars for ${symbol} unavailable`, cause), Option.none<BarSeries>())
          )
        )

    const checkDue = Effect.fn("OutcomeTracker.checkDue")(function* (now: number) {
      const due = yield* store.due(now, checksPerTick)
      const wanted = (interval: "intraday" | "daily") =>
        new Set(due.filter(({ progress }) => seriesNeeded(progress, now)[interval]).map(({ ticker }) => ticker))
      const fetchAll = (symbols: Iterable<string>, interval: BarInterval) =>
        Effect.forEach(
          symbols,
          (symbol) => Effect.map(barsOrNone(symbol, interval), (bars) => [symbol, bars] as const),
          {
            concurrency: 4
          }
        ).pipe(Effect.map((pairs) => new Map(pairs)))
      const intraday = yield* fetchAll(wanted("intraday"), "5m")
      const daily = yield* fetchAll(wanted("daily"), "1d")

      let completed = 0
      for (const { itemId, ticker, progress } of due) {
        const next = advance(progress, {
          now,
          intraday: intraday.get(ticker) ?? Option.none(),
          daily: daily.get(ticker) ?? Option.none()
        })
        const checkAt = nextCheckAt(next, now)
        if (checkAt === null) completed++
        yield* store.update(itemId, next, checkAt)
      }
      return { checked: due.length, completed }
    })

    /** One pass: enrol new alerts and samples, resolve due checkpoints, purge past ARCHIVE_DAYS hourly. */
    const tick = Effect.fn("OutcomeTracker.tick")(function* () {
      const now = yield* Clock.currentTimeMillis
      const enrolled = (yield* enrolDelivered(now)) + (yield* enrolFilteredSample(now))
      const { checked, completed } = yield* checkDue(now)
      if (now - (yield* Ref.get(lastPurge)) >= purgeEveryMs) {
        yield* archive.purgeExpired()
        yield* store.purgeExpired()
        yield* Ref.set(lastPurge, now)
      }
      if (enrolled + completed > 0) {
        yield* Effect.logDebug(`${enrolled} outcomes enrolled, ${checked} checked, ${completed} completed`)
      }
      return { enrolled, checked, completed } satisfies TickReport
    })

    return { tick } as const
  }),
  dependencies: [AppConfig.Default, MarketData.Default, Outbox.Default, ItemArchive.Default, OutcomeStore.Default]
}) {}

/** The tracking fiber: its own schedule, its own failures; a cycle never waits for it. */
export const OutcomeTrackerLoop = Layer.scopedDiscard(
  Effect.gen(function* () {
    const tracker = yield* OutcomeTracker
    const { outcomes: settings } = yield* AppConfig
    const database = yield* DatabaseWatch
    const loop = tracker
      .tick()
      .pipe(
        database.guardStep("outcome tracking pass"),
        Effect.repeat(Schedule.spaced(Duration.seconds(settings.pollSeconds)))
      )
    yield* Effect.forkScoped(loop)
    yield* Effect.logInfo(`outcome tracking started, every ${settings.pollSeconds} s`)
  }).pipe(Effect.annotateLogs("module", "Outcomes"))
).pipe(Layer.provide(DatabaseWatch.Default))
