import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Classifier } from "../src/Classification/Classifier.js"
import { spawn } from "node:child_process"
import { Cycle } from "../src/Runner/Cycle.js"
import type { RecordedSpan } from "../src/World/FakeOtlp.js"
import * as FakeOtlp from "../src/World/FakeOtlp.js"
import * as FakeWire from "../src/World/FakeWire.js"
import { TracingLive } from "../src/Kernel/Tracing.js"
import { feedServer, feedsFile, passThroughStages, testCycle, testItem, wireCycle } from "./support/TestPipeline.js"
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

  it.scoped("sends nothing when OTEL_EXPORTER_OTLP_ENDPOINT is unset", () =>
    Effect.gen(function* () {
      const otlp = yield* FakeOtlp.make()
      yield* Effect.scoped(Effect.void.pipe(Effect.withSpan("cycle"), Effect.provide(TracingLive))).pipe(
        Effect.provide(tempDataConfig())
      )
      expect(yield* otlp.requests).toEqual([])
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
        // Only a local feed: the bot must never reach a real host from a test.
        const file = yield* feedsFile([{ name: "GNW", url: wire.feedUrl("gnw"), kind: "rss" }])
        const dataDir = yield* tempDir
        let interruptedAt = Number.POSITIVE_INFINITY
        const stderr = yield* Effect.async<string>((resume) => {
          const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "run"], {
            env: {
              ...process.env,
              OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
              DATA_DIR: dataDir,
              HEALTH_PORT: "0",
              FEEDS_FILE: file,
              LOG_LEVEL: "Info"
            },
            stdio: ["ignore", "ignore", "pipe"]
          })
          let output = ""
          child.stderr.on("data", (chunk: Buffer) => {
            output += chunk.toString()
            if (output.includes("cycle done") && interruptedAt === Number.POSITIVE_INFINITY) {
              interruptedAt = Date.now()
              child.kill("SIGINT")
            }
          })
          child.on("exit", () => resume(Effect.succeed(output)))
        })
        expect(stderr).toContain("cycle done")
        const spans = yield* otlp.spans
        const cycles = spans.filter((span) => span.name === "cycle")
        expect(cycles).toHaveLength(1)
        expect(spans.filter((span) => span.traceId === cycles[0]!.traceId).map((span) => span.name)).toEqual(
          expect.arrayContaining(["FeedIngest.feed", "http.client GET"])
        )
        // Sent by the shutdown flush, not by the periodic export.
        expect(cycles[0]!.receivedAt).toBeGreaterThanOrEqual(interruptedAt)
      }),
    60_000
  )
})
