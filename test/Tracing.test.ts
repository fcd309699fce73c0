import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { Classifier } from "../src/Classification/Classifier.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { Cycle } from "../src/Runner/Cycle.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { FeedIngest } from "../src/Feeds/FeedIngest.js"
import type { RecordedSpan } from "../src/World/FakeOtlp.js"
import * as FakeOtlp from "../src/World/FakeOtlp.js"
import * as FakeWire from "../src/World/FakeWire.js"
import { TracingLive } from "../src/Kernel/Tracing.js"
import { feedServer, feedsFile, passThroughStages, testCycle, testItem, wireCycle } from "./support/TestPipeline.js"
import { spawnCli } from "./support/Cli.js"
import { watchConnections } from "./support/NetworkGuardState.js"
import { alertFixture } from "./support/Alerts.js"
import { discordDelivery } from "./support/DeliveryHarness.js"
import { tempDataConfig, tempDir } from "./support/TestLayers.js"

const ancestors = (span: RecordedSpan, byId: ReadonlyMap<string, RecordedSpan>): Array<string> => {
  const names: Array<string> = []
  let parent = span.parentSpanId === null ? undefined : byId.get(span.parentSpanId)
  while (parent !== undefined) {
    names.push(parent.name)
    parent = parent.parentSpanId === null ? undefined : byId.get(parent.parentSpanId)
  }
  return names
}

/** Runs `cycles` cycles with tracing on, then closes the tracing scope (which flushes) and returns the spans. */
const tracedCycles = (
  otlpUrl: string,
  cycle: Layer.Layer<Cycle, unknown>,
  config: Record<string, string | number> = {}
) =>
  Effect.scoped(
    Effect.flatMap(Cycle, (cycle) => cycle.run()).pipe(
      Effect.provide(cycle),
      Effect.provide(TracingLive),
      Effect.provide(
        tempDataConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl, OTEL_SERVICE_NAME: "catalyst-bot-test", ...config })
      ),
      Effect.exit
    )
  )

describe("Tracing", () => {
  it.scoped("exports one cycle as one trace: root `cycle`, stage spans and feed-fetch HTTP spans beneath", () =>
    Effect.gen(function* () {
      const otlp = yield* FakeOtlp.make()
      const wire = yield* FakeWire.make({
        gnw: { body: FakeWire.globeNewswireRss(FakeWire.sampleWireItems(3, { now: Date.now() })) },
        prn: { body: FakeWire.globeNewswireRss(FakeWire.sampleWireItems(2, { now: Date.now(), prefix: "QQ" })) }
      })
      const file = yield* feedsFile([
        { name: "GNW", url: wire.feedUrl("gnw"), kind: "rss" },
        { name: "PRN", url: wire.feedUrl("prn"), kind: "rss" }
      ])

      yield* tracedCycles(otlp.url, wireCycle(), { FEEDS_FILE: file, FEED_RETRIES: 0 })

      const spans = yield* otlp.spans
      const roots = spans.filter((span) => span.name === "cycle")
      expect(roots).toHaveLength(1)
      const root = roots[0]!
      expect(root.parentSpanId).toBeNull()
      expect(root.serviceName).toBe("catalyst-bot-test")
      expect(root.attributes).toMatchObject({ fetched: 5, new: 5, alerted: 5 })

      const trace = spans.filter((span) => span.traceId === root.traceId)
      const byId = new Map(trace.map((span) => [span.spanId, span]))
      const underCycle = (name: string) =>
        trace.filter((span) => span.name === name && ancestors(span, byId).includes("cycle"))
      for (const stage of [
        "FeedIngest.fetchAll",
        "SeenStore.filterUnseen",
        "Classifier.classifyBatch",
        "MarketData.enrich",
        "SeenStore.markSeen",
        "Outbox.enqueue"
      ]) {
        expect(underCycle(stage), stage).toHaveLength(1)
      }
      const perFeed = underCycle("FeedIngest.feed")
      expect(perFeed.map((span) => span.attributes["feed.name"]).sort()).toEqual(["GNW", "PRN"])
      const http = underCycle("http.client GET")
      expect(http).toHaveLength(2)
      for (const request of http) {
        expect(ancestors(request, byId)).toContain("FeedIngest.feed")
        expect(ancestors(request, byId)).toContain("FeedIngest.fetchAll")
        expect(request.attributes["http.response.status_code"]).toBe(200)
        expect(String(request.attributes["url.full"])).toMatch(new RegExp(`^${wire.url}/feeds/(gnw|prn)$`))
      }
      // The exporter's own requests are untraced: no span describes a POST to the receiver.
      expect(spans.some((span) => String(span.attributes["url.full"] ?? "").startsWith(otlp.url))).toBe(false)
    })
  )

  it.scoped(
    "traces a poll only when it brings new items: one trace per such poll, rooted at `cycle` with its source",
    () =>
      Effect.gen(function* () {
        const otlp = yield* FakeOtlp.make()
        const wire = yield* FakeWire.make({
          gnw: { body: FakeWire.globeNewswireRss(FakeWire.sampleWireItems(3, { now: Date.now() })) }
        })
        const file = yield* feedsFile([{ name: "GNW", url: wire.feedUrl("gnw"), kind: "rss" }])
        yield* Effect.scoped(
          Effect.gen(function* () {
            const cycle = yield* Cycle
            const ingest = yield* FeedIngest
            const [gnw] = ingest.sources
            // New items; then the same items again (a 200 with nothing new); then a 304.
            for (let poll = 0; poll < 3; poll++) yield* cycle.run(gnw)
          }).pipe(
            Effect.provide(wireCycle()),
            Effect.provide(TracingLive),
            Effect.provide(tempDataConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, FEEDS_FILE: file, FEED_RETRIES: 0 }))
          )
        )
        const spans = yield* otlp.spans
        const roots = spans.filter((span) => span.name === "cycle")
        expect(roots).toHaveLength(1)
        expect(roots[0]!.parentSpanId).toBeNull()
        expect(roots[0]!.attributes).toMatchObject({ source: "GNW", fetched: 3, new: 3, alerted: 3 })
        const trace = spans.filter((span) => span.traceId === roots[0]!.traceId)
        const byId = new Map(trace.map((span) => [span.spanId, span]))
        for (const name of [
          "FeedIngest.poll",
          "FeedIngest.feed",
          "http.client GET",
          "Classifier.classifyBatch",
          "Outbox.enqueue"
        ]) {
          expect(
            trace.filter((span) => span.name === name && ancestors(span, byId).includes("cycle")),
            name
          ).toHaveLength(1)
        }
        // The two polls that found nothing left no span at all.
        expect(spans.filter((span) => span.name === "FeedIngest.poll")).toHaveLength(1)
        expect(spans.filter((span) => span.name === "http.client GET")).toHaveLength(1)
        expect(wire.requests().length).toBe(3)
      })
  )

  it.scoped("a delivery is its own trace, linked to the traced poll that queued its alert", () =>
    Effect.gen(function* () {
      const otlp = yield* FakeOtlp.make()
      const discord = yield* makeFakeDiscord()
      const dir = yield* tempDir
      yield* Effect.scoped(
        Effect.gen(function* () {
          const outbox = yield* Outbox
          yield* outbox.enqueue([alertFixture(1)]).pipe(Effect.withSpan("cycle"))
          yield* Effect.flatMap(Delivery, (delivery) => delivery.awaitSettled(0, Duration.seconds(30)))
        }).pipe(
          Effect.provide(
            Layer.provideMerge(
              TracingLive,
              discordDelivery(discord.webhookUrl(), dir, { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url })
            )
          )
        )
      )
      expect(discord.messages).toHaveLength(1)
      const spans = yield* otlp.spans
      const cycle = spans.find((span) => span.name === "cycle")!
      const enqueue = spans.find((span) => span.name === "Outbox.enqueue" && span.traceId === cycle.traceId)!
      const post = spans.find((span) => span.name === "Delivery.post")!
      expect(post.traceId).not.toBe(cycle.traceId)
      expect(post.links).toEqual([{ traceId: cycle.traceId, spanId: enqueue.spanId }])
    })
  )

  it.scoped("records a failing cycle's error on its span", () =>
    Effect.gen(function* () {
      const otlp = yield* FakeOtlp.make()
      const feed = yield* feedServer
      feed.setItems([testItem("b1")])
      const explodingClassifier = Classifier.Test({
        classifyBatch: Effect.fn("Classifier.classifyBatch")(function* () {
          return yield* Effect.dieMessage("the classifier exploded")
        })
      })
      yield* tracedCycles(otlp.url, testCycle(feed, Layer.merge(passThroughStages, explodingClassifier)))
      const failed = (yield* otlp.spans).filter((span) => span.name === "cycle" && span.statusCode === 2)
      expect(failed).toHaveLength(1)
      expect(failed[0]!.eventNames).toContain("exception")
      expect(failed[0]!.statusMessage).toContain("the classifier exploded")
    })
  )

  // Live clock: were an exporter built, its shutdown timeout must be able to run out.
  it.scopedLive(
    "opens no connection at all when OTEL_EXPORTER_OTLP_ENDPOINT is unset, not even to a default collector",
    () =>
      Effect.gen(function* () {
        const traced = (config: Record<string, string>) =>
          Effect.scoped(Effect.void.pipe(Effect.withSpan("cycle"), Effect.provide(TracingLive))).pipe(
            Effect.provide(tempDataConfig(config))
          )
        // Control: with the endpoint set, the same span is exported and the watch sees the connection.
        const otlp = yield* FakeOtlp.make()
        const exporting = watchConnections()
        yield* traced({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url })
        expect((yield* otlp.spans).map((span) => span.name)).toContain("cycle")
        expect(exporting()).toContain(`connect ${new URL(otlp.url).hostname}:${new URL(otlp.url).port}`)

        const unset = watchConnections()
        yield* traced({})
        expect(unset()).toEqual([])
      })
  )

  it.scoped(
    "flushes the spans when the bot is stopped with SIGINT",
    () =>
      Effect.gen(function* () {
        const otlp = yield* FakeOtlp.make()
        const wire = yield* FakeWire.make({
          gnw: { body: FakeWire.globeNewswireRss(FakeWire.sampleWireItems(2, { now: Date.now() })) }
        })
        const file = yield* feedsFile([{ name: "GNW", url: wire.feedUrl("gnw"), kind: "rss" }])
        const bot = spawnCli(["run"], { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, FEEDS_FILE: file, LOG_LEVEL: "Info" })
        yield* Effect.promise(() => bot.waitFor(/cycle done/, 120_000))
        const interruptedAt = Date.now()
        bot.child.kill("SIGINT")
        const result = yield* Effect.promise(() => bot.exited)
        expect(result.code).toBe(0)
        const spans = yield* otlp.spans
        const cycles = spans.filter((span) => span.name === "cycle")
        expect(cycles).toHaveLength(1)
        expect(spans.filter((span) => span.traceId === cycles[0]!.traceId).map((span) => span.name)).toEqual(
          expect.arrayContaining(["FeedIngest.poll", "FeedIngest.feed", "http.client GET"])
        )
        // Sent by the shutdown flush, not by the periodic export.
        expect(cycles[0]!.receivedAt).toBeGreaterThanOrEqual(interruptedAt)
      }),
    180_000
  )
})
