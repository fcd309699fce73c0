import { NodeHttpClient } from "@effect/platform-node"
import { ConfigProvider, Effect, Either, Layer } from "effect"
import { parseFeed } from "feedsmith"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { FeedIngest } from "../src/Feeds/FeedIngest.js"
import { normalizeFeed } from "../src/Feeds/Normalize.js"
import { parseDocument } from "../src/Feeds/Parser.js"
import * as FakeWire from "../src/World/FakeWire.js"
import {
  alternating,
  type BenchReport,
  type CheckedFigure,
  helperProcess,
  isMain,
  percentile,
  publish,
  threadSchedule,
  unloadedNow
} from "./lib.js"
import { judge, targets } from "./targets.js"

const feedCount = 50
const latencyMs = 200
const warmUpRounds = 5
const measuredRounds = 7

/** One fetchAll over `urls` with the given concurrency, on a fresh database (no validators yet). */
const timeFetchAll = (urls: ReadonlyArray<string>, concurrency: number, clock = () => performance.now()) =>
  Effect.gen(function* () {
    const dir = mkdtempSync(join(tmpdir(), "catalyst-bench-feeds-"))
    const feedsFile = join(dir, "feeds.json")
    writeFileSync(feedsFile, JSON.stringify(urls.map((url, i) => ({ name: `wire-${i}`, url, kind: "rss" }))))
    const config = ConfigProvider.fromMap(
      new Map([
        ["DATA_DIR", dir],
        ["FEEDS_FILE", feedsFile],
        ["FEED_CONCURRENCY", String(concurrency)],
        // Every bench feed sits on one local host; real defaults spread over five hosts.
        ["FEED_PER_HOST_CONCURRENCY", String(urls.length)],
        ["MAX_ARTICLE_AGE_MINUTES", "0"]
      ])
    )
    const result = yield* Effect.gen(function* () {
      const ingest = yield* FeedIngest
      const started = clock()
      const batch = yield* ingest.fetchAll
      const elapsed = clock() - started
      const failed = batch.reports.filter((report) => report.status._tag !== "Ok")
      if (failed.length > 0) throw new Error(`bench feeds failed: ${JSON.stringify(failed[0])}`)
      return { elapsed, items: batch.items.length }
    }).pipe(
      Effect.provide(FeedIngest.Default.pipe(Layer.provide(NodeHttpClient.layerUndici))),
      Effect.withConfigProvider(config)
    )
    rmSync(dir, { recursive: true, force: true })
    return result
  })

/** Items/s of parse + normalise and of feedsmith's parse alone, in `rounds` alternating rounds of `iterations`. */
const parseThroughput = (rounds: number, iterations: number, clock = () => performance.now()) => {
  const document = FakeWire.globeNewswireRss(FakeWire.sampleWireItems(1_000, { now: Date.now() }))
  const context = {
    source: { name: "bench", kind: "rss" as const, url: "https://www.globenewswire.com/rss" },
    fetchedAt: new Date().toISOString(),
    allowOtc: false,
    dollarTickers: false,
    tickersForCik: () => []
  }
  const measure = (work: () => number) =>
    Effect.sync(() => {
      const started = clock()
      let items = 0
      for (let i = 0; i < iterations; i++) items += work()
      return items / ((clock() - started) / 1_000)
    })
  const full = () => {
    const parsed = parseDocument(document)
    if (Either.isLeft(parsed)) throw parsed.left
    return normalizeFeed(parsed.right, context).length
  }
  const raw = () => {
    const parsed = parseFeed(document)
    return parsed.format === "rss" ? (parsed.feed.items?.length ?? 0) : 0
  }
  for (let i = 0; i < 3; i++) {
    full()
    raw()
  }
  return Effect.map(alternating(rounds, measure(raw), measure(full)), ({ baseline, candidate }) => ({
    raw: baseline,
    full: candidate
  }))
}

export const run = async (): Promise<BenchReport> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        // The wire runs in its own process, as the real wires run on other machines: serving fifty responses
        // at once is the server's work, not the fetcher's.
        const urls = JSON.parse(
          (yield* helperProcess("wireServer", [String(feedCount), "20", String(latencyMs)])).firstLine
        ) as ReadonlyArray<string>
        // Warm-up, as a bot that has run a few cycles is: module init, JIT, SQLite, undici.
        for (let round = 0; round < warmUpRounds; round++) yield* timeFetchAll(urls, feedCount)
        // Single and concurrent runs alternate, so a burst of noise on this shared machine hits both alike.
        const singles: Array<number> = []
        const concurrents: Array<{ elapsed: number; items: number }> = []
        for (let round = 0; round < measuredRounds; round++) {
          singles.push((yield* timeFetchAll(urls.slice(0, 1), 1)).elapsed)
          concurrents.push(yield* timeFetchAll(urls, feedCount))
        }
        const single = percentile(singles, 50)
        const concurrent = percentile(
          concurrents.map((run) => run.elapsed),
          50
        )
        const concurrentItems = concurrents[0]?.items
        const sequential = yield* timeFetchAll(urls, 1)
        const throughput = yield* parseThroughput(1, 20)
        const speedup = sequential.elapsed / concurrent
        const overSlowest = concurrent / single
        return {
          name: "feeds",
          figures: [
            {
              label: `fetch + parse ${feedCount} feeds × ${latencyMs} ms latency, FEED_CONCURRENCY=${feedCount} (median of ${measuredRounds})`,
              value: concurrent,
              unit: "ms",
              baseline: { label: "same code, FEED_CONCURRENCY=1 (ms)", value: sequential.elapsed },
              ratio: speedup,
              ...judge(targets.feedsSpeedup, concurrent, speedup)
            },
            {
              label: `concurrent wall time vs the single slowest feed (${feedCount} feeds, ${concurrentItems} items)`,
              value: concurrent,
              unit: "ms",
              baseline: { label: `one feed alone (ms, median of ${measuredRounds})`, value: single },
              ratio: overSlowest,
              ...judge(targets.feedsOverSlowest, concurrent, overSlowest)
            },
            {
              label: "parse + normalise a 1,000-item RSS document",
              value: throughput.full,
              unit: "items/s",
              baseline: { label: "raw feedsmith parse only (items/s)", value: throughput.raw },
              ratio: throughput.full / throughput.raw,
              ...judge(targets.parseThroughput, throughput.full, throughput.full / throughput.raw)
            }
          ]
        } satisfies BenchReport
      })
    )
  )

/**
 * bench:check's quick mode: 30 feeds of 2 items answering in 300 ms, sequential and concurrent fetches alternating,
 * timed on the clock that stops while the machine is too busy to run us; and parse + normalise against feedsmith
 * alone, alternating, on this thread's CPU time (parsing is CPU-bound: a busy machine only takes turns away from it).
 */
const quickFeeds = 30
/** Long enough that the fetch overhead a busy machine inflates stays a small part of a concurrent fetch. */
const quickLatencyMs = 300

export const quick = (): Promise<ReadonlyArray<CheckedFigure>> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const urls = JSON.parse(
          (yield* helperProcess("wireServer", [String(quickFeeds), "2", String(quickLatencyMs)])).firstLine
        ) as ReadonlyArray<string>
        yield* timeFetchAll(urls, quickFeeds)
        const elapsed = (concurrency: number) =>
          Effect.map(timeFetchAll(urls, concurrency, unloadedNow), (run) => run.elapsed)
        // Two rounds: a sequential fetch is 30 waits of 300 ms, steady by construction, and the longest part of the check.
        const fetch = yield* alternating(2, elapsed(1), elapsed(quickFeeds))
        const parse = yield* parseThroughput(5, 8, () => threadSchedule().onCpuMs)
        return [
          {
            label: `feeds: ${quickFeeds} feeds × ${quickLatencyMs} ms fetched concurrently vs FEED_CONCURRENCY=1`,
            ratio: fetch.baseline / fetch.candidate,
            target: targets.feedsSpeedup,
            detail: `sequential ${Math.round(fetch.baseline)} ms / concurrent ${Math.round(fetch.candidate)} ms`
          },
          {
            label: "feeds: parse + normalise throughput vs feedsmith's parse alone",
            ratio: parse.full / parse.raw,
            target: targets.parseThroughput,
            detail: `${Math.round(parse.full)} / ${Math.round(parse.raw)} items/s`
          }
        ]
      })
    )
  )

if (isMain(import.meta.url)) publish(await run())
