import { NodeHttpClient } from "@effect/platform-node"
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, ConfigError, Effect, Exit, Fiber, Layer, Metric, MetricState, Option, TestClock } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AdminChannel, type AdminEvent } from "../src/Kernel/AdminChannel.js"
import { Breakers } from "../src/Kernel/Breakers.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { FeedReport } from "../src/Kernel/Domain.js"
import { FeedIngest } from "../src/Feeds/FeedIngest.js"
import { CikTickers } from "../src/Feeds/CikTickers.js"
import { FeedFetcher, feedFailures, overloadedBackoffMillis } from "../src/Feeds/FeedFetcher.js"
import { FeedStateRepo } from "../src/Feeds/FeedStateRepo.js"
import { type FeedSource, secCurrentFeedUrl } from "../src/Feeds/Sources.js"
import { SecClient } from "../src/Kernel/SecClient.js"
import * as FakeSec from "../src/World/FakeSec.js"
import * as FakeWire from "../src/World/FakeWire.js"
import { eventually } from "./support/Eventually.js"
import { tempDataConfig } from "./support/TestLayers.js"

const feedsFile = (feeds: ReadonlyArray<Omit<FeedSource, "enabled">>) => {
  const path = join(mkdtempSync(join(tmpdir(), "catalyst-feeds-")), "feeds.json")
  writeFileSync(path, JSON.stringify(feeds))
  return path
}

const ingestLayer = (values: Record<string, string | number>, notices: Array<AdminEvent> = []) =>
  FeedIngest.DefaultWithoutDependencies.pipe(
    Layer.provide(
      Layer.mergeAll(
        FeedFetcher.Default,
        FeedStateRepo.Default,
        CikTickers.Default,
        Breakers.DefaultWithoutDependencies
      )
    ),
    Layer.provideMerge(Layer.mergeAll(SecClient.Default, AppConfig.Default)),
    Layer.provide(
      Layer.succeed(
        AdminChannel,
        AdminChannel.make({ notify: (event: AdminEvent) => Effect.sync(() => void notices.push(event)) })
      )
    ),
    Layer.provide(NodeHttpClient.layerUndici),
    Layer.provide(
      tempDataConfig({
        FEED_TIMEOUT_SECONDS: 2,
        FEED_RETRIES: 0,
        FEED_RETRY_BASE_MS: 10,
        MAX_ARTICLE_AGE_MINUTES: 0,
        ...values
      })
    )
  )

const withIngest = <A, E>(
  values: Record<string, string | number>,
  body: (ingest: FeedIngest) => Effect.Effect<A, E>,
  notices?: Array<AdminEvent>
) => Effect.flatMap(FeedIngest, body).pipe(Effect.provide(ingestLayer(values, notices)))

/** What the cycle does with a batch: its validators are stored with the seen items. */
const fetchAndCommit = (ingest: FeedIngest) =>
  Effect.tap(ingest.fetchAll, (batch) => batch.commit?.(new Set()) ?? Effect.void)

const statusOf = (reports: ReadonlyArray<FeedReport>, name: string) => reports.find((r) => r.name === name)?.status

const now = Date.now()
const goodRss = FakeWire.globeNewswireRss(FakeWire.sampleWireItems(3, { now }))

describe("FeedIngest against a local wire", () => {
  it.live("sends the stored ETag and treats 304 as no work, once the cycle has committed the validators", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const wire = yield* FakeWire.make({
          gnw: { body: goodRss, etag: '"v1"', lastModified: "Fri, 12 Dec 2025 14:00:00 GMT" }
        })
        const file = feedsFile([{ name: "GNW", url: wire.feedUrl("gnw"), kind: "rss" }])
        const [uncommitted, first, second] = yield* withIngest({ FEEDS_FILE: file }, (ingest) =>
          Effect.all([ingest.fetchAll, fetchAndCommit(ingest), ingest.fetchAll])
        )
        // Until the cycle commits (a crash before it), the same items come again.
        expect(statusOf(uncommitted.reports, "GNW")).toEqual({ _tag: "Ok", items: 3, fresh: 3 })
        expect(statusOf(first.reports, "GNW")).toEqual({ _tag: "Ok", items: 3, fresh: 3 })
        expect(first.items[0]?.tickers[0]).toEqual({ symbol: "ZZAA", exchange: "NASDAQ" })
        expect(statusOf(second.reports, "GNW")).toEqual({ _tag: "NotModified" })
        expect(second.items).toHaveLength(0)
        const [, , conditional] = wire.requests()
        expect(conditional?.headers["if-none-match"]).toBe('"v1"')
        expect(conditional?.headers["if-modified-since"]).toBe("Fri, 12 Dec 2025 14:00:00 GMT")
        expect(conditional?.status).toBe(304)
      })
    )
  )

  it.live("a 429 or 503 without Retry-After is asked once a poll, never retried within it, and quiets the feed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const wire = yield* FakeWire.make({ limited: { body: "", status: 429 }, busy: { body: "", status: 503 } })
        const file = feedsFile([
          { name: "Limited", url: wire.feedUrl("limited"), kind: "rss" },
          { name: "Busy", url: wire.feedUrl("busy"), kind: "rss" }
        ])
        const before = Date.now()
        const batch = yield* withIngest(
          { FEEDS_FILE: file, FEED_RETRIES: 3, FEED_RETRY_BASE_MS: 1 },
          (ingest) => ingest.fetchAll
        )
        // FEED_RETRIES=3 would have asked each four times.
        expect(
          wire
            .requests()
            .map((request) => request.status)
            .sort()
        ).toEqual([429, 503])
        expect(statusOf(batch.reports, "Limited")?._tag).toBe("Failed")
        expect(batch.retryAt).toBeGreaterThanOrEqual(before + overloadedBackoffMillis)
      })
    )
  )

  it.live("skips an unchanged body from a server that ignores validators", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const wire = yield* FakeWire.make({ plain: { body: goodRss } })
        const file = feedsFile([{ name: "Plain", url: wire.feedUrl("plain"), kind: "rss" }])
        const reports = yield* withIngest({ FEEDS_FILE: file }, (ingest) =>
          Effect.all([fetchAndCommit(ingest), ingest.fetchAll]).pipe(
            Effect.map((batches) => batches.map((b) => b.reports))
          )
        )
        expect(reports.map((r) => statusOf(r, "Plain")?._tag)).toEqual(["Ok", "NotModified"])
        expect(wire.requests()).toHaveLength(2)
      })
    )
  )

  it.scoped("times out a slow feed without holding up the others", () =>
    Effect.gen(function* () {
      const wire = yield* FakeWire.make({ slow: { body: goodRss, hang: true }, fast: { body: goodRss } })
      const file = feedsFile([
        { name: "Slow", url: wire.feedUrl("slow"), kind: "rss" },
        { name: "Fast", url: wire.feedUrl("fast"), kind: "rss" }
      ])
      const fetching = yield* Effect.fork(
        withIngest({ FEEDS_FILE: file, FEED_TIMEOUT_SECONDS: 0.3 }, (ingest) => ingest.fetchAll)
      )
      // The clock hasn't moved, so the slow feed's deadline hasn't passed: the fast one, listed second, is
      // fetched alongside it, not after it.
      yield* eventually("both feeds requested", () => wire.received("slow") === 1 && wire.received("fast") === 1)
      yield* TestClock.adjust("299 millis")
      expect(Option.isNone(yield* Fiber.poll(fetching))).toBe(true)
      yield* TestClock.adjust("1 millis")
      const batch = yield* Fiber.join(fetching)
      expect(statusOf(batch.reports, "Slow")).toEqual({ _tag: "Failed", reason: "timed out after 300ms" })
      expect(statusOf(batch.reports, "Fast")?._tag).toBe("Ok")
    })
  )

  it.scoped("gives a body that stalls the same per-attempt deadline as the headers, and retries it", () =>
    Effect.gen(function* () {
      // Headers at once, then one byte every 20 ms. The test moves the clock 100 ms per byte received, so a
      // deadline that each byte pushed back would never pass: only one over the whole attempt ends it.
      const wire = yield* FakeWire.make({ stalling: { body: goodRss, dribbleMs: 20 } })
      const file = feedsFile([{ name: "Stalling", url: wire.feedUrl("stalling"), kind: "rss" }])
      const fetching = yield* Effect.fork(
        withIngest({ FEEDS_FILE: file, FEED_TIMEOUT_SECONDS: 0.5, FEED_RETRIES: 1 }, (ingest) => ingest.fetchAll)
      )
      yield* eventually("the first request", () => wire.received("stalling") === 1)
      const requestsAfterStep: Array<number> = []
      while (Option.isNone(yield* Fiber.poll(fetching)) && requestsAfterStep.length < 20) {
        const bytes = wire.bytesSent("stalling")
        yield* eventually(
          "another byte, or the client hanging up",
          () => wire.bytesSent("stalling") > bytes || wire.inFlight("stalling") === 0
        )
        yield* TestClock.adjust("100 millis")
        requestsAfterStep.push(wire.received("stalling"))
      }
      expect(Option.isSome(yield* Fiber.poll(fetching)), "the fetch ended within 2 s of the clock").toBe(true)
      const batch = yield* Fiber.join(fetching)
      expect(statusOf(batch.reports, "Stalling")).toEqual({ _tag: "Failed", reason: "timed out after 500ms" })
      // Still on the first attempt after 400 ms of trickling, then exactly one retry; the fetch ends only once
      // both attempts have had their 500 ms (and a 1 ms backoff), not at the first deadline nor never.
      expect(requestsAfterStep.slice(0, 4)).toEqual([1, 1, 1, 1])
      expect(wire.received("stalling")).toBe(2)
      expect(requestsAfterStep.length).toBeGreaterThanOrEqual(10)
      expect(requestsAfterStep.length).toBeLessThan(15)
    })
  )

  it.live("retries a 500 and then succeeds", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const wire = yield* FakeWire.make({ flaky: { body: goodRss, failTimes: 2 } })
        const file = feedsFile([{ name: "Flaky", url: wire.feedUrl("flaky"), kind: "rss" }])
        const batch = yield* withIngest({ FEEDS_FILE: file, FEED_RETRIES: 2 }, (ingest) => ingest.fetchAll)
        expect(statusOf(batch.reports, "Flaky")).toEqual({ _tag: "Ok", items: 3, fresh: 3 })
        expect(wire.requests().map((request) => request.status)).toEqual([500, 500, 200])
      })
    )
  )

  it.live("caps a huge body at FEED_MAX_BYTES", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const wire = yield* FakeWire.make({
          huge: { body: FakeWire.hugeRss(2_000_000) },
          chunked: { body: FakeWire.hugeRss(2_000_000), chunked: true },
          small: { body: goodRss },
          smallChunked: { body: goodRss, chunked: true }
        })
        const file = feedsFile([
          { name: "Huge", url: wire.feedUrl("huge"), kind: "rss" },
          { name: "Chunked", url: wire.feedUrl("chunked"), kind: "rss" },
          { name: "Small", url: wire.feedUrl("small"), kind: "rss" },
          { name: "Small chunked", url: wire.feedUrl("smallChunked"), kind: "rss" },
          { name: "Missing", url: wire.feedUrl("missing"), kind: "rss" }
        ])
        const batch = yield* withIngest({ FEEDS_FILE: file, FEED_MAX_BYTES: 65_536 }, (ingest) => ingest.fetchAll)
        expect(statusOf(batch.reports, "Huge")).toEqual({ _tag: "Failed", reason: "body exceeds FEED_MAX_BYTES=65536" })
        expect(statusOf(batch.reports, "Chunked")).toEqual({
          _tag: "Failed",
          reason: "body exceeds FEED_MAX_BYTES=65536"
        })
        expect(statusOf(batch.reports, "Small")).toEqual({ _tag: "Ok", items: 3, fresh: 3 })
        expect(statusOf(batch.reports, "Small chunked")).toEqual({ _tag: "Ok", items: 3, fresh: 3 })
        expect(statusOf(batch.reports, "Missing")).toEqual({ _tag: "Failed", reason: "HTTP 404" })
      })
    )
  )

  it.live("attributes a malformed feed's failure to it and still processes the good ones", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const wire = yield* FakeWire.make({
          html: { body: "<!DOCTYPE html><html><body><h1>503</h1></body></html>", contentType: "text/html" },
          pr: { body: FakeWire.prNewswireRss(FakeWire.sampleWireItems(2, { now, prefix: "PR" })) },
          gnw: { body: goodRss }
        })
        const file = feedsFile([
          { name: "Broken", url: wire.feedUrl("html"), kind: "rss" },
          { name: "PR", url: wire.feedUrl("pr"), kind: "rss" },
          { name: "GNW", url: wire.feedUrl("gnw"), kind: "rss" }
        ])
        const batch = yield* withIngest({ FEEDS_FILE: file }, (ingest) => ingest.fetchAll)
        expect(statusOf(batch.reports, "Broken")).toEqual({
          _tag: "Failed",
          reason: "not a feed: Unrecognized feed format"
        })
        expect(statusOf(batch.reports, "PR")?._tag).toBe("Ok")
        expect(statusOf(batch.reports, "GNW")?._tag).toBe("Ok")
        expect(batch.items).toHaveLength(5)
        const failures = yield* Metric.value(Metric.tagged(feedFailures, "feed", "Broken"))
        expect(MetricState.isCounterState(failures) && failures.count).toBeGreaterThanOrEqual(1)
      })
    )
  )

  it.live("drops stale items and counts them, keeping undated ones", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const items = [
          ...FakeWire.sampleWireItems(2, { now }),
          ...FakeWire.sampleWireItems(1, { now: now - 5 * 3_600_000, prefix: "OL" }),
          { ...FakeWire.sampleWireItems(1, { now, prefix: "ND" })[0]!, pubDate: null }
        ]
        const wire = yield* FakeWire.make({ gnw: { body: FakeWire.globeNewswireRss(items) } })
        const file = feedsFile([{ name: "GNW", url: wire.feedUrl("gnw"), kind: "rss" }])
        const batch = yield* withIngest({ FEEDS_FILE: file, MAX_ARTICLE_AGE_MINUTES: 60 }, (ingest) => ingest.fetchAll)
        expect(statusOf(batch.reports, "GNW")).toEqual({ _tag: "Ok", items: 4, fresh: 3 })
        expect(batch.stale.map((item) => item.tickers[0]?.symbol)).toEqual(["OLAA"])
        expect(batch.items.some((item) => item.published === null)).toBe(true)
      })
    )
  )

  it.scoped("opens a feed's breaker after repeated failures, tells the admin once, and reports the recovery", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const wire = yield* FakeWire.make({ down: { body: goodRss, status: 503 } })
        const file = feedsFile([{ name: "Down", url: wire.feedUrl("down"), kind: "rss" }])
        const notices: Array<AdminEvent> = []
        yield* withIngest(
          { FEEDS_FILE: file, FEED_BREAKER_THRESHOLD: 2, FEED_BREAKER_BACKOFF_SECONDS: 1 },
          (ingest) =>
            Effect.gen(function* () {
              yield* ingest.fetchAll
              yield* ingest.fetchAll
              const paused = yield* ingest.fetchAll
              expect(wire.requests()).toHaveLength(2)
              expect(statusOf(paused.reports, "Down")).toMatchObject({
                _tag: "Failed",
                reason: expect.stringMatching(/paused after repeated failures/)
              })
              wire.setFeed("down", { body: goodRss })
              // FEED_BREAKER_BACKOFF_SECONDS=1: no probe a moment before the second is up, one right at it.
              yield* TestClock.adjust("999 millis")
              const stillPaused = yield* ingest.fetchAll
              expect(statusOf(stillPaused.reports, "Down")?._tag).toBe("Failed")
              expect(wire.requests()).toHaveLength(2)
              yield* TestClock.adjust("1 millis")
              const recovered = yield* ingest.fetchAll
              expect(statusOf(recovered.reports, "Down")?._tag).toBe("Ok")
            }),
          notices
        )
        expect(notices.map((notice) => notice.title)).toEqual(["feed Down is failing", "feed Down recovered"])
      })
    )
  )

  it.live("rejects a FEEDS_FILE feed whose URL isn't http(s), naming FEEDS_FILE", () =>
    Effect.gen(function* () {
      const file = feedsFile([{ name: "Local", url: "file:///etc/passwd", kind: "rss" }])
      const exit = yield* Effect.exit(withIngest({ FEEDS_FILE: file }, () => Effect.void))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : null
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(String(error)).toMatch(/FEEDS_FILE.*feed "Local": url must be http\(s\)/)
    })
  )
})

const filings: ReadonlyArray<FakeSec.FakeFiling> = [
  {
    form: "8-K",
    accession: "0001193125-25-300001",
    updated: new Date(now).toISOString().replace("Z", "+00:00"),
    parties: [{ company: "ACME THERAPEUTICS, INC.", cik: 1800001, role: "Filer" }],
    items: ["Item 1.01: Entry into a Material Definitive Agreement"]
  },
  {
    form: "SC 13D",
    accession: "0001171843-25-007909",
    updated: new Date(now).toISOString().replace("Z", "+00:00"),
    parties: [
      { company: "BIG FUND PARTNERS LP", cik: 1900002, role: "Filed by" },
      { company: "SOCIÉTÉ GÉNÉRALE MINING", cik: 1700003, role: "Subject" }
    ]
  }
]
const secTickers: ReadonlyArray<FakeSec.FakeTicker> = [
  { cik: 1800001, ticker: "ACMT", title: "ACME THERAPEUTICS, INC." },
  { cik: 1800001, ticker: "ACMTW", title: "ACME THERAPEUTICS, INC." },
  { cik: 1700003, ticker: "SGMC", title: "SOCIETE GENERALE MINING" }
]

describe("FeedIngest against a local SEC", () => {
  it.live("sends the declared User-Agent on every request, maps CIKs to tickers and collapses parties", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const sec = yield* FakeSec.make({ filings, tickers: secTickers })
        const file = feedsFile([
          { name: "SEC 8-K", url: secCurrentFeedUrl(sec.url, "8-K"), kind: "sec-atom" },
          { name: "SEC SC 13D", url: secCurrentFeedUrl(sec.url, "SC 13D"), kind: "sec-atom" }
        ])
        const batch = yield* withIngest(
          {
            FEEDS_FILE: file,
            SEC_USER_AGENT: "Example Capital ops@example.com",
            SEC_TICKERS_URL: `${sec.url}/files/company_tickers.json`,
            MAX_SEC_FILING_AGE_MINUTES: 60
          },
          (ingest) => Effect.zipLeft(ingest.fetchAll, ingest.fetchAll)
        )
        expect(batch.items.map((item) => [item.sec?.companyName, item.tickers.map((t) => t.symbol)])).toEqual([
          ["ACME THERAPEUTICS, INC.", ["ACMT", "ACMTW"]],
          ["SOCIÉTÉ GÉNÉRALE MINING", ["SGMC"]]
        ])
        const requests = sec.requests()
        expect(requests.filter((r) => r.path === "/files/company_tickers.json")).toHaveLength(1)
        expect(requests.length).toBeGreaterThanOrEqual(5)
        expect(new Set(requests.map((r) => r.userAgent))).toEqual(new Set(["Example Capital ops@example.com"]))
      })
    )
  )

  it.live("without SEC_USER_AGENT, reports SEC feeds as disabled with the reason and never calls SEC", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const sec = yield* FakeSec.make({ filings, tickers: secTickers })
        const wire = yield* FakeWire.make({ gnw: { body: goodRss } })
        const file = feedsFile([
          { name: "SEC 8-K", url: secCurrentFeedUrl(sec.url, "8-K"), kind: "sec-atom" },
          { name: "GNW", url: wire.feedUrl("gnw"), kind: "rss" }
        ])
        const batch = yield* withIngest(
          { FEEDS_FILE: file, SEC_TICKERS_URL: `${sec.url}/files/company_tickers.json` },
          (ingest) => ingest.fetchAll
        )
        expect(statusOf(batch.reports, "SEC 8-K")).toEqual({
          _tag: "Disabled",
          reason: "SEC feeds are off until SEC_USER_AGENT is set"
        })
        expect(statusOf(batch.reports, "GNW")?._tag).toBe("Ok")
        expect(sec.requests()).toHaveLength(0)
      })
    )
  )

  it.effect("the shared SEC limiter never lets more than 10 requests into any one second, under 50 concurrent", () =>
    Effect.gen(function* () {
      const sent: Array<{ readonly at: number; readonly userAgent: string | undefined }> = []
      // Records when each request leaves, on the TestClock, without a network; only the limiter delays them.
      const recording = HttpClient.make((request) =>
        Effect.map(Clock.currentTimeMillis, (at) => {
          sent.push({ at, userAgent: request.headers["user-agent"] })
          return HttpClientResponse.fromWeb(request, new Response(null, { status: 200 }))
        })
      )
      yield* Effect.gen(function* () {
        const client = yield* (yield* SecClient).client
        const requests = yield* Effect.fork(
          Effect.forEach(
            Array.from({ length: 50 }, (_, i) => i),
            (i) => client.get(`http://127.0.0.1:9/Archives/edgar/data/${i}/index.htm`),
            { concurrency: "unbounded" }
          )
        )
        yield* TestClock.adjust("1 minute")
        yield* Fiber.join(requests)
      }).pipe(
        Effect.provide(SecClient.Default),
        Effect.provide(Layer.succeed(HttpClient.HttpClient, recording)),
        Effect.provide(tempDataConfig({ SEC_USER_AGENT: "Example Capital ops@example.com", SEC_RATE_LIMIT: 10 }))
      )
      const times = sent.map((request) => request.at).sort((a, b) => a - b)
      expect(times).toHaveLength(50)
      const busiestSecond = Math.max(
        ...times.map((start) => times.filter((t) => t >= start && t < start + 1_000).length)
      )
      expect(busiestSecond).toBeLessThanOrEqual(10)
      expect(busiestSecond).toBeGreaterThanOrEqual(8)
      expect(new Set(sent.map((request) => request.userAgent))).toEqual(new Set(["Example Capital ops@example.com"]))
    })
  )
})
