import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Metric } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import * as DiscordSink from "../src/Delivery/AlertSink/Discord.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import { DiscordWebhooks } from "../src/Delivery/Discord/DiscordWebhooks.js"
import { EditOutbox } from "../src/Delivery/EditOutbox.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { routeAlerts, RouteHealth } from "../src/Delivery/RouteHealth.js"
import { AdminChannel, AdminQueue } from "../src/Kernel/AdminChannel.js"
import { AlertLatency } from "../src/Kernel/AlertLatency.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { ChartOutcome } from "../src/Kernel/Domain.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { applyCycleCap } from "../src/MarketData/Filters.js"
import { type FakeDiscord, makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture, classificationFixture } from "./support/Alerts.js"
import { eventually } from "./support/Eventually.js"
import { tempDataConfig } from "./support/TestLayers.js"
import { DatabaseWatch } from "../src/Kernel/DatabaseWatch.js"

const ids = { fda: "100000000000000001", offerings: "100000000000000002", firehose: "100000000000000003" }
const role = "222222222222222222"

const routesFile = (fake: FakeDiscord) => {
  const path = join(mkdtempSync(join(tmpdir(), "routes-")), "routes.json")
  writeFileSync(
    path,
    JSON.stringify({
      routes: [
        {
          name: "fda",
          webhook: fake.webhookUrl(ids.fda, "fda-token"),
          mentions: [role],
          thread_id: "333333333333333333",
          match: { categories: ["fda_approval"] }
        },
        { name: "offerings", webhook: fake.webhookUrl(ids.offerings, "offer-token"), match: { sentiment: "positive" } },
        { name: "firehose", webhook: fake.webhookUrl(ids.firehose, "fire-token") }
      ]
    })
  )
  return path
}

const layerFor = (routes: string, settings: Record<string, string | number> = {}) =>
  Delivery.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(Layer.merge(DiscordSink.routedLayer, RouteHealth.Default)),
    Layer.provideMerge(
      Layer.mergeAll(
        Outbox.Default,
        EditOutbox.Default,
        ChartRenderer.Test({ forAlert: () => Effect.succeed<ChartOutcome>({ _tag: "NoBars" }) }),
        AdminChannel.Default,
        AdminQueue.Default,
        DiscordWebhooks.Default,
        ErrorTracker.Default,
        AlertLatency.Default,
        DatabaseWatch.Default
      )
    ),
    Layer.provideMerge(Layer.mergeAll(NodeHttpClient.layerUndici, SqlLive, StatusBoard.Default, AppConfig.Default)),
    Layer.provide(tempDataConfig({ DELIVERY_RETRY_BASE_SECONDS: 0.05, ROUTES_FILE: routes, ...settings }))
  )

const withRoutes = <A, E, R>(
  body: (fake: FakeDiscord) => Effect.Effect<A, E, R>,
  options: Parameters<typeof makeFakeDiscord>[0] = { limit: 5, windowMs: 200 }
) =>
  Effect.gen(function* () {
    const fake = yield* makeFakeDiscord(options)
    return yield* body(fake).pipe(Effect.provide(layerFor(routesFile(fake))))
  }).pipe(Effect.scoped)

const fdaAlert = (n: number) =>
  alertFixture(n, { classification: classificationFixture({ categories: ["fda_approval"], sentiment: 0.8 }) })

describe("routes", () => {
  it.live("one alert to three routes: each webhook gets it once, the role ping only where configured", () =>
    withRoutes((fake) =>
      Effect.gen(function* () {
        const outbox = yield* Outbox
        const delivery = yield* Delivery
        const negative = alertFixture(2, { classification: classificationFixture({ sentiment: -0.5 }) })
        yield* outbox.enqueue([fdaAlert(1), negative])
        const report = yield* delivery.awaitSettled(0, Duration.seconds(20))
        expect(report).toMatchObject({ delivered: 4, failed: 0, timedOut: false })

        const to = (id: string) => fake.messages.filter((message) => message.webhookId === id)
        expect(to(ids.fda)).toHaveLength(1)
        expect(to(ids.offerings)).toHaveLength(1)
        expect(to(ids.firehose)).toHaveLength(2)
        expect(to(ids.fda)[0]!.pinged).toEqual([`<@&${role}>`])
        expect(to(ids.fda)[0]!.payload["allowed_mentions"]).toEqual({ parse: [], roles: [role] })
        expect(to(ids.fda)[0]!.threadId).toBe("333333333333333333")
        for (const message of [...to(ids.offerings), ...to(ids.firehose)]) {
          expect(message.pinged).toEqual([])
          expect(message.payload["allowed_mentions"]).toEqual({ parse: [] })
          expect(message.payload["content"]).toBeUndefined()
        }

        // Enqueued again (a replay), nothing new: each (item, route) is one row.
        yield* outbox.enqueue([fdaAlert(1)])
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ route: string; item_id: string }>`SELECT route, item_id FROM outbox ORDER BY id`
        expect(rows).toEqual([
          { route: "fda", item_id: "item-1" },
          { route: "offerings", item_id: "item-1" },
          { route: "firehose", item_id: "item-1" },
          { route: "firehose", item_id: "item-2" }
        ])
        // The webhook URLs (tokens) are never stored.
        const stored = yield* sql<{ payload: string }>`SELECT payload FROM outbox`
        expect(stored.map((row) => row.payload).join()).not.toMatch(/token/)
      })
    )
  )

  it.live("ALERTS_PER_TICKER_PER_MINUTE holds per route: each channel gets its share, not a third of it", () =>
    Effect.gen(function* () {
      const fake = yield* makeFakeDiscord({ limit: 5, windowMs: 200 })
      const sameTicker = (n: number) => ({ ...fdaAlert(n), ticker: { symbol: "SAME", exchange: "NASDAQ" } })
      yield* Effect.gen(function* () {
        const outbox = yield* Outbox
        const delivery = yield* Delivery
        // Two alerts for one ticker, each on fda, offerings and firehose: six rows, two per route.
        yield* outbox.enqueue([sameTicker(1), sameTicker(2)])
        const report = yield* delivery.awaitSettled(0, Duration.seconds(20))
        expect(report).toMatchObject({ delivered: 6, timedOut: false })
        for (const id of [ids.fda, ids.offerings, ids.firehose]) {
          const embeds = fake.messages
            .filter((message) => message.webhookId === id)
            .flatMap((message) => message.payload["embeds"] as Array<unknown>)
          expect(embeds).toHaveLength(2)
        }
        // A third within the minute is over the cap on every route: held back until the minute is up.
        yield* outbox.enqueue([sameTicker(3)])
        yield* delivery.awaitSettled(0, Duration.seconds(2))
        const sql = yield* SqlClient.SqlClient
        const third = yield* sql<{ status: string }>`SELECT status FROM outbox WHERE item_id = 'item-3'`
        expect(third.map((row) => row.status)).toEqual(["pending", "pending", "pending"])
        expect(fake.messages.flatMap((message) => message.payload["embeds"] as Array<unknown>)).toHaveLength(6)
      }).pipe(Effect.provide(layerFor(routesFile(fake), { ALERTS_PER_TICKER_PER_MINUTE: 2 })))
    }).pipe(Effect.scoped)
  )

  it.live("a route whose webhook answers 404 is disabled alone, and admin is told", () =>
    withRoutes((fake) =>
      Effect.gen(function* () {
        fake.deleteWebhook(ids.offerings)
        const outbox = yield* Outbox
        const delivery = yield* Delivery
        yield* outbox.enqueue([fdaAlert(1), fdaAlert(2)])
        const report = yield* delivery.awaitSettled(0, Duration.seconds(20))
        expect(report).toMatchObject({ delivered: 4, timedOut: false })
        const embedsTo = (id: string) =>
          fake.messages
            .filter((message) => message.webhookId === id)
            .flatMap((message) => message.payload["embeds"] as Array<unknown>)
        expect(embedsTo(ids.fda)).toHaveLength(2)
        expect(embedsTo(ids.firehose)).toHaveLength(2)
        // The dead webhook was asked once; its second alert failed without a request.
        expect(fake.requests.filter((request) => request.webhookId === ids.offerings)).toHaveLength(1)
        const sql = yield* SqlClient.SqlClient
        const offerings = yield* sql<{ status: string }>`SELECT status FROM outbox WHERE route = 'offerings'`
        expect(offerings.map((row) => row.status)).toEqual(["dead", "dead"])

        const queue = yield* AdminQueue
        const notices: Array<string> = []
        for (;;) {
          const next = yield* queue.take.pipe(Effect.timeoutOption(Duration.millis(200)))
          if (next._tag === "None") break
          if (next.value._tag === "Notice") notices.push(next.value.event.title)
        }
        expect(notices).toContain("route offerings disabled")
      })
    )
  )

  it.live("routes whose webhooks report one X-RateLimit-Bucket share its limit: no 429", () =>
    withRoutes(
      (fake) =>
        Effect.gen(function* () {
          const outbox = yield* Outbox
          const delivery = yield* Delivery
          // Each alert takes all three routes, one at a time (no packing): 18 requests against one bucket of 5 per s.
          for (let n = 1; n <= 6; n++) {
            yield* outbox.enqueue([fdaAlert(n)])
            expect(yield* delivery.awaitSettled(0, Duration.seconds(30))).toMatchObject({ failed: 0, timedOut: false })
          }
          expect(fake.requests.filter((request) => request.status === 429)).toEqual([])
          for (const id of Object.values(ids))
            expect(fake.messages.filter((message) => message.webhookId === id)).toHaveLength(6)
        }),
      {
        limit: 5,
        windowMs: 1_000,
        sharedBuckets: { [ids.fda]: "shared", [ids.offerings]: "shared", [ids.firehose]: "shared" }
      }
    )
  )

  it.live("each route's delivered, deferred, failed, 429s and headroom, under its name and never its URL", () =>
    withRoutes((fake) =>
      Effect.gen(function* () {
        fake.rateLimitNext(1, 100, ids.offerings)
        fake.deleteWebhook(ids.fda)
        const outbox = yield* Outbox
        const delivery = yield* Delivery
        yield* outbox.enqueue([fdaAlert(1)])
        yield* delivery.awaitSettled(0, Duration.seconds(20))
        const report = yield* (yield* RouteHealth).report()
        expect(report).toEqual([
          { route: "fda", delivered: 0, deferred: 0, failed: 1, rateLimited: 0, headroom: expect.anything() },
          {
            route: "offerings",
            delivered: 1,
            deferred: 0,
            failed: 0,
            rateLimited: 1,
            headroom: { remaining: expect.any(Number), limit: 5, resetAfterMs: expect.any(Number) }
          },
          { route: "firehose", delivered: 1, deferred: 0, failed: 0, rateLimited: 0, headroom: expect.anything() }
        ])
        expect(JSON.stringify(report)).not.toMatch(/token|webhooks/)
        yield* (yield* RouteHealth).sample()
        const gauge = Metric.tagged(Metric.tagged(routeAlerts, "route", "offerings"), "state", "delivered")
        expect((yield* Metric.value(gauge)).value).toBe(1)
      })
    )
  )

  it.live("a route told to wait by a 429 holds up no other route: theirs go, its own goes after the wait", () =>
    withRoutes((fake) =>
      Effect.gen(function* () {
        fake.rateLimitNext(1, 8_000, ids.firehose)
        const outbox = yield* Outbox
        const delivery = yield* Delivery
        const titles = (id: string) =>
          fake.messages
            .filter((message) => message.webhookId === id)
            .flatMap((message) => (message.payload["embeds"] as Array<{ title: string }>).map((embed) => embed.title))
        yield* Effect.forkScoped(delivery.loop)
        yield* outbox.enqueue([fdaAlert(1)])
        yield* eventually("the firehose's 429", () => fake.requests.some((request) => request.status === 429))
        yield* outbox.enqueue([fdaAlert(2), fdaAlert(3)])
        yield* eventually(
          "fda and offerings to get all three",
          () => titles(ids.fda).length === 3 && titles(ids.offerings).length === 3,
          "5 seconds"
        )
        // Still inside the firehose's 8 s: nothing reached it yet.
        expect(titles(ids.firehose)).toEqual([])
        // After its wait, the firehose gets all three, in the order they were queued.
        yield* eventually("the firehose's three", () => titles(ids.firehose).length === 3, "20 seconds")
        expect(titles(ids.firehose)).toEqual(titles(ids.fda))
      })
    )
  )

  it.live("routes' webhooks are sent to side by side: a slow answer on one route holds up no other route", () =>
    withRoutes(
      (fake) =>
        Effect.gen(function* () {
          const outbox = yield* Outbox
          const delivery = yield* Delivery
          yield* outbox.enqueue([fdaAlert(1)])
          const report = yield* delivery.awaitSettled(0, Duration.seconds(20))
          expect(report).toMatchObject({ delivered: 3, failed: 0, timedOut: false })
          // Each answer takes a second: one request at a time would land them at least a second apart.
          const answered = fake.messages.map((message) => message.at)
          expect(new Set(fake.messages.map((message) => message.webhookId)).size).toBe(3)
          expect(Math.max(...answered) - Math.min(...answered)).toBeLessThan(1_000)
        }),
      { limit: 5, windowMs: 200, latencyMs: 1_000 }
    )
  )

  it.live("an alert no route takes is not queued, and its outcome says why", () =>
    Effect.gen(function* () {
      const fake = yield* makeFakeDiscord()
      const path = join(mkdtempSync(join(tmpdir(), "routes-")), "routes.json")
      writeFileSync(
        path,
        JSON.stringify({ routes: [{ name: "fda", webhook: fake.webhookUrl(ids.fda), match: { tickers: ["ZZZ"] } }] })
      )
      yield* Effect.gen(function* () {
        const outbox = yield* Outbox
        const queued = yield* outbox.enqueue([alertFixture(1)])
        expect(queued.unrouted).toEqual(["item-1"])
        const { outcomes } = applyCycleCap(
          [{ itemId: "item-1", source: "GlobeNewswire", title: "Headline 1", outcome: "alerted", reason: null }],
          queued,
          0
        )
        expect(outcomes[0]).toMatchObject({ outcome: "filtered", reason: "no route of ROUTES_FILE matches it" })
        expect(yield* outbox.pendingCount).toBe(0)
      }).pipe(Effect.provide(layerFor(path)))
    }).pipe(Effect.scoped)
  )

  it.live("SOURCE_MAX_ALERTS_PER_MINUTE counts a source's alerts, not their copies on each route", () =>
    Effect.gen(function* () {
      const fake = yield* makeFakeDiscord()
      yield* Effect.gen(function* () {
        const outbox = yield* Outbox
        const cap = { maxPerCycle: 0, overflow: "drop", perSource: { perPoll: 0, perMinute: 5 } } as const
        // Every alert here goes to the firehose and the offerings route: two rows each.
        const first = yield* outbox.enqueue(
          [1, 2, 3].map((n) => alertFixture(n)),
          cap
        )
        expect(first.overSourceCap ?? []).toEqual([])
        const second = yield* outbox.enqueue(
          [4, 5, 6].map((n) => alertFixture(n)),
          cap
        )
        expect(second.overSourceCap).toHaveLength(1)
        expect(yield* outbox.pendingCount).toBe(10)
      }).pipe(Effect.provide(layerFor(routesFile(fake), { SOURCE_MAX_ALERTS_PER_MINUTE: 5 })))
    }).pipe(Effect.scoped)
  )
})
