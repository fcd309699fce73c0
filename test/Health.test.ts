import { HttpClient, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, TestClock } from "effect"
import parsePrometheus from "parse-prometheus-text-format"
import { AdminChannel } from "../src/Kernel/AdminChannel.js"
import { AlertLatency } from "../src/Kernel/AlertLatency.js"
import { AlertSink, DeliveryError } from "../src/Delivery/AlertSink.js"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import { Breakers } from "../src/Kernel/Breakers.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import { EditOutbox } from "../src/Delivery/EditOutbox.js"
import { DeliveryHealth } from "../src/Delivery/DeliveryHealth.js"
import { DiscordStatus } from "../src/Delivery/Discord/DiscordRateLimiter.js"
import type { Alert } from "../src/Kernel/Domain.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { LlmStatus } from "../src/Classification/LlmAnalyst.js"
import { assess, HealthCheck, type HealthReport, healthRouter } from "../src/App/HealthCheck.js"
import { MetricsExporter } from "../src/App/MetricsExporter.js"
import { RouteHealth } from "../src/Delivery/RouteHealth.js"
import { initialSourceState, Runner } from "../src/Runner/Runner.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { tempDataConfig } from "./support/TestLayers.js"
import { type FeedServer, feedServer, testCycle, testItem } from "./support/TestPipeline.js"
import { classificationFixture, makeAlert } from "./support/Alerts.js"
import { DatabaseWatch } from "../src/Kernel/DatabaseWatch.js"

let sinkFails = false
const TestSink = AlertSink.Test({
  name: "test",
  send: (_alert: Alert) =>
    sinkFails
      ? Effect.fail(new DeliveryError({ reason: "webhook answered 503", retryable: true }))
      : Effect.succeed({ messageId: "m1" })
})
const NoCharts = ChartRenderer.Test({ forAlert: () => Effect.succeed({ _tag: "NoBars" } as const) })

/** The health router on a test server, over the real Runner and Cycle with a local HTTP feed. */
const healthServer = (feed: FeedServer) =>
  HttpServer.serve(healthRouter).pipe(
    Layer.provideMerge(
      Layer.mergeAll(HealthCheck.DefaultWithoutDependencies, MetricsExporter.DefaultWithoutDependencies)
    ),
    Layer.provideMerge(Layer.mergeAll(Runner.DefaultWithoutDependencies, Delivery.DefaultWithoutDependencies)),
    Layer.provideMerge(
      Layer.mergeAll(
        Breakers.Default,
        ErrorTracker.Default,
        StatusBoard.Default,
        AlertLatency.Default,
        AdminChannel.Default,
        DatabaseWatch.Default,
        DeliveryHealth.Default,
        RouteHealth.Default,
        TestSink,
        NoCharts,
        EditOutbox.Default
      )
    ),
    Layer.provideMerge(testCycle(feed)),
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provide(tempDataConfig({ POLL_SECONDS: 60, POLL_SECONDS_CLOSED: 300, CYCLE_TIMEOUT_SECONDS: 30 }))
  )

const getHealth = Effect.gen(function* () {
  const response = yield* (yield* HttpClient.HttpClient).get("/health")
  return { status: response.status, body: (yield* response.json) as HealthReport }
})

const getMetrics = Effect.gen(function* () {
  const response = yield* (yield* HttpClient.HttpClient).get("/metrics")
  return { contentType: response.headers["content-type"], text: yield* response.text }
})

const family = (text: string, name: string) => {
  const found = parsePrometheus(text).find((f) => f.name === name)
  if (found === undefined) throw new Error(`${name} is missing from /metrics`)
  return found
}

const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("Health server", () => {
  it.scopedLive("turns 503 within one cycle of a feed failing and back to 200 when it recovers", () =>
    Effect.gen(function* () {
      const feed = yield* feedServer
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        const ping = yield* (yield* HttpClient.HttpClient).get("/health/ping")
        expect(yield* ping.text).toBe("pong")

        const starting = yield* getHealth
        expect(starting.status).toBe(503)
        expect(starting.body.status).toBe("starting")

        feed.setItems([testItem("h1")])
        yield* runner.runCycle
        const ok = yield* getHealth
        expect(ok.status).toBe(200)
        expect(ok.body).toMatchObject({
          status: "ok",
          problems: [],
          cycles: 1,
          feeds: [{ name: "TestWire", status: "ok", items: 1 }],
          lastCycle: { result: "Completed", fetched: 1, new: 1, alerted: 1 },
          outbox: { depth: 1 },
          rateLimits: null,
          llmBudget: null
        })

        expect(ok.body.sources).toMatchObject([
          { name: "TestWire", polls: 1, consecutiveFailures: 0, lastError: null, usualGapSeconds: null, outage: null }
        ])
        expect(ok.body.sources[0]!.lastNewItemAt).toBe(ok.body.sources[0]!.lastPollAt)

        feed.setFailure(500)
        yield* runner.runCycle
        const failing = yield* getHealth
        expect(failing.body.sources).toMatchObject([{ name: "TestWire", polls: 2, consecutiveFailures: 1 }])
        expect(failing.body.sources[0]!.lastError).toMatch(/500/)
        expect(failing.status).toBe(503)
        expect(failing.body.status).toBe("unhealthy")
        expect(failing.body.feeds).toMatchObject([{ name: "TestWire", status: "failed" }])
        expect(failing.body.problems[0]).toMatch(/^feed TestWire failed: /)
        expect(failing.body.errors.counts).toMatchObject([{ stage: "feed", tag: "FeedFailed", total: 1, recent: 1 }])
        expect(failing.body.errors.samples[0]).toMatchObject({ stage: "feed", subject: "TestWire" })

        feed.setFailure(0)
        yield* runner.runCycle
        const recovered = yield* getHealth
        expect(recovered.status).toBe(200)
        expect(recovered.body.status).toBe("ok")
        // The error stays counted as recent, but no longer makes the bot unhealthy.
        expect(recovered.body.errors.recentTotal).toBe(1)
      }).pipe(Effect.provide(healthServer(feed)))
    })
  )

  it.scoped("shows publication-to-alert latency, delivery errors and the StatusBoard in /health", () =>
    Effect.gen(function* () {
      const now = Date.parse("2026-03-10T14:00:00Z")
      yield* TestClock.setTime(now)
      const at = (millis: number) => new Date(millis).toISOString()
      const feed = yield* feedServer
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        const rateLimits: DiscordStatus = {
          webhooks: [{ label: "alerts", bucket: "b1", discovered: true, limit: 5, remaining: 4, resetAfterMs: 1500 }],
          globalRequestsLastSecond: 1,
          globalLimitPerSecond: 50,
          globalBlockedForMs: 0,
          invalidLast10Min: 0,
          invalidBudget: 1000
        }
        const llmBudget: LlmStatus = {
          provider: "openai",
          model: "gpt-4o-mini",
          enabled: true,
          day: "2026-11-28",
          calls: 3,
          inputTokens: 1200,
          outputTokens: 300,
          costUsd: 0.12,
          dailyBudgetUsd: 5,
          budget: "on",
          breaker: "Closed",
          lastCycle: "none yet"
        }
        yield* (yield* StatusBoard).set(DiscordStatus, rateLimits)
        yield* (yield* StatusBoard).set(LlmStatus, llmBudget)
        feed.setItems([
          testItem("l1", { published: at(now - 90_000), fetchedAt: at(now) }),
          testItem("l2", { published: at(now - 30_000), fetchedAt: at(now) })
        ])
        yield* runner.runCycle
        yield* TestClock.adjust("2 seconds")
        expect(yield* (yield* Delivery).drainOnce()).toBe(2)

        feed.setItems([testItem("l3")])
        yield* runner.runCycle
        sinkFails = true
        expect(yield* (yield* Delivery).drainOnce()).toBe(1)
        sinkFails = false

        const health = yield* getHealth
        expect(health.body.errors.counts).toMatchObject([
          { stage: "delivery", tag: "DeliveryError", total: 1, lastMessage: "webhook answered 503" }
        ])
        expect(health.body.rateLimits).toEqual(rateLimits)
        expect(health.body.llmBudget).toEqual(llmBudget)
        expect(health.body.board).toMatchObject({ discord: rateLimits, llm: llmBudget })
        // Decided at `now`, delivered 2 s later; the failed l3 isn't counted.
        expect(health.body.latency).toEqual([
          {
            source: "TestWire",
            publishedToDelivered: { count: 2, p50: 32, p95: 92 },
            stages: {
              published_to_fetched: { count: 2, p50: 30, p95: 90 },
              fetched_to_decided: { count: 2, p50: 0, p95: 0 },
              decided_to_delivered: { count: 2, p50: 2, p95: 2 }
            }
          }
        ])
      }).pipe(Effect.provide(healthServer(feed)))
    })
  )

  it.scopedLive("serves every Effect metric at /metrics as Prometheus text", () =>
    Effect.gen(function* () {
      const feed = yield* feedServer
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        feed.setItems([testItem("m1"), testItem("m2")])
        yield* runner.runCycle
        feed.setFailure(502)
        yield* runner.runCycle
        yield* (yield* AlertLatency).record(alertFor("m3", 45_000, "MetricsWire"), Date.now())

        const { contentType, text } = yield* getMetrics
        expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/)
        expect(() => parsePrometheus(text)).not.toThrow()

        const cycles = family(text, "cycle_duration_seconds")
        expect(cycles.type).toBe("HISTOGRAM")
        const [series] = cycles.metrics
        expect(Number(series?.count)).toBeGreaterThanOrEqual(2)
        expect(series?.buckets?.["+Inf"]).toBe(series?.count)

        expect(family(text, "items_fetched_total").type).toBe("COUNTER")
        expect(Number(family(text, "items_fetched_total").metrics[0]?.value)).toBeGreaterThanOrEqual(2)
        expect(family(text, "errors_total").metrics).toContainEqual({
          value: expect.any(String),
          labels: { stage: "feed", tag: "FeedFailed" }
        })
        expect(family(text, "outbox_depth").metrics[0]?.value).toBe("2")
        expect(sample(text, 'source_consecutive_failures{source="TestWire"}')).toBeGreaterThanOrEqual(0)
        expect(sample(text, 'source_last_poll_age_seconds{source="TestWire"}')).toBeGreaterThanOrEqual(0)
        expect(family(text, "polls_total").metrics).toContainEqual(
          expect.objectContaining({ labels: { source: "TestWire", result: "new" } })
        )
        expect(family(text, "polls_total").metrics).toContainEqual(
          expect.objectContaining({ labels: { source: "TestWire", result: "failed" } })
        )
        expect(Number(family(text, "outbox_oldest_pending_age_seconds").metrics[0]?.value)).toBeGreaterThanOrEqual(0)
        expect(Number(family(text, "nodejs_heap_used_bytes").metrics[0]?.value)).toBeGreaterThan(0)

        const latency = family(text, "alert_publication_to_delivery_seconds")
        expect(latency.type).toBe("HISTOGRAM")
        // This parser flattens labelled histograms into one series, so read those samples from the text.
        expect(sample(text, 'alert_publication_to_delivery_seconds_count{source="MetricsWire"}')).toBe(1)
        expect(sample(text, 'alert_publication_to_delivery_seconds_bucket{source="MetricsWire",le="32"}')).toBe(0)
        expect(sample(text, 'alert_publication_to_delivery_seconds_bucket{source="MetricsWire",le="64"}')).toBe(1)
        expect(family(text, "alert_stage_latency_seconds").type).toBe("HISTOGRAM")
        for (const stage of ["published_to_fetched", "fetched_to_decided", "decided_to_delivered"]) {
          expect(sample(text, `alert_stage_latency_seconds_count{source="MetricsWire",stage="${stage}"}`)).toBe(1)
        }
      }).pipe(Effect.provide(healthServer(feed)))
    })
  )
})

const alertFor = (id: string, publishedAgoMs: number, source: string): Alert => {
  const now = Date.now()
  return makeAlert(
    testItem(id, {
      source,
      published: new Date(now - publishedAgoMs).toISOString(),
      fetchedAt: new Date(now - 2_000).toISOString()
    }),
    { classification: classificationFixture({ score: 1 }), decidedAt: new Date(now - 1_000).toISOString() }
  )
}

describe("assess", () => {
  const completed = (at: number, failedFeed = false) => ({
    cycles: 1,
    consecutiveEmpty: 0,
    lastResult: Option.some({
      at,
      result: {
        _tag: "Completed" as const,
        summary: {
          startedAt: "",
          durationMs: 5,
          feeds: [
            {
              name: "Wire",
              url: "",
              status: failedFeed
                ? { _tag: "Failed" as const, reason: "HTTP 500" }
                : { _tag: "Ok" as const, items: 1, fresh: 1 }
            }
          ],
          fetched: 1,
          new: 1,
          alerted: 0,
          outcomes: [],
          notes: []
        }
      }
    }),
    sources: [
      {
        ...initialSourceState("Wire"),
        intervalSeconds: 2,
        polls: 1,
        lastPollAt: at,
        consecutiveFailures: failedFeed ? 1 : 0,
        lastError: failedFeed ? "HTTP 500" : null
      }
    ]
  })
  const base = {
    now: 100_000,
    staleAfterSeconds: 60,
    cycleTimeoutSeconds: 30,
    breakers: [],
    oldestPendingAgeSeconds: null
  }

  it("is unhealthy when the loop has stalled", () => {
    expect(assess({ ...base, state: completed(0) })).toEqual({
      status: "unhealthy",
      problems: ["the last cycle finished 100 s ago (limit 60 s)", "feed Wire was last polled 100 s ago (limit 34 s)"]
    })
  })

  it("is only degraded by an open breaker or a stuck outbox", () => {
    const verdict = assess({
      ...base,
      state: completed(99_000),
      breakers: [{ name: "quotes", state: { _tag: "Open", until: 0, opened: 1, lastError: "boom" } }],
      oldestPendingAgeSeconds: 1_200
    })
    expect(verdict.status).toBe("degraded")
    expect(verdict.problems).toEqual(["breaker quotes is open", "an alert has waited 1200 s for delivery"])
  })

  it("is unhealthy when a feed failed in its last poll", () => {
    expect(assess({ ...base, state: completed(99_000, true) }).problems).toEqual(["feed Wire failed: HTTP 500"])
  })

  it("is unhealthy when one source's poller has stopped polling while the others go on", () => {
    const state = completed(99_000)
    const hung = { ...initialSourceState("Hung"), intervalSeconds: 2, polls: 3, lastPollAt: 60_000 }
    expect(assess({ ...base, state: { ...state, sources: [...state.sources, hung] } }).problems).toEqual([
      "feed Hung was last polled 40 s ago (limit 34 s)"
    ])
  })
})
