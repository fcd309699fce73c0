import { Clock, DateTime, Duration, Effect, Either, Metric, Option } from "effect"
import { Breakers, type CircuitBreaker } from "../Kernel/Breakers.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { FeedReport, FeedStatus, NormalizedItem, Ticker } from "../Kernel/Domain.js"
import { CikTickers } from "./CikTickers.js"
import { FeedFetcher, FeedFetchError, feedFailures, needsSecClient } from "./FeedFetcher.js"
import { FeedStateRepo, type Validators } from "./FeedStateRepo.js"
import { partitionFresh } from "./Freshness.js"
import { normalizeFeed } from "./Normalize.js"
import { makePageTurnover } from "./PageTurnover.js"
import { parseDocument } from "./Parser.js"
import { type FeedSource, loadSources } from "./Sources.js"
import { SecClient } from "../Kernel/SecClient.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

export interface FeedBatch {
  readonly reports: ReadonlyArray<FeedReport>
  /** Fresh items, ready for dedupe. */
  readonly items: ReadonlyArray<NormalizedItem>
  /** Items dropped for being older than the age limits. */
  readonly stale: ReadonlyArray<NormalizedItem>
  /**
   * Stores the feeds' validators (ETag, Last-Modified, body hash), except for the feeds named in
   * `refetch`. The cycle runs it in the transaction that marks the items seen: after a crash before
   * that, or for items it held back, the next fetch must bring the same items again, not a 304.
   */
  readonly commit?: (refetch: ReadonlySet<string>) => Effect.Effect<void>
  /** Epoch ms before which the source asked not to be polled again (Retry-After, Cache-Control max-age). */
  readonly retryAt?: number
}

interface FeedResult {
  readonly source: FeedSource
  /** Null when the feed was not modified. */
  readonly items: ReadonlyArray<NormalizedItem> | null
  readonly failure: string | null
  readonly disabled: string | null
  /** Stores this feed's validators; see FeedBatch.commit. */
  readonly commit: Effect.Effect<void>
  /** The server's "don't poll before" (epoch ms; FetchOutcome.retryAt), if it gave one. */
  readonly retryAt: number | undefined
}

const secUserAgentMissing = "SEC feeds are off until SEC_USER_AGENT is set"

/**
 * Turns the configured wires and SEC feeds into normalised items, one source per `poll` (each
 * source's own poller) or all at once (`fetchAll`, FEED_CONCURRENCY). Each feed is behind its own
 * circuit breaker; a failure is attributed to its feed and never fails the caller.
 */
export class FeedIngest extends Effect.Service<FeedIngest>()("Feeds/FeedIngest", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    const settings = config.feeds
    const fetcher = yield* FeedFetcher
    const feedState = yield* FeedStateRepo
    const cikTickers = yield* CikTickers
    const breakers = yield* Breakers
    const { userAgent } = yield* SecClient

    const sources: ReadonlyArray<FeedSource> = (yield* loadSources({
      feedsFile: Option.getOrUndefined(settings.feedsFile),
      secBaseUrl: settings.secBaseUrl
    })).filter((source) => source.enabled)
    const secDisabled = Option.isNone(userAgent) && sources.some(needsSecClient)
    if (secDisabled) {
      yield* Effect.logWarning(
        `${secUserAgentMissing} ("Company contact@example.com", SEC fair-access policy); the wire feeds run as usual`
      )
    }

    const feeds = yield* Effect.forEach(sources, (source) =>
      Effect.map(
        breakers.make({
          name: `feed ${source.name}`,
          failureThreshold: settings.breakerThreshold,
          backoff: Duration.seconds(settings.breakerBackoffSeconds),
          maxBackoff: Duration.seconds(settings.breakerMaxBackoffSeconds)
        }),
        (breaker) => ({ source, breaker })
      )
    )

    const followPages = makePageTurnover()

    const ingestFeed = Effect.fn("FeedIngest.feed")(function* (
      source: FeedSource,
      breaker: CircuitBreaker,
      validators: Validators | null,
      tickerLookup: Effect.Effect<(cik: string) => ReadonlyArray<Ticker>>
    ) {
      yield* Effect.annotateCurrentSpan({ "feed.name": source.name, "feed.url": source.url })
      const parse = (text: string) =>
        Either.mapLeft(
          parseDocument(text, source.kind === "rss" ? "auto" : source.kind),
          (error) => new FeedFetchError({ reason: error.message })
        )
      /** A further page (SEC's `start=`): fetched without validators, and never stored as the feed's. */
      const fetchPage = (url: string) =>
        Effect.flatMap(fetcher.fetch({ ...source, url }, null), (page) =>
          page._tag === "Fetched"
            ? parse(page.text)
            : Effect.succeed({ format: "atom" as const, base: null, entries: [] })
        )
      let retryAt: number | undefined
      const attempt = Effect.gen(function* () {
        const outcome = yield* fetcher.fetch(source, validators)
        retryAt = outcome.retryAt
        yield* Effect.annotateCurrentSpan({ "http.status": outcome.status })
        if (outcome._tag === "NotModified") {
          return Option.none<{ readonly items: ReadonlyArray<NormalizedItem>; readonly commit: Effect.Effect<void> }>()
        }
        yield* Effect.annotateCurrentSpan({ "feed.bytes": outcome.bytes })
        const parsed = yield* followPages(source, yield* parse(outcome.text), fetchPage)
        const tickersForCik = yield* tickerLookup
        const fetchedAt = DateTime.formatIso(DateTime.unsafeMake(yield* Clock.currentTimeMillis))
        const items = normalizeFeed(parsed, {
          source,
          fetchedAt,
          allowOtc: config.filters.allowOtcTickers,
          dollarTickers: settings.dollarTickers,
          tickersForCik
        })
        return Option.some({ items, commit: outcome.commit })
      })
      const result = yield* breaker.protect(attempt).pipe(
        Effect.map((fetched) => ({
          items: Option.map(fetched, ({ items }) => items),
          commit: Option.match(fetched, { onNone: () => Effect.void, onSome: ({ commit }) => commit })
        })),
        Effect.catchAll((error) => {
          if (error._tag === "FeedFetchError") retryAt = error.retryAt
          return Effect.succeed({ error: error.message })
        })
      )
      if ("error" in result) {
        yield* Metric.increment(Metric.tagged(feedFailures, "feed", source.name))
        yield* Effect.annotateCurrentSpan({ "feed.error": result.error })
        yield* Effect.logWarning(`feed ${source.name} failed: ${result.error}`)
        return { source, items: [], failure: result.error, commit: Effect.void, retryAt }
      }
      yield* Effect.annotateCurrentSpan({ "feed.items": Option.getOrElse(result.items, () => []).length })
      return { source, items: Option.getOrNull(result.items), failure: null, commit: result.commit, retryAt }
    })

    // One refresh of the CIK map at a time: SEC pollers starting together must not each download it.
    const tickerLookup = (yield* Effect.makeSemaphore(1)).withPermits(1)(cikTickers.lookup)
    const byName = new Map(feeds.map((feed) => [feed.source.name, feed]))
    const needsSec = (source: FeedSource) => needsSecClient(source) && !secDisabled

    /** Why a source is never polled, or null: SEC feeds without SEC_USER_AGENT. */
    const disabledReason = (source: FeedSource): string | null =>
      needsSecClient(source) && secDisabled ? secUserAgentMissing : null

    const fetchOne = (source: FeedSource): Effect.Effect<FeedResult> => {
      const feed = byName.get(source.name)
      if (feed === undefined) return Effect.die(new Error(`unknown feed ${source.name}`))
      const disabled = disabledReason(source)
      if (disabled !== null) {
        return Effect.succeed({ source, items: [], failure: null, disabled, commit: Effect.void, retryAt: undefined })
      }
      return Effect.gen(function* () {
        // Asked only when the feed brought a new body: most polls are a 304 or the same body.
        const tickersForCik = needsSec(source) ? tickerLookup : Effect.succeed(() => [])
        const stored = yield* feedState.getMany([source.url])
        const result = yield* ingestFeed(source, feed.breaker, stored.get(source.url) ?? null, tickersForCik)
        return { ...result, disabled: null }
      })
    }

    const toBatch = (results: ReadonlyArray<FeedResult>) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const reports: Array<FeedReport> = []
        const fresh: Array<NormalizedItem> = []
        const stale: Array<NormalizedItem> = []
        for (const { source, items, failure, disabled } of results) {
          let status: FeedStatus
          if (disabled !== null) {
            status = { _tag: "Disabled", reason: disabled }
          } else if (failure !== null) {
            status = { _tag: "Failed", reason: failure }
          } else if (items === null) {
            status = { _tag: "NotModified" }
          } else {
            const split = partitionFresh(items, {
              now,
              maxAgeMinutes:
                source.kind === "sec-atom" ? config.filters.maxSecFilingAgeMinutes : config.filters.maxArticleAgeMinutes
            })
            fresh.push(...split.fresh)
            stale.push(...split.stale)
            status = { _tag: "Ok", items: items.length, fresh: split.fresh.length }
          }
          reports.push({ name: source.name, url: source.url, status })
        }
        const hints = results.flatMap((result) => (result.retryAt === undefined ? [] : [result.retryAt]))
        const batch: FeedBatch = {
          reports,
          items: fresh,
          stale,
          commit: (refetch) =>
            Effect.forEach(
              results.filter((result) => !refetch.has(result.source.name)),
              (result) => result.commit,
              { discard: true }
            ),
          ...(hints.length === 0 ? {} : { retryAt: Math.max(...hints) })
        }
        return batch
      })

    /** One poll of one source, for its own poller: a one-feed batch with its report, commit and server hint. */
    const poll = (source: FeedSource): Effect.Effect<FeedBatch> =>
      Effect.flatMap(fetchOne(source), (result) => toBatch([result])).pipe(
        Effect.withSpan("FeedIngest.poll", { attributes: { source: source.name } }),
        Effect.annotateLogs("module", "Feeds")
      )

    /** Every source at once (FEED_CONCURRENCY), as one batch: `once` and the stepped world tests. */
    const fetchAll = Effect.forEach(feeds, ({ source }) => fetchOne(source), {
      concurrency: settings.concurrency
    }).pipe(
      Effect.flatMap(toBatch),
      Effect.tap((batch) =>
        Effect.annotateCurrentSpan({
          feeds: batch.reports.length,
          fresh: batch.items.length,
          stale: batch.stale.length
        })
      ),
      Effect.withSpan("FeedIngest.fetchAll"),
      Effect.annotateLogs("module", "Feeds")
    )

    return { fetchAll, poll, sources, disabledReason } as const
  }),
  dependencies: [
    AppConfig.Default,
    FeedFetcher.Default,
    FeedStateRepo.Default,
    CikTickers.Default,
    Breakers.Default,
    SecClient.Default
  ]
}) {
  static readonly Test = makeTestLayer(FeedIngest)
}
