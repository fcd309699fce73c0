import { NodeHttpClient } from "@effect/platform-node"
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, Metric, MetricState, TestClock } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AdminChannel } from "../src/Kernel/AdminChannel.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { Breakers } from "../src/Kernel/Breakers.js"
import { HttpClientLive } from "../src/Kernel/HttpClientLive.js"
import { SecClient, secRequestWait } from "../src/Kernel/SecClient.js"
import { CikTickers } from "../src/Feeds/CikTickers.js"
import { FeedFetcher, overloadedBackoffMillis, serverHint } from "../src/Feeds/FeedFetcher.js"
import { FeedIngest } from "../src/Feeds/FeedIngest.js"
import { FeedStateRepo } from "../src/Feeds/FeedStateRepo.js"
import { feedGaps, getcurrentPaging } from "../src/Feeds/PageTurnover.js"
import { type FeedSource, loadSources, secCurrentFeedUrl, secFeedName } from "../src/Feeds/Sources.js"
import * as FakeSec from "../src/World/FakeSec.js"
import * as FakeWire from "../src/World/FakeWire.js"
import { eventually } from "./support/Eventually.js"
import { tempDataConfig } from "./support/TestLayers.js"

const userAgent = "Example Capital ops@example.com"

const writeFeeds = (feeds: unknown) => {
  const path = join(mkdtempSync(join(tmpdir(), "catalyst-feeds-")), "feeds.json")
  writeFileSync(path, JSON.stringify(feeds))
  return path
}

const ingestLayer = (values: Record<string, string | number>) =>
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
    Layer.provide(Layer.succeed(AdminChannel, AdminChannel.make({ notify: () => Effect.void }))),
    Layer.provide(NodeHttpClient.layerUndici),
    Layer.provide(
      tempDataConfig({
        FEED_TIMEOUT_SECONDS: 5,
        FEED_RETRIES: 0,
        FEED_RETRY_BASE_MS: 10,
        MAX_SEC_FILING_AGE_MINUTES: 0,
        SEC_USER_AGENT: userAgent,
        ...values
      })
    )
  )

const fetcherLayer = (
  values: Record<string, string | number> = {},
  http: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndici
) =>
  FeedFetcher.Default.pipe(
    Layer.provide(http),
    Layer.provide(
      tempDataConfig({
        FEED_TIMEOUT_SECONDS: 5,
        FEED_RETRIES: 0,
        FEED_RETRY_BASE_MS: 10,
        SEC_USER_AGENT: userAgent,
        ...values
      })
    )
  )

/** Commits each poll's validators, as the cycle does once the items are stored. */
const poll = (ingest: FeedIngest) => Effect.tap(ingest.fetchAll, (batch) => batch.commit?.(new Set()) ?? Effect.void)

const filing = (form: string, index: number, updated = new Date().toISOString()): FakeSec.FakeFiling => ({
  form,
  accession: `0001800001-25-${String(index).padStart(6, "0")}`,
  updated,
  parties: [{ company: `FILER ${index} INC`, cik: 1800001 + index, role: "Filer" }]
})

const getcurrentRequests = (sec: { readonly requests: () => ReadonlyArray<FakeSec.SecRequest> }) =>
  sec.requests().filter((request) => request.path.startsWith("/cgi-bin/browse-edgar"))

const gapCount = (source: string) =>
  Effect.map(Metric.value(Metric.tagged(feedGaps, "source", source)), (state) =>
    MetricState.isCounterState(state) ? Number(state.count) : 0
  )

const busiestSecond = (times: ReadonlyArray<number>) =>
  Math.max(...times.map((start) => times.filter((t) => t >= start && t < start + 1_000).length))

describe("the SEC feed list", () => {
  it.effect("defaults to one SEC feed of every form, 100 entries a page", () =>
    Effect.gen(function* () {
      const sources = yield* loadSources({ feedsFile: undefined, secBaseUrl: "https://www.sec.gov" })
      const sec = sources.filter((source) => source.kind === "sec-atom")
      expect(sec.map((source) => source.name)).toEqual([secFeedName])
      const url = new URL(sec[0]!.url)
      expect(url.searchParams.get("type")).toBe("")
      expect(url.searchParams.get("count")).toBe("100")
      expect(url.searchParams.get("output")).toBe("atom")
    })
  )

  it.effect("still loads a FEEDS_FILE that names the old per-form feeds, in either mode", () =>
    Effect.gen(function* () {
      const legacy = [
        { name: "SEC 8-K", url: secCurrentFeedUrl("https://www.sec.gov", "8-K"), kind: "sec-atom" },
        {
          name: "SEC SC 13D",
          url: secCurrentFeedUrl("https://www.sec.gov", "SC 13D"),
          kind: "sec-atom",
          enabled: false
        }
      ]
      const replaced = yield* loadSources({ feedsFile: writeFeeds(legacy), secBaseUrl: "https://www.sec.gov" })
      expect(replaced.map((source) => source.name)).toEqual(["SEC 8-K", "SEC SC 13D"])
      const extended = yield* loadSources({
        feedsFile: writeFeeds({ mode: "extend", feeds: legacy }),
        secBaseUrl: "https://www.sec.gov"
      })
      expect(extended.filter((source) => source.kind === "sec-atom").map((source) => source.name)).toEqual([
        secFeedName,
        "SEC 8-K",
        "SEC SC 13D"
      ])
    })
  )
})

describe("polling SEC's live feed", () => {
  it.live("asks once per poll and keeps only the catalyst forms, SCHEDULE 13D/A and Form 4 (not 40-F) included", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const sec = yield* FakeSec.make({
          filings: [filing("4", 1), filing("SCHEDULE 13D/A", 2), filing("10-Q", 3), filing("8-K", 4), filing("40-F", 5)]
        })
        const feedsFile = writeFeeds([{ name: secFeedName, url: secCurrentFeedUrl(sec.url), kind: "sec-atom" }])
        const [first, second] = yield* Effect.flatMap(FeedIngest, (ingest) =>
          Effect.all([poll(ingest), poll(ingest)])
        ).pipe(
          Effect.provide(
            ingestLayer({ FEEDS_FILE: feedsFile, SEC_TICKERS_URL: `${sec.url}/files/company_tickers.json` })
          )
        )
        // Which forms, not their order: filings made in the same millisecond or not come in either order.
        expect(first.items.map((item) => item.sec?.formType).sort()).toEqual(["4", "8-K", "SCHEDULE 13D/A"])
        expect(first.reports).toEqual([
          expect.objectContaining({ name: secFeedName, status: { _tag: "Ok", items: 3, fresh: 3 } })
        ])
        expect(second.reports[0]?.status._tag).toBe("NotModified")
        expect(getcurrentRequests(sec)).toHaveLength(2)
        expect(new URL(getcurrentRequests(sec)[0]!.path, sec.url).searchParams.get("type")).toBe("")
      })
    )
  )

  it.live("counts a full page of unseen filings as a gap and reads the next page until it reaches the last one", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const old = Array.from({ length: 150 }, (_, i) => filing("8-K", 1_000 + i))
        const sec = yield* FakeSec.make({ filings: old })
        const feedsFile = writeFeeds([{ name: secFeedName, url: secCurrentFeedUrl(sec.url), kind: "sec-atom" }])
        const gapsBefore = yield* gapCount(secFeedName)
        yield* Effect.flatMap(FeedIngest, (ingest) =>
          Effect.gen(function* () {
            const first = yield* poll(ingest)
            expect(first.items).toHaveLength(100)
            expect(yield* gapCount(secFeedName)).toBe(gapsBefore)

            // 120 filings land between two polls: the first page is all new, the second reaches back.
            const burst = Array.from({ length: 120 }, (_, i) => filing("8-K", 2_000 + i))
            sec.setFilings([...burst, ...old])
            sec.clearRecords()
            const second = yield* poll(ingest)
            expect(yield* gapCount(secFeedName)).toBe(gapsBefore + 1)
            const starts = getcurrentRequests(sec).map((r) => new URL(r.path, sec.url).searchParams.get("start"))
            expect(starts).toEqual(["0", "100"])
            const accessions = new Set(second.items.map((item) => item.sec?.accession))
            expect(burst.every((filing) => accessions.has(filing.accession))).toBe(true)

            // A few new filings: the page overlaps the last one, no gap and no second page.
            sec.setFilings([filing("8-K", 3_000), filing("8-K", 3_001), ...burst, ...old])
            sec.clearRecords()
            const third = yield* poll(ingest)
            expect(third.items.slice(0, 2).map((item) => item.sec?.accession)).toEqual([
              filing("8-K", 3_000).accession,
              filing("8-K", 3_001).accession
            ])
            expect(getcurrentRequests(sec)).toHaveLength(1)
            expect(yield* gapCount(secFeedName)).toBe(gapsBefore + 1)
          })
        ).pipe(
          Effect.provide(
            ingestLayer({ FEEDS_FILE: feedsFile, SEC_TICKERS_URL: `${sec.url}/files/company_tickers.json` })
          )
        )
      })
    )
  )

  it.live("counts a wire's gap too, against the longest page it has served, without paging", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const now = Date.now()
        const wire = yield* FakeWire.make({
          gnw: { body: FakeWire.globeNewswireRss(FakeWire.sampleWireItems(5, { now })) }
        })
        const feedsFile = writeFeeds([{ name: "GNW gaps", url: wire.feedUrl("gnw"), kind: "rss" }])
        yield* Effect.flatMap(FeedIngest, (ingest) =>
          Effect.gen(function* () {
            yield* poll(ingest)
            wire.setFeed("gnw", { body: FakeWire.globeNewswireRss(FakeWire.sampleWireItems(5, { now, prefix: "NW" })) })
            yield* poll(ingest)
          })
        ).pipe(Effect.provide(ingestLayer({ FEEDS_FILE: feedsFile, MAX_ARTICLE_AGE_MINUTES: 0 })))
        expect(yield* gapCount("GNW gaps")).toBe(1)
        expect(wire.received("gnw")).toBe(2)
      })
    )
  )

  it("pages getcurrent by start= and count=, and nothing else", () => {
    const paging = getcurrentPaging(secCurrentFeedUrl("https://www.sec.gov"))
    expect(paging?.count).toBe(100)
    expect(new URL(paging!.pageUrl(2)).searchParams.get("start")).toBe("200")
    expect(getcurrentPaging("https://www.prnewswire.com/rss/news-releases-list.rss")).toBeNull()
  })
})

describe("one SEC budget, live feed first", () => {
  it.effect(
    "hands a waiting live-feed request the next slot, ahead of queued background ones, 10 a second at most",
    () =>
      Effect.gen(function* () {
        const laneWaits = Effect.forEach(["priority", "background"], (lane) =>
          Metric.value(Metric.tagged(secRequestWait, "lane", lane))
        )
        const waitsBefore = yield* laneWaits
        const sent: Array<{ readonly at: number; readonly path: string; readonly userAgent: string | undefined }> = []
        const recording = HttpClient.make((request) =>
          Effect.map(Clock.currentTimeMillis, (at) => {
            sent.push({ at, path: new URL(request.url).pathname, userAgent: request.headers["user-agent"] })
            return HttpClientResponse.fromWeb(request, new Response(null, { status: 200 }))
          })
        )
        yield* Effect.gen(function* () {
          const sec = yield* SecClient
          const background = yield* sec.client
          const live = yield* sec.priorityClient
          const flood = yield* Effect.fork(
            Effect.forEach(
              Array.from({ length: 30 }, (_, i) => i),
              (i) => background.get(`http://127.0.0.1:9/submissions/CIK${i}.json`),
              { concurrency: "unbounded" }
            )
          )
          yield* TestClock.adjust("500 millis")
          const feed = yield* Effect.fork(
            Effect.forEach([1, 2, 3], () => live.get("http://127.0.0.1:9/cgi-bin/browse-edgar"), {
              concurrency: "unbounded"
            })
          )
          yield* TestClock.adjust("1 minute")
          yield* Fiber.join(flood)
          yield* Fiber.join(feed)
        }).pipe(
          Effect.provide(SecClient.Default),
          Effect.provide(Layer.succeed(HttpClient.HttpClient, recording)),
          Effect.provide(tempDataConfig({ SEC_USER_AGENT: userAgent, SEC_RATE_LIMIT: 10 }))
        )
        expect(sent).toHaveLength(33)
        const order = sent.map((request) => (request.path.startsWith("/cgi-bin") ? "live" : "bg"))
        // Five background requests had their slots in the first 500 ms; the live ones take the next three.
        expect(order.indexOf("live")).toBeLessThanOrEqual(6)
        expect(order.lastIndexOf("live")).toBe(order.indexOf("live") + 2)
        expect(busiestSecond(sent.map((request) => request.at))).toBeLessThanOrEqual(10)
        expect(new Set(sent.map((request) => request.userAgent))).toEqual(new Set([userAgent]))
        const waits = yield* laneWaits
        expect(waits.map((state, lane) => state.count - waitsBefore[lane]!.count)).toEqual([3, 30])
        expect(waits[0]!.max).toBeLessThan(0.5)
        expect(waits[1]!.max).toBeGreaterThan(3)
      })
  )

  it.live("against a local SEC: the live feed isn't queued behind a flood of background requests", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const sec = yield* FakeSec.make({ filings: [filing("8-K", 1)] })
        const backgroundArrived = () => sec.requests().filter((r) => r.path.startsWith("/submissions/")).length
        const seenByLive = yield* Effect.gen(function* () {
          const client = yield* SecClient
          const background = yield* client.client
          const live = yield* client.priorityClient
          const flood = yield* Effect.fork(
            Effect.forEach(
              Array.from({ length: 40 }, (_, i) => i),
              (i) =>
                Effect.scoped(
                  background.get(`${sec.url}/submissions/CIK${String(1800001 + i).padStart(10, "0")}.json`)
                ),
              { concurrency: "unbounded" }
            )
          )
          yield* eventually("the flood under way", () => backgroundArrived() >= 2)
          // Each live poll, in turn, once the one before has its answer.
          const seen = yield* Effect.forEach([1, 2, 3], () =>
            Effect.scoped(live.get(secCurrentFeedUrl(sec.url))).pipe(Effect.map(backgroundArrived))
          )
          yield* Fiber.join(flood)
          return seen
        }).pipe(
          Effect.provide(SecClient.Default),
          Effect.provide(NodeHttpClient.layerUndici),
          Effect.provide(tempDataConfig({ SEC_USER_AGENT: userAgent, SEC_RATE_LIMIT: 10 }))
        )
        // First come, first served, the live polls would have waited for all 40.
        expect(seenByLive[2]).toBeLessThan(20)
        const requests = sec.requests()
        expect(requests).toHaveLength(43)
        expect(busiestSecond(requests.map((request) => request.at))).toBeLessThanOrEqual(10)
        expect(new Set(requests.map((request) => request.userAgent))).toEqual(new Set([userAgent]))
      })
    )
  )
})

/** A local server answering each request with the next scripted status and headers, counting connections. */
const scripted = (
  answers: ReadonlyArray<{ readonly status: number; readonly headers?: Record<string, string> }>,
  options: { readonly keepAliveTimeout?: number } = {}
) =>
  Effect.acquireRelease(
    Effect.async<{
      readonly url: string
      readonly requests: () => number
      readonly connections: () => number
      readonly close: () => Promise<void>
    }>((resume) => {
      let requests = 0
      let connections = 0
      const body = FakeWire.globeNewswireRss(FakeWire.sampleWireItems(2, { now: Date.now() }))
      const server = createServer((_request: IncomingMessage, response: ServerResponse) => {
        const answer = answers[Math.min(requests, answers.length - 1)]!
        requests += 1
        response.writeHead(answer.status, { "Content-Type": "application/rss+xml", ...answer.headers })
        response.end(answer.status === 200 ? body : "")
      })
      server.on("connection", () => {
        connections += 1
      })
      // 0: no idle limit and no `Keep-Alive: timeout=` header, as many CDNs answer.
      if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout
      server.listen(0, "127.0.0.1", () =>
        resume(
          Effect.succeed({
            url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed.rss`,
            requests: () => requests,
            connections: () => connections,
            close: () =>
              new Promise<void>((done) => {
                server.closeAllConnections()
                server.close(() => done())
              })
          })
        )
      )
    }),
    (server) => Effect.promise(server.close)
  )

const wireSource = (url: string): FeedSource => ({ name: "Hinted", url, kind: "rss", enabled: true })

describe("server hints", () => {
  const now = Date.parse("2026-12-01T15:00:00Z")

  it("reads Retry-After as seconds or an HTTP date, max-age less Age, and a bare 429/503 as a pause", () => {
    expect(serverHint(429, { "retry-after": "120" }, now)).toBe(now + 120_000)
    expect(serverHint(503, { "retry-after": "Tue, 01 Dec 2026 15:05:00 GMT" }, now)).toBe(now + 300_000)
    expect(serverHint(503, {}, now)).toBe(now + overloadedBackoffMillis)
    expect(serverHint(200, { "cache-control": "public, max-age=30" }, now)).toBe(now + 30_000)
    expect(serverHint(304, { "cache-control": "max-age=30", age: "10" }, now)).toBe(now + 20_000)
    expect(serverHint(200, { "cache-control": "max-age=0" }, now)).toBeUndefined()
    expect(serverHint(200, { "cache-control": "no-cache" }, now)).toBeUndefined()
    expect(serverHint(200, {}, now)).toBeUndefined()
    expect(serverHint(429, { "retry-after": "999999" }, now)).toBe(now + 3_600_000)
    expect(serverHint(500, { "cache-control": "max-age=60" }, now)).toBeUndefined()
  })

  it.live("a 200 or 304 with max-age comes back with retryAt", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* scripted([
          { status: 200, headers: { "Cache-Control": "max-age=30", ETag: '"v1"' } },
          { status: 304, headers: { "Cache-Control": "max-age=60" } }
        ])
        const started = Date.now()
        const [fetched, notModified] = yield* Effect.flatMap(FeedFetcher, (fetcher) =>
          Effect.all([
            fetcher.fetch(wireSource(server.url), null),
            fetcher.fetch(wireSource(server.url), { etag: '"v1"', lastModified: null, bodyHash: null })
          ])
        ).pipe(Effect.provide(fetcherLayer()))
        expect(fetched._tag).toBe("Fetched")
        expect(fetched.retryAt! - started).toBeGreaterThanOrEqual(30_000)
        expect(fetched.retryAt! - Date.now()).toBeLessThanOrEqual(30_000)
        expect(notModified).toMatchObject({ _tag: "NotModified", why: "304" })
        expect(notModified.retryAt! - started).toBeGreaterThanOrEqual(60_000)
      })
    )
  )

  it.live(
    "a 429 with Retry-After fails at once with retryAt; a 503 without it is not retried within the poll, and pauses",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const limited = yield* scripted([{ status: 429, headers: { "Retry-After": "120" } }])
          const overloaded = yield* scripted([{ status: 503 }])
          const started = Date.now()
          const [tooMany, unavailable] = yield* Effect.flatMap(FeedFetcher, (fetcher) =>
            Effect.all([
              Effect.flip(fetcher.fetch(wireSource(limited.url), null)),
              Effect.flip(fetcher.fetch(wireSource(overloaded.url), null))
            ])
          ).pipe(Effect.provide(fetcherLayer({ FEED_RETRIES: 2 })))
          expect(tooMany.reason).toBe("HTTP 429")
          expect(tooMany.retryAt! - started).toBeGreaterThanOrEqual(120_000)
          expect(limited.requests()).toBe(1)
          expect(unavailable.reason).toBe("HTTP 503")
          expect(unavailable.retryAt! - started).toBeGreaterThanOrEqual(overloadedBackoffMillis)
          expect(overloaded.requests()).toBe(1)
        })
      )
  )
})

describe("keep-alive", () => {
  it.live("several polls of a wire share one connection", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* scripted([{ status: 200 }])
        // Polls a moment apart, as a poller makes them: back to back, undici may open a second connection
        // before the first is back in its pool.
        yield* Effect.flatMap(FeedFetcher, (fetcher) =>
          Effect.forEach(
            [1, 2, 3, 4, 5],
            () => Effect.zipLeft(fetcher.fetch(wireSource(server.url), null), Effect.sleep("50 millis")),
            {
              discard: true
            }
          )
        ).pipe(Effect.provide(fetcherLayer()))
        expect(server.requests()).toBe(5)
        expect(server.connections()).toBe(1)
      })
    )
  )

  it.live("the bot's client keeps a connection past undici's default 4 s idle limit, when the server sets none", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* scripted([{ status: 200 }], { keepAliveTimeout: 0 })
        yield* Effect.flatMap(FeedFetcher, (fetcher) =>
          Effect.gen(function* () {
            yield* fetcher.fetch(wireSource(server.url), null)
            yield* Effect.sleep("4500 millis")
            yield* fetcher.fetch(wireSource(server.url), null)
          })
        ).pipe(Effect.provide(fetcherLayer({}, HttpClientLive)))
        expect(server.requests()).toBe(2)
        expect(server.connections()).toBe(1)
      })
    )
  )

  it.live("several polls of SEC's live feed share one connection", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const sec = yield* FakeSec.make({ filings: [filing("8-K", 1)] })
        const source: FeedSource = {
          name: secFeedName,
          url: secCurrentFeedUrl(sec.url),
          kind: "sec-atom",
          enabled: true
        }
        yield* Effect.flatMap(FeedFetcher, (fetcher) =>
          Effect.forEach([1, 2, 3, 4], () => Effect.zipLeft(fetcher.fetch(source, null), Effect.sleep("50 millis")), {
            discard: true
          })
        ).pipe(Effect.provide(fetcherLayer({}, HttpClientLive)))
        expect(getcurrentRequests(sec)).toHaveLength(4)
        expect(sec.connections()).toBe(1)
      })
    )
  )
})
