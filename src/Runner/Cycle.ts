import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Context, DateTime, Duration, Effect, Exit, Fiber, FiberSet, Metric, Option, Tracer } from "effect"
import { ChartRenderer } from "../Charts/ChartRenderer.js"
import { Classifier } from "../Classification/Classifier.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import type {
  Alert,
  ClassifiedItem,
  CompanySize,
  CycleSummary,
  EnrichedItem,
  InsiderTrade,
  ItemOutcome,
  ItemOutcomeKind,
  NormalizedItem,
  WatchlistMark
} from "../Kernel/Domain.js"
import { type FeedBatch, FeedIngest } from "../Feeds/FeedIngest.js"
import type { FeedSource } from "../Feeds/Sources.js"
import {
  applyCycleCap,
  holdOnMarket,
  rejectBeforeMarket,
  rejectOnMarket,
  rejectOnSize,
  watchlistFilters
} from "../MarketData/Filters.js"
import { CompanySizes, sizeWaitForFilters } from "../MarketData/CompanySizes.js"
import { InsiderTrades } from "../Classification/InsiderTrades.js"
import { isInsiderForm } from "../Feeds/SecEntry.js"
import { MuteList } from "../MarketData/MuteList.js"
import { Watchlist } from "../MarketData/Watchlist.js"
import { archiveEntries, ItemArchive } from "../Outcomes/ItemArchive.js"
import { MarketData } from "../MarketData/MarketData.js"
import { AlertLinks } from "../Delivery/AlertLinks.js"
import { type LateDetail, LateDetails, withDocuments, withSize } from "../Delivery/LateDetails.js"
import { Outbox } from "../Delivery/Outbox.js"
import { SeenStore, storyKeys } from "../Storage/SeenStore.js"
import { SqlLive } from "../Kernel/Sql.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

export const itemsFetched = Metric.counter("items_fetched_total", { description: "Items parsed from feeds" })
export const itemsNew = Metric.counter("items_new_total", { description: "Items not seen before" })
export const itemsAlerted = Metric.counter("items_alerted_total", { description: "Alerts enqueued for delivery" })
export const itemsDuplicate = Metric.counter("items_duplicate_total", {
  description: "Items dropped as already seen, or as a story another feed carried first"
})

/**
 * A tracer whose spans don't end (so aren't exported) until `flush`: a poll is traced in full, and
 * only once it has finished is it known whether the trace is worth keeping.
 */
const deferringTracer = (base: Tracer.Tracer) => {
  const ends: Array<() => void> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = base.span(name, parent, context, links, startTime, kind, options)
      const end = span.end.bind(span)
      span.end = (endTime, exit) => void ends.push(() => end(endTime, exit))
      return span
    },
    context: (f, fiber) => base.context(f, fiber)
  })
  return { tracer, flush: () => ends.splice(0).forEach((end) => end()) }
}

/** With no size filter on, a live poll waits only this for a company's size (a cached one answers at once); the rest is edited in. */
const sizeGlance = Duration.millis(100)

const outcome = (item: NormalizedItem, kind: ItemOutcomeKind, reason: string | null): ItemOutcome => ({
  itemId: item.id,
  source: item.source,
  title: item.title,
  outcome: kind,
  reason
})

/**
 * One poll of the pipeline: fetch → dedupe → classify → enrich → filter → (seen + outbox in one
 * transaction). Every item leaves with an outcome, so users can ask why something did or didn't alert.
 */
export class Cycle extends Effect.Service<Cycle>()("Runner/Cycle", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const sql = yield* SqlClient.SqlClient
    const feeds = yield* FeedIngest
    const seen = yield* SeenStore
    const classifier = yield* Classifier
    const market = yield* MarketData
    const outbox = yield* Outbox
    const archive = yield* ItemArchive
    const links = yield* AlertLinks
    // Both read SEC; a cycle assembled without them (tests over a local feed) decides without size or Form 4s.
    const companySizes = yield* Effect.serviceOption(CompanySizes)
    const insiderTrades = yield* Effect.serviceOption(InsiderTrades)
    // Optional so stage tests can build a cycle without one; the bot's graph (App/Layers.ts) provides it.
    const mutes = yield* Effect.serviceOption(MuteList)
    const watchlist = yield* Effect.serviceOption(Watchlist)
    const bypassFilters = watchlistFilters(config.filters)
    // Charts of alerts still being decided start drawing early; a cycle without a renderer skips that.
    const charts = yield* Effect.serviceOption(ChartRenderer)
    // Optional like the above: without it a live poll waits for documents and sizes as `once` does.
    const lateDetails = yield* Effect.serviceOption(LateDetails)
    const documentWait = Duration.seconds(config.classify.secDocumentWaitSeconds)
    const sizeFiltersOn =
      config.filters.minMarketCapUsd > 0 ||
      config.filters.maxMarketCapUsd > 0 ||
      config.filters.maxSharesOutstanding > 0

    /**
     * Story keys claimed by a cycle between its dedupe and its commit. Two pollers carrying the same
     * story at once would both pass the seen store's story check (neither has committed yet); the
     * claim makes the second one wait for the first's verdict instead of alerting too.
     */
    const inFlight = new Map<string, symbol>()
    const claimKey = (key: { readonly ticker: string; readonly signature: string }) =>
      `${key.ticker}\u0000${key.signature}`

    /** Claims each item's story keys; an item whose story another cycle holds is returned in `taken`. */
    const claimStories = (items: ReadonlyArray<NormalizedItem>, owner: symbol) =>
      Effect.sync(() => {
        const claimed: Array<NormalizedItem> = []
        const taken: Array<NormalizedItem> = []
        for (const item of items) {
          const keys = storyKeys(item).map(claimKey)
          if (keys.some((key) => (inFlight.get(key) ?? owner) !== owner)) {
            taken.push(item)
            continue
          }
          for (const key of keys) inFlight.set(key, owner)
          claimed.push(item)
        }
        return { claimed, taken }
      })
    const releaseStories = (owner: symbol) =>
      Effect.sync(() => {
        for (const [key, holder] of inFlight) if (holder === owner) inFlight.delete(key)
      })
    /** Moves an item's story claim to a new holder, so a poll's release at its end leaves it claimed. */
    const handOverStory = (item: NormalizedItem, to: symbol) =>
      Effect.sync(() => {
        for (const key of storyKeys(item).map(claimKey)) inFlight.set(key, to)
      })

    /**
     * Form 4s a live poll handed to the background, by item id. Such an item stays unseen (a restart
     * decides it again) and holds its source's validators back until its verdict is committed; polls
     * meanwhile record it as held.
     */
    const pendingForm4s = new Set<string>()
    const form4Fibers = yield* FiberSet.make()
    // As many documents read at once as a poll read before: the rest wait here, not inside the read's timeout.
    const form4Reads = yield* Effect.makeSemaphore(4)

    const unseenOf = (batch: FeedBatch) =>
      Effect.map(seen.filterUnseen(batch.items.map((item) => item.id)), (ids) => new Set(ids))

    /** A poll's summary: its start, its duration until now, the feeds' reports and the server's hint, with `counts`. */
    const summaryOf = (
      batch: FeedBatch,
      startedAt: number,
      counts: Pick<CycleSummary, "fetched" | "new" | "alerted" | "outcomes" | "notes">
    ) =>
      Effect.map(Clock.currentTimeMillis, (now): CycleSummary => ({
        startedAt: DateTime.formatIso(DateTime.unsafeMake(startedAt)),
        durationMs: now - startedAt,
        feeds: batch.reports,
        ...counts,
        ...(batch.retryAt === undefined ? {} : { retryAt: batch.retryAt })
      }))

    /**
     * A poll that brought no item (a 304, an unchanged body, a failure): only its validators to store,
     * with no seen marks to store them beside. Most polls at a one-second cadence end here.
     */
    const nothingToDecide = (batch: FeedBatch, startedAt: number) =>
      Effect.zipRight(
        batch.commit?.(new Set()) ?? Effect.void,
        summaryOf(batch, startedAt, { fetched: 0, new: 0, alerted: 0, outcomes: [], notes: [] })
      )

    /**
     * Everything after the fetch, for items `unseenIds` says are new. `postFirst` (the live pollers):
     * an SEC alert doesn't wait for what its documents or its company's size add; those are edited in.
     */
    const stages = (batch: FeedBatch, unseenIds: Set<string>, startedAt: number, postFirst: boolean) =>
      batch.items.length === 0 && batch.stale.length === 0
        ? nothingToDecide(batch, startedAt)
        : Effect.gen(function* () {
            const owner = Symbol("cycle")
            return yield* decide(batch, unseenIds, startedAt, owner, postFirst && Option.isSome(lateDetails)).pipe(
              Effect.ensuring(releaseStories(owner))
            )
          })

    /**
     * An item its documents decide (it would be filtered on its getcurrent line alone: a 7.01/8.01
     * whose summary scores nothing) has nothing to post before they arrive: it waits for them, up to
     * SEC_DOCUMENT_WAIT_SECONDS. Others go on, their reads running beside the quotes.
     */
    const awaitDeciding = (entries: ReadonlyArray<ClassifiedItem>, reads: Map<string, Fiber.Fiber<ClassifiedItem>>) =>
      Effect.forEach(
        entries,
        (entry) => {
          const read = reads.get(entry.item.id)
          if (read === undefined || rejectBeforeMarket(config.filters, entry) === null) return Effect.succeed(entry)
          reads.delete(entry.item.id)
          return Fiber.join(read).pipe(
            Effect.timeout(documentWait),
            Effect.catchAll(() =>
              Effect.as(
                Effect.zipRight(
                  Fiber.interruptFork(read),
                  Effect.logDebug(
                    `${entry.item.title}: documents not read within SEC_DOCUMENT_WAIT_SECONDS=${config.classify.secDocumentWaitSeconds}; decided without them`
                  )
                ),
                entry
              )
            )
          )
        },
        { concurrency: "unbounded" }
      )

    /**
     * A Form 4 a live poll handed on: reads its document in the SEC budget's background lane, then
     * commits its verdict as a poll would (seen, outbox, archive) in one transaction.
     */
    const decideForm4 = (
      entry: EnrichedItem,
      size: CompanySize | undefined,
      note: string | null,
      lateSize: Effect.Effect<CompanySize | null> | undefined,
      cap: NonNullable<Parameters<typeof outbox.enqueue>[1]>
    ) =>
      Effect.gen(function* () {
        if (Option.isNone(insiderTrades)) return
        const verdict = yield* form4Reads.withPermits(1)(insiderTrades.value.verdict(entry.item.sec!))
        const [ticker] = entry.item.tickers
        const decidedAt = DateTime.formatIso(DateTime.unsafeMake(yield* Clock.currentTimeMillis))
        const alerts: Array<Alert> =
          verdict._tag === "Alert" && ticker !== undefined
            ? [
                {
                  item: entry.item,
                  ticker,
                  classification: entry.classification,
                  market: entry.market,
                  decidedAt,
                  ...(size === undefined ? {} : { size }),
                  insider: verdict.trade
                }
              ]
            : []
        const outcomes = [
          verdict._tag === "Filtered"
            ? outcome(entry.item, "filtered", verdict.reason)
            : outcome(entry.item, "alerted", note)
        ]
        const enqueued = yield* sql
          .withTransaction(
            Effect.gen(function* () {
              yield* seen.markSeen([entry.item])
              const { queue, linked } = yield* links.attach(alerts)
              for (const { reason } of linked) outcomes[0] = { ...outcomes[0]!, outcome: "duplicate", reason }
              const queued = yield* outbox.enqueue(queue, cap)
              yield* archive.record(
                archiveEntries({
                  decided: [entry.item],
                  classified: [entry],
                  enriched: [entry],
                  outcomes: applyCycleCap(outcomes, queued, cap.maxPerCycle).outcomes
                })
              )
              return queue.length - queued.dropped.length - (queued.overSourceCap?.length ?? 0)
            })
          )
          .pipe(Effect.orDie)
        if (lateSize !== undefined && enqueued > 0 && Option.isSome(lateDetails)) {
          yield* lateDetails.value.follow([
            {
              itemId: entry.item.id,
              what: "company size",
              change: Effect.map(lateSize, (found) =>
                found === null ? null : (alert: Alert) => withSize(alert, found)
              )
            }
          ])
        }
        yield* Metric.incrementBy(itemsAlerted, enqueued)
      }).pipe(Effect.withSpan("Cycle.decideForm4", { attributes: { item: entry.item.id } }))

    const decide = (batch: FeedBatch, unseenIds: Set<string>, startedAt: number, owner: symbol, postFirst: boolean) =>
      Effect.gen(function* () {
        const outcomes: Array<ItemOutcome> = []
        for (const item of batch.stale) outcomes.push(outcome(item, "stale", "older than the age limit"))

        const unseen: Array<NormalizedItem> = []
        const seenAgain: Array<NormalizedItem> = []
        const pending: Array<NormalizedItem> = []
        for (const item of batch.items) {
          if (!unseenIds.delete(item.id)) {
            seenAgain.push(item)
            outcomes.push(outcome(item, "duplicate", "already seen"))
          } else if (pendingForm4s.has(item.id)) pending.push(item)
          else unseen.push(item)
        }
        for (const item of pending) outcomes.push(outcome(item, "held", "Form 4 document still being read"))
        // Claimed before the story check, so a rival cycle either still holds the claim or has committed.
        const { claimed, taken } = yield* claimStories(unseen, owner)
        // The other cycle's commit decides these: their feeds serve them again, and the story check then sees it.
        for (const item of taken) outcomes.push(outcome(item, "duplicate", "same story being decided for another feed"))
        const repeated = yield* seen.findRepeatedStories(claimed)
        const repeatedIds = new Set(repeated.map(({ item }) => item.id))
        for (const { item, firstSource } of repeated) {
          outcomes.push(outcome(item, "duplicate", `same story first carried by ${firstSource}`))
        }
        const unrepeated = claimed.filter((item) => !repeatedIds.has(item.id))
        const { kept: candidates, muted } = Option.isSome(mutes)
          ? yield* mutes.value.partition(unrepeated, yield* Clock.currentTimeMillis)
          : { kept: unrepeated, muted: [] }
        for (const { item, reason } of muted) outcomes.push(outcome(item, "filtered", reason))

        const firstPass = yield* classifier.classifyBatch(candidates, { postFirst })
        const { notes } = firstPass
        const reads = new Map<string, Fiber.Fiber<ClassifiedItem>>(firstPass.documents ?? [])
        const classified = reads.size === 0 ? firstPass.items : yield* awaitDeciding(firstPass.items, reads)
        const watched = Option.isSome(watchlist) ? yield* watchlist.value.current() : null
        const marks = new Map<string, WatchlistMark>()
        for (const { item } of watched === null ? [] : classified) {
          const mark = watched!.markOf(item)
          if (mark !== undefined) marks.set(item.id, mark)
        }
        // WATCHLIST_BYPASS_FILTERS: a watchlist ticker's item is not held to the score and price filters.
        const bypassing = (item: NormalizedItem) => watched?.bypassFilters === true && marks.has(item.id)
        // What the bypass let through, for the alert's outcome: `once` and the archive then say why it alerted.
        const bypassed = new Map<string, ReadonlyArray<string>>()
        const judge = (item: NormalizedItem, reject: (settings: typeof config.filters) => string | null) => {
          if (!bypassing(item)) return reject(config.filters)
          const reason = reject(bypassFilters)
          const waived = reason === null ? reject(config.filters) : null
          if (waived !== null) bypassed.set(item.id, [...(bypassed.get(item.id) ?? []), waived])
          return reason
        }
        const passing = classified.filter((entry) => {
          const reason = judge(entry.item, (settings) => rejectBeforeMarket(settings, entry))
          if (reason !== null) outcomes.push(outcome(entry.item, "filtered", reason))
          return reason === null
        })

        const enriched = yield* market.enrich(passing)
        const decidedAt = DateTime.formatIso(DateTime.unsafeMake(yield* Clock.currentTimeMillis))
        const alerts: Array<Alert> = []
        const heldIds = new Set<string>()
        const priced: Array<EnrichedItem> = []
        for (const entry of enriched) {
          const held = holdOnMarket(config.filters, entry)
          if (held !== null) {
            heldIds.add(entry.item.id)
            outcomes.push(outcome(entry.item, "held", held))
            continue
          }
          const reason = judge(entry.item, (settings) => rejectOnMarket(settings, entry))
          if (reason !== null) {
            outcomes.push(outcome(entry.item, "filtered", reason))
            continue
          }
          priced.push(entry)
        }
        // Their charts draw while sizes, documents and the transaction take their time.
        if (Option.isSome(charts)) {
          for (const entry of priced) {
            const [ticker] = entry.item.tickers
            if (ticker !== undefined) yield* charts.value.prefetch(ticker.symbol, entry.item.published)
          }
        }
        // Only items that passed the price filters cost SEC requests for their size.
        const { known: sizes, late: lateSizes } = Option.isSome(companySizes)
          ? yield* companySizes.value.sizes(priced, postFirst && !sizeFiltersOn ? sizeGlance : sizeWaitForFilters)
          : { known: new Map<string, CompanySize>(), late: new Map<string, Effect.Effect<CompanySize | null>>() }
        const sized: Array<{ entry: EnrichedItem; size: CompanySize | undefined; note: string | null }> = []
        for (const entry of priced) {
          const size = sizes.get(entry.item.id)
          const { reason, note } = rejectOnSize(config.filters, size)
          if (reason !== null) outcomes.push(outcome(entry.item, "filtered", reason))
          else sized.push({ entry, size, note })
        }
        const cap = {
          maxPerCycle: config.filters.maxAlertsPerCycle,
          overflow: config.delivery.overflow,
          perSource: {
            perPoll: config.filters.sourceMaxAlertsPerPoll,
            perMinute: config.filters.sourceMaxAlertsPerMinute
          }
        }
        const form4s = sized.filter(({ entry }) => isInsiderForm(entry.item.sec?.formType ?? ""))
        // A live poll doesn't wait for Form 4 documents: a peak hour of them would hold its 8-Ks and the next poll.
        const deferred = postFirst && Option.isSome(insiderTrades) ? form4s : []
        for (const { entry, size, note } of deferred) {
          const form4Owner = Symbol("form 4")
          pendingForm4s.add(entry.item.id)
          heldIds.add(entry.item.id)
          outcomes.push(outcome(entry.item, "held", "Form 4 document being read"))
          yield* handOverStory(entry.item, form4Owner)
          yield* FiberSet.run(
            form4Fibers,
            decideForm4(entry, size, note, lateSizes.get(entry.item.id), cap).pipe(
              Effect.ensuring(
                Effect.zipRight(
                  releaseStories(form4Owner),
                  Effect.sync(() => pendingForm4s.delete(entry.item.id))
                )
              )
            )
          )
        }
        // A Form 4's document is fetched only now, once its issuer has passed the price and size filters.
        const insiders = new Map<string, InsiderTrade>()
        yield* Effect.forEach(
          deferred.length > 0 ? [] : form4s,
          ({ entry }) =>
            Effect.gen(function* () {
              const filing = entry.item.sec!
              if (Option.isNone(insiderTrades)) {
                return outcomes.push(outcome(entry.item, "filtered", "Form 4 documents are not read by this cycle"))
              }
              const verdict = yield* insiderTrades.value.verdict(filing)
              if (verdict._tag === "Filtered") outcomes.push(outcome(entry.item, "filtered", verdict.reason))
              else insiders.set(entry.item.id, verdict.trade)
            }),
          { concurrency: 4, discard: true }
        )
        const late: Array<LateDetail> = []
        for (const { entry, size, note } of sized) {
          const insider = insiders.get(entry.item.id)
          if (isInsiderForm(entry.item.sec?.formType ?? "") && insider === undefined) continue
          const [ticker] = entry.item.tickers
          if (ticker === undefined) continue
          const read = reads.get(entry.item.id)
          reads.delete(entry.item.id)
          const done = read === undefined ? undefined : yield* Fiber.poll(read)
          const lateSize = postFirst ? lateSizes.get(entry.item.id) : undefined
          if (read !== undefined && (done === undefined || Option.isNone(done))) {
            late.push({
              itemId: entry.item.id,
              what: "filing documents",
              change: Effect.map(Fiber.join(read), (found) => (alert: Alert) => withDocuments(alert, found))
            })
          }
          if (lateSize !== undefined) {
            late.push({
              itemId: entry.item.id,
              what: "company size",
              change: Effect.map(lateSize, (found) =>
                found === null ? null : (alert: Alert) => withSize(alert, found)
              )
            })
          }
          const base: Alert = {
            item: entry.item,
            ticker,
            classification: entry.classification,
            market: entry.market,
            decidedAt,
            ...(size === undefined ? {} : { size }),
            ...(insider === undefined ? {} : { insider }),
            ...(entry.filing?.ownership !== undefined && { ownership: entry.filing.ownership }),
            ...(entry.filing?.offering !== undefined && { offering: entry.filing.offering }),
            ...(entry.filing?.exhibit !== undefined && { exhibit: entry.filing.exhibit }),
            ...(marks.has(entry.item.id) && { watchlist: marks.get(entry.item.id)! })
          }
          // Read while the quotes were fetched: the alert carries it from the start.
          alerts.push(
            done !== undefined && Option.isSome(done) && Exit.isSuccess(done.value)
              ? withDocuments(base, done.value.value)
              : base
          )
          const waived = bypassed.get(entry.item.id)
          const why =
            waived === undefined
              ? null
              : `watchlist ${marks.get(entry.item.id)!.ticker} passed despite ${waived.join(" and ")} (WATCHLIST_BYPASS_FILTERS)`
          outcomes.push(outcome(entry.item, "alerted", [why, note].filter((part) => part !== null).join("; ") || null))
        }
        // Reads of items that will not alert are of no use any more.
        for (const read of reads.values()) yield* Fiber.interruptFork(read)

        for (const item of taken) heldIds.add(item.id)
        // Held items (price unavailable, QUOTES_ON_OUTAGE=hold) stay unseen and unarchived: next cycle decides them.
        const settled = heldIds.size === 0 ? unseen : unseen.filter((item) => !heldIds.has(item.id))
        // ...so their feeds must serve them again: those feeds' validators aren't stored this cycle.
        const heldSources = new Set(
          [...unseen.filter((item) => heldIds.has(item.id)), ...pending].map((item) => item.source)
        )
        const decided = [...batch.stale, ...settled]
        const { queued, toQueue } = yield* sql
          .withTransaction(
            Effect.gen(function* () {
              yield* batch.commit?.(heldSources) ?? Effect.void
              yield* seen.markSeen(settled)
              // In the transaction: the earlier alerts it reads are then the ones its edits change.
              const { queue: toQueue, linked } = yield* links.attach(alerts)
              for (const { itemId, reason } of linked) {
                const index = outcomes.findIndex((entry) => entry.itemId === itemId && entry.outcome === "alerted")
                if (index >= 0) outcomes[index] = { ...outcomes[index]!, outcome: "duplicate", reason }
              }
              // A story seen before under a new headline (same URL) edits its alert instead of alerting again.
              for (const { itemId, reason } of yield* links.retitled(seenAgain)) {
                const index = outcomes.findIndex((entry) => entry.itemId === itemId && entry.outcome === "duplicate")
                if (index >= 0) outcomes[index] = { ...outcomes[index]!, reason }
              }
              const queued = yield* outbox.enqueue(toQueue, cap)
              yield* archive.record(
                archiveEntries({
                  decided,
                  classified,
                  enriched,
                  outcomes: applyCycleCap(outcomes, queued, cap.maxPerCycle).outcomes
                })
              )
              return { queued, toQueue }
            })
          )
          .pipe(Effect.orDie)
        if (late.length > 0 && Option.isSome(lateDetails)) yield* lateDetails.value.follow(late)
        const capped = applyCycleCap(outcomes, queued, cap.maxPerCycle)
        const enqueued = toQueue.length - queued.dropped.length - (queued.overSourceCap?.length ?? 0)

        yield* Metric.incrementBy(itemsFetched, batch.items.length + batch.stale.length)
        yield* Metric.incrementBy(itemsNew, unseen.length)
        yield* Metric.incrementBy(itemsAlerted, enqueued)
        yield* Metric.incrementBy(itemsDuplicate, outcomes.filter((entry) => entry.outcome === "duplicate").length)
        const summary = yield* summaryOf(batch, startedAt, {
          fetched: batch.items.length + batch.stale.length,
          new: unseen.length,
          alerted: enqueued,
          outcomes: capped.outcomes,
          notes: [...notes, ...capped.notes]
        })
        yield* Effect.annotateCurrentSpan({ fetched: summary.fetched, new: summary.new, alerted: summary.alerted })
        return summary
      })

    /** Every source in one pass and one trace (`once`, the stepped world tests, bench:cycle). */
    const runAll = Effect.fn("cycle")(function* () {
      const startedAt = yield* Clock.currentTimeMillis
      const batch = yield* feeds.fetchAll
      return yield* stages(batch, yield* unseenOf(batch), startedAt, false)
    })

    /**
     * One poll of one source. A poll that brings nothing new is not traced (at a one-second cadence
     * it would bury the traces that matter); one that does is one trace, rooted at a `cycle` span
     * (attribute `source`) that starts when the poll did and holds the fetch and every stage.
     */
    const runSource = (source: FeedSource) =>
      Effect.gen(function* () {
        const startedAt = yield* Clock.currentTimeMillis
        const base = yield* Effect.tracer
        const parent = yield* Effect.option(Effect.currentParentSpan)
        const span = base.span("cycle", parent, Context.empty(), [], yield* Clock.currentTimeNanos, "internal")
        span.attribute("source", source.name)
        const deferred = deferringTracer(base)
        const { batch, unseenIds } = yield* Effect.bindTo(feeds.poll(source), "batch").pipe(
          Effect.bind("unseenIds", ({ batch }) => unseenOf(batch)),
          Effect.withTracer(deferred.tracer),
          Effect.withParentSpan(span)
        )
        // Nothing new: the cycle span and the poll's spans are never ended, so never exported.
        if (unseenIds.size === 0)
          return yield* Effect.withTracerEnabled(stages(batch, unseenIds, startedAt, true), false)
        deferred.flush()
        return yield* stages(batch, unseenIds, startedAt, true).pipe(
          Effect.withParentSpan(span),
          Effect.onExit((exit) => Effect.map(Clock.currentTimeNanos, (now) => span.end(now, exit)))
        )
      })

    /** `run()`: every source at once; `run(source)`: one poll of that source. */
    const run = (source?: FeedSource) => (source === undefined ? runAll() : runSource(source))

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
    AlertLinks.Default,
    CompanySizes.Default,
    InsiderTrades.Default,
    ChartRenderer.Default,
    LateDetails.Default,
    SqlLive
  ]
}) {
  static readonly Test = makeTestLayer(Cycle)
}
