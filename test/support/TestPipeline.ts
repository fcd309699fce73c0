import { HttpClient, HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { Classifier } from "../../src/Classification/Classifier.js"
import { AppConfig } from "../../src/Kernel/AppConfig.js"
import { Cycle } from "../../src/Runner/Cycle.js"
import { type ClassifiedItem, type EnrichedItem, NormalizedItem } from "../../src/Kernel/Domain.js"
import { type FeedBatch, FeedIngest } from "../../src/Feeds/FeedIngest.js"
import { MarketData } from "../../src/MarketData/MarketData.js"
import { ItemArchive } from "../../src/Outcomes/ItemArchive.js"
import { AlertLinks } from "../../src/Delivery/AlertLinks.js"
import { Outbox } from "../../src/Delivery/Outbox.js"
import { SeenStore } from "../../src/Storage/SeenStore.js"
import { SqlLive } from "../../src/Kernel/Sql.js"
import { tempDir } from "./TestLayers.js"
import { classifiedFixture, itemFixture } from "./Alerts.js"

/**
 * A cycle whose feed stage does a real HTTP GET against a local JSON "feed" server (so traces get
 * HTTP client spans), with scriptable failures, and pass-through classify/enrich stages.
 */

export const testItem = (id: string, overrides: Partial<NormalizedItem> = {}): NormalizedItem =>
  itemFixture(id, {
    source: "TestWire",
    title: `Acme wins contract ${id}`,
    published: new Date(Date.now() - 60_000).toISOString(),
    fetchedAt: new Date().toISOString(),
    tickers: [{ symbol: "ACME", exchange: "NASDAQ" }],
    ...overrides
  })

export interface FeedServer {
  readonly url: string
  /** Items served on the next requests. */
  readonly setItems: (items: ReadonlyArray<NormalizedItem>) => void
  /** 0 = healthy; otherwise every request answers this status. */
  readonly setFailure: (status: number) => void
  /** Delay before each answer, like a real wire's round trip. */
  readonly setLatency: (millis: number) => void
  readonly requests: () => number
}

export const feedServer = Effect.acquireRelease(
  Effect.async<{ server: ReturnType<typeof createServer>; feed: FeedServer }>((resume) => {
    let items: ReadonlyArray<NormalizedItem> = []
    let failure = 0
    let requests = 0
    let latency = 0
    const server = createServer((_request, response) => {
      requests += 1
      const body = JSON.stringify(failure ? { error: "scripted" } : { items })
      const status = failure || 200
      setTimeout(() => {
        response.writeHead(status, { "content-type": "application/json" })
        response.end(body)
      }, latency)
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(
        Effect.succeed({
          server,
          feed: {
            url: `http://127.0.0.1:${port}/feed`,
            setItems: (next) => void (items = next),
            setFailure: (status) => void (failure = status),
            setLatency: (millis) => void (latency = millis),
            requests: () => requests
          }
        })
      )
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.closeAllConnections()
    })
).pipe(Effect.map(({ feed }) => feed))

const FeedBody = Schema.Struct({ items: Schema.Array(NormalizedItem) })

/** One feed, "TestWire", fetched over HTTP; a non-2xx answer becomes a Failed report, as real feeds do. */
export const httpFeedIngest = (feed: FeedServer) =>
  Layer.effect(
    FeedIngest,
    Effect.gen(function* () {
      const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
      const fetchAll = client.get(feed.url).pipe(
        Effect.flatMap(HttpClientResponse.schemaBodyJson(FeedBody)),
        Effect.map(({ items }): FeedBatch => ({
          reports: [
            { name: "TestWire", url: feed.url, status: { _tag: "Ok", items: items.length, fresh: items.length } }
          ],
          items,
          stale: []
        })),
        Effect.catchAll((error) =>
          Effect.succeed<FeedBatch>({
            reports: [{ name: "TestWire", url: feed.url, status: { _tag: "Failed", reason: error.message } }],
            items: [],
            stale: []
          })
        ),
        Effect.withSpan("FeedIngest.fetchAll")
      )
      return FeedIngest.make({
        fetchAll: fetchAll as FeedIngest["fetchAll"],
        poll: () => fetchAll as FeedIngest["fetchAll"],
        sources: [{ name: "TestWire", url: feed.url, kind: "rss", enabled: true }],
        disabledReason: () => null
      })
    })
  ).pipe(Layer.provide(NodeHttpClient.layerUndici))

export const passThroughStages = Layer.mergeAll(
  Classifier.Test({
    classifyBatch: Effect.fn("Classifier.classifyBatch")(function* (items: ReadonlyArray<NormalizedItem>) {
      return {
        notes: [],
        items: items.map((item) =>
          classifiedFixture(item, { categories: ["contract"], score: 5, sentiment: 0.5, matched: ["contract"] })
        )
      }
    })
  }),
  MarketData.Test({
    enrich: Effect.fn("MarketData.enrich")(function* (items: ReadonlyArray<ClassifiedItem>) {
      return items.map((item): EnrichedItem => ({ ...item, market: { _tag: "PriceUnavailable", reason: "test" } }))
    })
  })
)

/** The real Cycle, SeenStore, Outbox and SQLite, with the test feed and pass-through stages. */
export const testCycle = (feed: FeedServer, stages: Layer.Layer<Classifier | MarketData> = passThroughStages) =>
  Cycle.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        httpFeedIngest(feed),
        stages,
        SeenStore.Default,
        Outbox.Default,
        ItemArchive.Default,
        AlertLinks.Default
      )
    ),
    Layer.provideMerge(SqlLive),
    Layer.provideMerge(AppConfig.Default)
  )

/** A FEEDS_FILE listing `feeds`, in a directory removed with the scope. */
export const feedsFile = (
  feeds: ReadonlyArray<{ readonly name: string; readonly url: string; readonly kind: string }>
) =>
  Effect.map(tempDir, (dir) => {
    const path = join(dir, "feeds.json")
    writeFileSync(path, JSON.stringify(feeds))
    return path
  })

/** The real Cycle with the real feed stage (FeedIngest over HttpClient), for feeds on a local FakeWire. */
export const wireCycle = (stages: Layer.Layer<Classifier | MarketData> = passThroughStages) =>
  Cycle.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        FeedIngest.Default,
        stages,
        SeenStore.Default,
        Outbox.Default,
        ItemArchive.Default,
        AlertLinks.Default
      )
    ),
    Layer.provideMerge(SqlLive),
    Layer.provideMerge(AppConfig.Default),
    Layer.provideMerge(NodeHttpClient.layerUndici)
  )
