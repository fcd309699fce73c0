import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Metric, MetricBoundaries, TestClock } from "effect"
import parsePrometheus from "parse-prometheus-text-format"
import { formatSeconds, measure, percentiles } from "../src/Kernel/AlertLatency.js"
import type { Alert } from "../src/Kernel/Domain.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { encodePrometheus } from "../src/App/PrometheusText.js"
import { testItem } from "./support/TestPipeline.js"
import { classificationFixture, makeAlert } from "./support/Alerts.js"

describe("ErrorTracker", () => {
  it.effect("counts by stage and tag, keeps bounded recent samples, and forgets old errors as recent", () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        const tracker = yield* ErrorTracker
        for (let i = 0; i < 60; i++) {
          yield* tracker.record({ stage: "feed", tag: "FeedFailed", message: `HTTP 500 #${i}`, subject: "Wire" })
        }
        yield* tracker.record({ stage: "delivery", tag: "DeliveryError", message: "429" })
        const report = yield* tracker.report
        expect(report.recentTotal).toBe(61)
        expect(report.counts).toMatchObject([
          { stage: "feed", tag: "FeedFailed", total: 60, recent: 60, lastMessage: "HTTP 500 #59" },
          { stage: "delivery", tag: "DeliveryError", total: 1, recent: 1 }
        ])
        expect(report.samples).toHaveLength(50)
        expect(report.samples[0]).toMatchObject({ stage: "delivery", message: "429" })

        yield* TestClock.adjust(Duration.minutes(16))
        const later = yield* tracker.report
        expect(later.recentTotal).toBe(0)
        expect(later.counts[0]?.total).toBe(60)
        expect(later.samples).toEqual([])
      }).pipe(Effect.provide(ErrorTracker.Default))
    })
  )
})

describe("AlertLatency", () => {
  const alert = (published: string | null): Alert =>
    makeAlert(testItem("x", { published, fetchedAt: "2026-11-28T14:30:20.000Z" }), {
      ticker: { symbol: "ACME", exchange: null },
      classification: classificationFixture({ score: 1, llm: { _tag: "Skipped", reason: "" } }),
      market: { _tag: "PriceUnavailable", reason: "" },
      decidedAt: "2026-11-28T14:30:21.500Z"
    })
  const deliveredAt = Date.parse("2026-11-28T14:30:24.000Z")

  it("splits publication-to-delivery into its steps", () => {
    expect(measure(alert("2026-11-28T14:30:00.000Z"), deliveredAt)).toEqual({
      source: "TestWire",
      publishedToDelivered: 24,
      stages: { published_to_fetched: 20, fetched_to_decided: 1.5, decided_to_delivered: 2.5 }
    })
  })

  it("leaves out what an item without a publication time can't say, and never goes negative", () => {
    expect(measure(alert(null), deliveredAt).publishedToDelivered).toBeNull()
    expect(measure(alert(null), deliveredAt).stages.published_to_fetched).toBeNull()
    // A minute-precision pubDate a little ahead of our clock.
    expect(measure(alert("2026-11-28T14:31:00Z"), deliveredAt).stages.published_to_fetched).toBe(0)
  })

  it("computes nearest-rank percentiles", () => {
    expect(percentiles([])).toBeNull()
    expect(percentiles(Array.from({ length: 100 }, (_, i) => 100 - i))).toEqual({ count: 100, p50: 50, p95: 95 })
    expect(percentiles([7])).toEqual({ count: 1, p50: 7, p95: 7 })
    expect([formatSeconds(42.4), formatSeconds(190), formatSeconds(7_500)]).toEqual(["42s", "3m 10s", "2h 5m"])
  })
})

describe("encodePrometheus", () => {
  it.effect("encodes each Effect metric type as its Prometheus family, via prom-client", () =>
    Effect.gen(function* () {
      const monotonic = Metric.counter("test_encoded_total", { description: "A counter" })
      const upDown = Metric.counter("test.up-down", { description: "Goes up and down" })
      const gauge = Metric.gauge("test_gauge")
      const histogram = Metric.histogram("test_hist_seconds", MetricBoundaries.fromIterable([1, 5]), "Histogram")
      const frequency = Metric.frequency("test_outcomes", { description: "Outcomes" })
      const summary = Metric.summary({
        name: "test_summary",
        maxAge: "1 minute",
        maxSize: 100,
        error: 0.01,
        quantiles: [0.5]
      })
      yield* Metric.incrementBy(Metric.tagged(monotonic, "feed", 'Globe "News" Wire'), 3)
      yield* Metric.incrementBy(upDown, 2)
      yield* Metric.incrementBy(upDown, -1)
      yield* Metric.set(gauge, 1.5)
      for (const value of [0.5, 3, 9]) yield* Metric.update(histogram, value)
      for (const value of ["alerted", "alerted", "duplicate"]) yield* Metric.update(frequency, value)
      for (const value of [1, 2, 3]) yield* Metric.update(summary, value)

      const text = yield* Effect.promise(() => encodePrometheus(Metric.unsafeSnapshot()))
      const families = new Map(parsePrometheus(text).map((family) => [family.name, family]))
      expect(families.get("test_encoded_total")).toMatchObject({
        type: "COUNTER",
        help: "A counter",
        metrics: [{ value: "3", labels: { feed: 'Globe "News" Wire' } }]
      })
      // Not monotonic and not named *_total: a gauge; the name is made Prometheus-safe.
      expect(families.get("test_up_down")).toMatchObject({ type: "GAUGE", metrics: [{ value: "1" }] })
      expect(families.get("test_gauge")).toMatchObject({ type: "GAUGE", metrics: [{ value: "1.5" }] })
      expect(families.get("test_hist_seconds")).toMatchObject({
        type: "HISTOGRAM",
        metrics: [{ buckets: { "1": "1", "5": "2", "+Inf": "3" }, count: "3", sum: "12.5" }]
      })
      expect(families.get("test_outcomes")).toMatchObject({
        type: "COUNTER",
        metrics: expect.arrayContaining([
          { value: "2", labels: { key: "alerted" } },
          { value: "1", labels: { key: "duplicate" } }
        ])
      })
      expect(families.get("test_summary")).toMatchObject({
        type: "SUMMARY",
        metrics: [{ quantiles: { "0.5": expect.any(String) }, count: "3", sum: "6" }]
      })
    })
  )
})
