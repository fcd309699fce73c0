import { HttpClient, HttpServer } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Layer, Option, Redacted, TestClock } from "effect"
import { AdminChannel, AdminQueue } from "../src/Kernel/AdminChannel.js"
import { AdminHeartbeat } from "../src/App/AdminHeartbeat.js"
import { AlertLatency } from "../src/Kernel/AlertLatency.js"
import { AlertSink } from "../src/Delivery/AlertSink.js"
import * as DiscordSink from "../src/Delivery/AlertSink/Discord.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { Breakers } from "../src/Kernel/Breakers.js"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import { DeliveryHealth, type SinkHealth } from "../src/Delivery/DeliveryHealth.js"
import { DiscordWebhooks } from "../src/Delivery/Discord/DiscordWebhooks.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { assess, HealthCheck, type HealthReport, healthRouter } from "../src/App/HealthCheck.js"
import { MetricsExporter } from "../src/App/MetricsExporter.js"
import { RouteHealth } from "../src/Delivery/RouteHealth.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { EditOutbox } from "../src/Delivery/EditOutbox.js"
import { Runner, type RunnerState } from "../src/Runner/Runner.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture } from "./support/Alerts.js"
import { tempDataConfig } from "./support/TestLayers.js"
import { DatabaseWatch } from "../src/Kernel/DatabaseWatch.js"

const webhookId = "222222222222222222"

/** A runner whose last cycle always just completed with every feed ok: only delivery can spoil /health. */
const completedAt = (at: number): RunnerState => ({
  cycles: 1,
  consecutiveEmpty: 0,
  lastResult: Option.some({
    at,
    result: {
      _tag: "Completed",
      summary: {
        startedAt: "",
        durationMs: 5,
        feeds: [{ name: "Wire", url: "", status: { _tag: "Ok", items: 1, fresh: 1 } }],
        fetched: 1,
        new: 1,
        alerted: 1,
        outcomes: [],
        notes: []
      }
    }
  }),
  sources: []
})
const FreshRunner = Runner.Test({ state: Effect.map(Clock.currentTimeMillis, completedAt) })
const NoCharts = ChartRenderer.Test({ forAlert: () => Effect.succeed({ _tag: "NoBars" } as const) })

/** The health router over the real Discord sink, Delivery and outbox, pointed at a fake Discord. */
const healthServer = (webhookUrl: string) =>
  HttpServer.serve(healthRouter).pipe(
    Layer.provideMerge(
      Layer.mergeAll(HealthCheck.DefaultWithoutDependencies, MetricsExporter.DefaultWithoutDependencies)
    ),
    Layer.provideMerge(Delivery.DefaultWithoutDependencies),
    Layer.provideMerge(DiscordSink.layer(Redacted.make(webhookUrl))),
    Layer.provideMerge(
      Layer.mergeAll(
        FreshRunner,
        Outbox.Default,
        EditOutbox.Default,
        NoCharts,
        AdminChannel.Default,
        DatabaseWatch.Default,
        AdminQueue.Default,
        ErrorTracker.Default,
        AlertLatency.Default,
        Breakers.Default,
        StatusBoard.Default,
        DeliveryHealth.Default,
        RouteHealth.Default,
        // The test server's client prefixes its own address; Discord is reached with a plain one.
        DiscordWebhooks.Default.pipe(Layer.provide(NodeHttpClient.layerUndici))
      )
    ),
    Layer.provideMerge(Layer.mergeAll(SqlLive, AppConfig.Default)),
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provide(tempDataConfig({ DELIVERY_RETRY_BASE_SECONDS: 1 }))
  )

const getHealth = Effect.gen(function* () {
  const response = yield* (yield* HttpClient.HttpClient).get("/health")
  return { status: response.status, body: (yield* response.json) as HealthReport }
})

const getMetrics = Effect.flatMap(HttpClient.HttpClient, (client) =>
  Effect.flatMap(client.get("/metrics"), (response) => response.text)
)

const send = (n: number) =>
  Effect.flatMap(AlertSink, (sink) => Effect.either(sink.send(alertFixture(n), { _tag: "NoBars" })))

describe("/health tells the truth about delivery", () => {
  it.scoped("a deleted webhook (404 / 10015) makes /health 503, naming it", () =>
    Effect.gen(function* () {
      const fake = yield* makeFakeDiscord()
      fake.deleteWebhook(webhookId)
      yield* Effect.gen(function* () {
        expect((yield* getHealth).status).toBe(200)
        yield* (yield* Outbox).enqueue([alertFixture(1), alertFixture(2)])
        yield* (yield* Delivery).drainOnce()
        const { status, body } = yield* getHealth
        expect(status).toBe(503)
        expect(body.status).toBe("unhealthy")
        expect(body.problems).toEqual([
          "Discord webhook answers 404 Unknown Webhook (code 10015): alerts can't be delivered"
        ])
        expect(body.delivery).toMatchObject([{ sink: "Discord", status: "unhealthy", lastSuccessAt: null }])
        expect(body.outbox.counts).toMatchObject({ pending: 2, delivered: 0 })
      }).pipe(Effect.provide(healthServer(fake.webhookUrl(webhookId))))
    })
  )

  it.scoped("5xx for a minute and more is unhealthy, shorter only degraded; one success makes it ok again", () =>
    Effect.gen(function* () {
      const fake = yield* makeFakeDiscord({ limit: 50 })
      fake.failNext(3, 503)
      yield* Effect.gen(function* () {
        expect((yield* send(1))._tag).toBe("Left")
        yield* TestClock.adjust("30 seconds")
        expect((yield* send(2))._tag).toBe("Left")
        const blip = yield* getHealth
        expect(blip.status).toBe(200)
        expect(blip.body.status).toBe("degraded")
        expect(blip.body.problems).toEqual([
          "Discord failing for 30 s (2 failed send(s) in a row; last: webhook alerts: HTTP 503)"
        ])

        yield* TestClock.adjust("60 seconds")
        expect((yield* send(3))._tag).toBe("Left")
        const outage = yield* getHealth
        expect(outage.status).toBe(503)
        expect(outage.body.problems).toEqual([
          "Discord failing for 90 s (3 failed send(s) in a row; last: webhook alerts: HTTP 503)"
        ])
        expect(outage.body.delivery).toMatchObject([
          { sink: "Discord", status: "unhealthy", consecutiveFailures: 3, failingForSeconds: 90 }
        ])

        yield* TestClock.adjust("5 seconds")
        expect((yield* send(4))._tag).toBe("Right")
        const recovered = yield* getHealth
        expect(recovered.status).toBe(200)
        expect(recovered.body).toMatchObject({ status: "ok", problems: [] })
        expect(recovered.body.delivery).toMatchObject([
          { sink: "Discord", status: "ok", consecutiveFailures: 0, failingForSeconds: null, lastError: null }
        ])
        expect(recovered.body.delivery[0]?.lastSuccessAt).toBe(new Date(95_000).toISOString())
      }).pipe(Effect.provide(healthServer(fake.webhookUrl(webhookId))))
    })
  )

  it.scoped("uncertain, expired and dead-lettered rows are counted in /health and in /metrics by status", () =>
    Effect.gen(function* () {
      const fake = yield* makeFakeDiscord()
      yield* Effect.gen(function* () {
        const outbox = yield* Outbox
        const sql = yield* SqlClient.SqlClient
        yield* outbox.enqueue([1, 2, 3, 4, 5].map((n) => alertFixture(n)))
        yield* outbox.deadLetter(1, "HTTP 400")
        yield* outbox.markSending(2)
        yield* outbox.parkInFlight()
        yield* sql`UPDATE outbox SET status = 'expired' WHERE id IN (3, 4)`

        const { body } = yield* getHealth
        expect(body.outbox).toMatchObject({
          depth: 1,
          counts: { pending: 1, dead: 1, uncertain: 1, expired: 2, delivered: 0 }
        })
        const metrics = yield* getMetrics
        const rows = (status: string) =>
          metrics.split("\n").find((line) => line.startsWith(`outbox_rows{status="${status}"} `))
        expect(rows("dead")).toBe('outbox_rows{status="dead"} 1')
        expect(rows("uncertain")).toBe('outbox_rows{status="uncertain"} 1')
        expect(rows("expired")).toBe('outbox_rows{status="expired"} 2')
        expect(rows("pending")).toBe('outbox_rows{status="pending"} 1')
      }).pipe(Effect.provide(healthServer(fake.webhookUrl(webhookId))))
    })
  )

  it.scoped("the heartbeat carries the dead, expired and uncertain counts and a sink that can't deliver", () =>
    Effect.gen(function* () {
      const fake = yield* makeFakeDiscord()
      fake.deleteWebhook(webhookId)
      const layer = AdminHeartbeat.pipe(
        Layer.provideMerge(DiscordSink.layer(Redacted.make(fake.webhookUrl(webhookId)))),
        Layer.provideMerge(
          Layer.mergeAll(
            Runner.Test({ state: Effect.succeed(completedAt(0)) }),
            Outbox.Default,
            EditOutbox.Default,
            AdminQueue.Default,
            AdminChannel.Default,
            StatusBoard.Default,
            AlertLatency.Default,
            DiscordWebhooks.Default
          )
        ),
        Layer.provideMerge(Layer.mergeAll(SqlLive, AppConfig.Default, NodeHttpClient.layerUndici)),
        Layer.provide(tempDataConfig({ ADMIN_HEARTBEAT_MINUTES: 1 }))
      )
      yield* Effect.gen(function* () {
        const outbox = yield* Outbox
        const sql = yield* SqlClient.SqlClient
        yield* outbox.enqueue([1, 2, 3].map((n) => alertFixture(n)))
        yield* outbox.deadLetter(1, "HTTP 400")
        yield* outbox.markSending(2)
        yield* outbox.parkInFlight()
        yield* sql`UPDATE outbox SET status = 'expired' WHERE id = 3`
        expect((yield* send(4))._tag).toBe("Left")
        yield* TestClock.adjust("1 minute")
        const message = yield* (yield* AdminQueue).take
        expect(message).toMatchObject({ _tag: "Notice", event: { title: "heartbeat" } })
        const detail = message._tag === "Notice" ? message.event.detail : ""
        expect(detail).toContain("dead-lettered 1, expired 1, uncertain 1")
        expect(detail).toContain(
          "Discord: Discord webhook answers 404 Unknown Webhook (code 10015): alerts can't be delivered"
        )
        // The one implicit route: its own line, counted from the outbox.
        expect(detail).toMatch(/^route default: 0 delivered, \d+ deferred, 3 failed, 0 429s/m)
      }).pipe(Effect.provide(layer))
    })
  )
})

describe("sink verdicts", () => {
  const sink = (overrides: Partial<SinkHealth>): SinkHealth => ({
    sink: "Discord",
    lastSuccessAt: null,
    consecutiveFailures: 0,
    failingSince: null,
    lastError: null,
    unusable: null,
    ...overrides
  })
  const base = {
    now: 100_000,
    staleAfterSeconds: 600,
    cycleTimeoutSeconds: 30,
    breakers: [],
    oldestPendingAgeSeconds: null
  }
  const state = completedAt(99_000)

  it("a wrong token (401) is unhealthy, named; failing under a minute only degrades", () => {
    const unauthorized = sink({ unusable: DiscordSink.describeUnusable(401, 0) })
    expect(assess({ ...base, state, sinks: [unauthorized] })).toEqual({
      status: "unhealthy",
      problems: ["Discord webhook answers 401 Unauthorized: alerts can't be delivered"]
    })
    const failing = (since: number) =>
      assess({ ...base, state, sinks: [sink({ consecutiveFailures: 4, failingSince: since, lastError: "HTTP 502" })] })
    expect(failing(41_000)).toEqual({
      status: "degraded",
      problems: ["Discord failing for 59 s (4 failed send(s) in a row; last: HTTP 502)"]
    })
    expect(failing(40_000).status).toBe("unhealthy")
    expect(assess({ ...base, state, sinks: [sink({ lastSuccessAt: 90_000 })] }).status).toBe("ok")
  })
})
