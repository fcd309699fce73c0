import { AlertLatency } from "../src/Kernel/AlertLatency.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, Option, Redacted } from "effect"
import { AdminChannel, AdminQueue } from "../src/Kernel/AdminChannel.js"
import * as DiscordSink from "../src/Delivery/AlertSink/Discord.js"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import { DiscordWebhooks } from "../src/Delivery/Discord/DiscordWebhooks.js"
import type { Alert, ChartOutcome } from "../src/Kernel/Domain.js"
import { applyCycleCap } from "../src/MarketData/Filters.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { EditOutbox } from "../src/Delivery/EditOutbox.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { DiscordStatus } from "../src/Delivery/Discord/DiscordRateLimiter.js"
import { type FakeDiscord, makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture } from "./support/Alerts.js"
import { embedsOf } from "./support/DeliveryHarness.js"
import { tempDataConfig } from "./support/TestLayers.js"
import { DatabaseWatch } from "../src/Kernel/DatabaseWatch.js"

const token = "s3cret-token-value"

/** Even-numbered items get a rendered chart, so both JSON and multipart bodies are exercised. */
const ChartsTest = ChartRenderer.Test({
  forAlert: (alert: Alert) =>
    Effect.succeed<ChartOutcome>(
      Number(alert.item.id.split("-")[1]) % 2 === 0
        ? { _tag: "Rendered", chart: { filename: `${alert.ticker.symbol}.png`, png: new Uint8Array(2048).fill(7) } }
        : { _tag: "NoBars" }
    )
})

const deliveryLayer = (url: string, config: Record<string, string | number> = {}) =>
  Delivery.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(DiscordSink.layer(Redacted.make(url))),
    Layer.provideMerge(
      Layer.mergeAll(
        Outbox.Default,
        EditOutbox.Default,
        ChartsTest,
        AdminChannel.Default,
        AdminQueue.Default,
        DiscordWebhooks.Default,
        ErrorTracker.Default,
        AlertLatency.Default,
        DatabaseWatch.Default
      )
    ),
    Layer.provideMerge(Layer.mergeAll(NodeHttpClient.layerUndici, SqlLive, StatusBoard.Default, AppConfig.Default)),
    Layer.provide(tempDataConfig({ DELIVERY_RETRY_BASE_SECONDS: 0.05, ...config }))
  )

/** Runs `body` against a fresh fake Discord and a fresh outbox; logs are captured for secret checks. */
const withDelivery = <A, E, R>(
  options: { readonly fake?: Parameters<typeof makeFakeDiscord>[0]; readonly config?: Record<string, string | number> },
  body: (fake: FakeDiscord, logs: Array<string>) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function* () {
    const fake = yield* makeFakeDiscord(options.fake)
    const logs: Array<string> = []
    const capture = Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ message, cause }) => logs.push(JSON.stringify(message) + String(cause)))
    )
    return yield* body(fake, logs).pipe(
      Effect.provide(deliveryLayer(fake.webhookUrl("111111111111111111", token), options.config)),
      Effect.provide(capture)
    )
  }).pipe(Effect.scoped)

const statuses = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  return yield* sql<{
    id: number
    status: string
    attempts: number
    message_id: string | null
    last_error: string | null
  }>`
    SELECT id, status, attempts, message_id, last_error FROM outbox ORDER BY id`
})

describe("Discord delivery", () => {
  it.live(
    "delivers a burst of 100 alerts completely, exactly once, in order, packed, without 429s after discovery",
    () =>
      withDelivery({ fake: { limit: 5, windowMs: 200 } }, (fake) =>
        Effect.gen(function* () {
          const outbox = yield* Outbox
          const delivery = yield* Delivery
          yield* outbox.enqueue(Array.from({ length: 100 }, (_, i) => alertFixture(i)))
          const report = yield* delivery.awaitSettled(0, Duration.seconds(30))
          expect(report).toMatchObject({ delivered: 100, deferred: 0, failed: 0, timedOut: false })

          // More alerts than the bucket lets go at once: they share messages, in order.
          const embeds = embedsOf(fake.messages)
          expect(embeds.map((embed) => embed.title)).toEqual(
            Array.from({ length: 100 }, (_, i) => `T${i} (NASDAQ) — Headline ${i}`)
          )
          expect(fake.messages.length).toBeLessThanOrEqual(20)
          const rateLimited = fake.requests.filter((r) => r.status === 429)
          expect(rateLimited.length).toBeLessThanOrEqual(1)
          expect(fake.requests.filter((r) => r.status === 400)).toEqual([])
          // Charts ride along as files[n], each referenced by its own embed.
          const withChart = fake.messages.filter((m) => m.multipart)
          expect(withChart.flatMap((m) => m.files)).toHaveLength(50)
          for (const message of withChart) {
            message.files.forEach((file, index) =>
              expect(file).toEqual({
                field: `files[${index}]`,
                filename: expect.stringMatching(/\.png$/),
                contentType: "image/png",
                size: 2048
              })
            )
            const images = (message.payload["embeds"] as Array<{ image?: { url: string } }>).flatMap(
              (embed) => embed.image?.url ?? []
            )
            expect(images).toEqual(message.files.map((file) => `attachment://${file.filename}`))
          }
          // ?wait=true: each row holds the id of the message that carried it.
          const rows = yield* statuses
          expect(rows.map((r) => r.message_id)).toEqual(embeds.map((embed) => embed.messageId))
          const status = yield* (yield* StatusBoard).get(DiscordStatus)
          expect(Option.getOrNull(status)?.webhooks).toEqual([
            expect.objectContaining({ label: "alerts", discovered: true })
          ])
        })
      ),
    30_000
  )

  it.live("mention injection in feed text pings no one", () =>
    withDelivery({}, (fake) =>
      Effect.gen(function* () {
        const injected = alertFixture(1)
        yield* (yield* Outbox).enqueue([
          {
            ...injected,
            item: { ...injected.item, title: "@everyone @here <@123> <@&456> buy now", summary: "@everyone" }
          }
        ])
        yield* (yield* Delivery).awaitSettled(0, Duration.seconds(5))
        expect(fake.messages).toHaveLength(1)
        expect(fake.messages[0]!.payload["allowed_mentions"]).toEqual({ parse: [] })
        expect(fake.messages[0]!.pinged).toEqual([])
      })
    )
  )

  it.live("waits out a global 429 (fractional retry_after) and sends again", () =>
    withDelivery({}, (fake) =>
      Effect.gen(function* () {
        fake.blockGloballyFromNextRequest(1_500)
        yield* (yield* Outbox).enqueue([alertFixture(1), alertFixture(2), alertFixture(3)])
        const report = yield* (yield* Delivery).awaitSettled(0, Duration.seconds(5))
        expect(report.delivered).toBe(3)
        expect(fake.requests.filter((r) => r.scope === "global")).toHaveLength(1)
        expect(embedsOf(fake.messages)).toHaveLength(3)
      })
    )
  )

  it.live("a deleted webhook (404 / 10015) is never used again, the admin is told, alerts stay queued", () =>
    withDelivery({}, (fake, logs) =>
      Effect.gen(function* () {
        fake.deleteWebhook("111111111111111111")
        const delivery = yield* Delivery
        yield* (yield* Outbox).enqueue([alertFixture(1), alertFixture(2)])
        const report = yield* delivery.awaitSettled(0, Duration.seconds(5))
        expect(report).toMatchObject({ delivered: 0, deferred: 2, failed: 0 })
        yield* delivery.drainOnce()
        expect(fake.requests).toHaveLength(1)
        const notice = yield* (yield* AdminQueue).take
        expect(notice).toMatchObject({ _tag: "Notice", event: { title: "discord alert webhook unusable" } })
        expect((yield* statuses).map((r) => r.status)).toEqual(["pending", "pending"])
        expect(logs.join("\n")).not.toContain(token)
      })
    )
  )

  it.live("a 400 / 50035 is dead-lettered at once with Discord's answer", () =>
    withDelivery({}, (fake) =>
      Effect.gen(function* () {
        fake.failNext(1, 400)
        yield* (yield* Outbox).enqueue([alertFixture(1), alertFixture(2)])
        const report = yield* (yield* Delivery).awaitSettled(0, Duration.seconds(5))
        expect(report).toMatchObject({ delivered: 1, failed: 1 })
        const [dead] = yield* statuses
        expect(dead).toMatchObject({ status: "dead", attempts: 1 })
        expect(dead!.last_error).toContain("scripted failure")
        expect(fake.requests.filter((r) => r.status === 400)).toHaveLength(1)
      })
    )
  )

  it.live("ALERTS_PER_TICKER_PER_MINUTE defers the excess by default", () =>
    withDelivery({ config: { ALERTS_PER_TICKER_PER_MINUTE: 2 } }, (fake) =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const delivery = yield* Delivery
        const same = (n: number) => ({ ...alertFixture(n), ticker: { symbol: "SAME", exchange: null } })
        yield* (yield* Outbox).enqueue([same(1), same(2), same(3), alertFixture(4)])
        // One pass over the due rows: the third SAME waits, the others don't wait for it.
        expect(yield* delivery.drainOnce()).toBe(4)
        expect(embedsOf(fake.messages).map((embed) => embed.title)).toEqual([
          "SAME — Headline 1",
          "SAME — Headline 2",
          "T4 (NASDAQ) — Headline 4"
        ])
        const rows = yield* statuses
        expect(rows.map((r) => r.status)).toEqual(["delivered", "delivered", "pending", "delivered"])
        // It is due a minute after the first SAME went out (packed: after the message was put together, just
        // before it left), so nothing is due now.
        const [deferred] = yield* sql<{ due: number; first: number }>`
          SELECT (SELECT next_attempt_at FROM outbox WHERE id = ${rows[2]!.id}) AS due,
                 (SELECT sending_at FROM outbox WHERE id = ${rows[0]!.id}) AS first`
        expect(deferred!.due - deferred!.first).toBeLessThanOrEqual(60_000)
        expect(deferred!.due - deferred!.first).toBeGreaterThan(55_000)
        expect(yield* delivery.drainOnce()).toBe(0)
      })
    )
  )

  it.live("ALERT_OVERFLOW=drop drops the excess, counted", () =>
    withDelivery({ config: { ALERTS_PER_TICKER_PER_MINUTE: 1, ALERT_OVERFLOW: "drop" } }, () =>
      Effect.gen(function* () {
        const same = (n: number) => ({ ...alertFixture(n), ticker: { symbol: "SAME", exchange: null } })
        yield* (yield* Outbox).enqueue([same(1), same(2)])
        const report = yield* (yield* Delivery).awaitSettled(0, Duration.seconds(5))
        expect(report).toMatchObject({ delivered: 1, dropped: 1, deferred: 0 })
      })
    )
  )

  it.live("MAX_ALERTS_PER_CYCLE defers the overflow to later cycles, oldest first", () =>
    withDelivery({}, () =>
      Effect.gen(function* () {
        const outbox = yield* Outbox
        const cap = { maxPerCycle: 2, overflow: "defer" } as const
        const first = yield* outbox.enqueue(
          [1, 2, 3, 4, 5].map((n) => alertFixture(n)),
          cap
        )
        expect(first).toEqual({ deferred: ["item-3", "item-4", "item-5"], dropped: [], released: 0 })
        const second = yield* outbox.enqueue([alertFixture(6)], cap)
        expect(second).toEqual({ deferred: ["item-6"], dropped: [], released: 2 })
        expect((yield* statuses).map((r) => r.status)).toEqual([
          "pending",
          "pending",
          "pending",
          "pending",
          "deferred",
          "deferred"
        ])
        const dropped = yield* outbox.enqueue([alertFixture(7), alertFixture(8), alertFixture(9)], {
          maxPerCycle: 3,
          overflow: "drop"
        })
        expect(dropped).toEqual({ deferred: [], dropped: ["item-8", "item-9"], released: 2 })

        const outcome = (id: string) => ({
          itemId: id,
          source: "s",
          title: id,
          outcome: "alerted" as const,
          reason: null
        })
        const applied = applyCycleCap([outcome("item-7"), outcome("item-8")], dropped, 3)
        expect(applied.outcomes.map((o) => o.outcome)).toEqual(["alerted", "filtered"])
        expect(applied.notes).toEqual([
          "2 alert(s) deferred by earlier cycles released",
          "2 alert(s) over MAX_ALERTS_PER_CYCLE=3 dropped"
        ])
      })
    )
  )
})
