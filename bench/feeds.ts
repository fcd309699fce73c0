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
import { type BenchReport, helperProcess, isMain, percentile, publish } from "./lib.js"

const feedCount = 50
const latencyMs = 200
const warmUpRounds = 5
const measuredRounds = 7

/** One fetchAll over `urls` with the given concurrency, on a fresh database (no validators yet). */
const timeFetchAll = (urls: ReadonlyArray<string>, concurrency: number) =>
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
        ["FEED_PER_HOST_CONCURRENCY", String(feedCount)],
        ["MAX_ARTICLE_AGE_MINUTES", "0"]
      ])
    )
    const result = yield* Effect.gen(function* () {
      const ingest = yield* FeedIngest
      const started = performance.now()
      const batch = yield* ingest.fetchAll
      const elapsed = performance.now() - started
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

const parseThroughput = () => {
  const document = FakeWire.globeNewswireRss(FakeWire.sampleWireItems(1_000, { now: Date.now() }))
  const context = {
    source: { name: "bench", kind: "rss" as const, url: "https://www.globenewswire.com/rss" },
    fetchedAt: new Date().toISOString(),
    allowOtc: false,
    dollarTickers: false,
    tickersForCik: () => []
  }
  const measure = (work: () => number) => {
    for (let i = 0; i < 3; i++) work()
    const rounds = 20
    const started = performance.now()
    let items = 0
    for (let i = 0; i < rounds; i++) items += work()
    return items / ((performance.now() - started) / 1_000)
  }
  const full = measure(() => {
    const parsed = parseDocument(document)
    if (Either.isLeft(parsed)) throw parsed.left
    return normalizeFeed(parsed.right, context).length
  })
  const raw = measure(() => {
    const parsed = parseFeed(document)
    return parsed.format === "rss" ? (parsed.feed.items?.length ?? 0) : 0
  })
  return { full, raw }
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
        const throughput = parseThroughput()
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
              target: "≥ 15× faster",
              pass: speedup >= 15
            },
            {
              label: `concurrent wall time vs the single slowest feed (${feedCount} feeds, ${concurrentItems} items)`,
              value: concurrent,
              unit: "ms",
              baseline: { label: `one feed alone (ms, median of ${measuredRounds})`, value: single },
              ratio: overSlowest,
              target: "< 1.5× (ratio = concurrent / single, smaller is better)",
              pass: overSlowest < 1.5
            },
            {
              label: "parse + normalise a 1,000-item RSS document",
              value: throughput.full,
              unit: "items/s",
              baseline: { label: "raw feedsmith parse only (items/s)", value: throughput.raw },
              ratio: throughput.full / throughput.raw,
              target: "≥ 20k items/s",
              pass: throughput.full >= 20_000
            }
          ]
        } satisfies BenchReport
      })
    )
  )

if (isMain(import.meta.url)) publish(await run())
