import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Redacted } from "effect"
import { createServer, type Server, type Socket } from "node:net"
import type { AddressInfo } from "node:net"
import { Delivery } from "../src/Delivery/Delivery.js"
import { alertMessage } from "../src/Delivery/Discord/Embed.js"
import { DiscordWebhooks, type WebhookError } from "../src/Delivery/Discord/DiscordWebhooks.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { type FakeDiscord, type FakeDiscordOptions, makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture } from "./support/Alerts.js"
import {
  discordDelivery,
  embedOf,
  embedsOf,
  markedAsRepeat,
  outboxRecords,
  waitUntil
} from "./support/DeliveryHarness.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

const botToken = "bot-token-value"
const total = 25
const alerts = (from: number, count: number) => Array.from({ length: count }, (_, i) => alertFixture(from + i))
/** Discord's answer comes after this; the fake answers only once the bot has given up. */
const timeouts = { DISCORD_TIMEOUT_SECONDS: 0.2, DELIVERY_RETRY_BASE_SECONDS: 0.05 }
const roomy: FakeDiscordOptions = { limit: 1_000, windowMs: 1_000, globalPerSecond: 1_000 }

const withDelivery = <A, E, R>(
  fakeOptions: FakeDiscordOptions,
  config: (fake: FakeDiscord) => Record<string, string | number>,
  body: (fake: FakeDiscord) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function* () {
    const fake = yield* makeFakeDiscord(fakeOptions)
    const dir = yield* tempDir
    return yield* body(fake).pipe(
      Effect.provide(discordDelivery(fake.webhookUrl(), dir, { ...timeouts, ...config(fake) }))
    )
  })

const withBotToken = (fake: FakeDiscord) => ({
  DISCORD_BOT_TOKEN: botToken,
  DISCORD_CHANNEL_ID: "1",
  DISCORD_API_BASE_URL: fake.apiBaseUrl
})

const settle = (afterId = 0) =>
  Effect.flatMap(Delivery, (delivery) => delivery.awaitSettled(afterId, Duration.seconds(60)))

/** A port nothing listens on. */
const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Accepts connections and never says a word: a TLS handshake against it never completes. */
const silentServer = Effect.acquireRelease(
  Effect.async<{ server: Server; sockets: Set<Socket> }>((resume) => {
    const sockets = new Set<Socket>()
    const server = createServer((socket) => void sockets.add(socket))
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets })))
  }),
  ({ server, sockets }) =>
    Effect.async<void>((resume) => {
      sockets.forEach((socket) => socket.destroy())
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map(({ server }) => (server.address() as AddressInfo).port))

describe("what may have been sent is told apart from what surely wasn't", () => {
  it.scopedLive(
    "connection refused, a TLS handshake that never ends, a late answer, a 5xx, a 429, a 400",
    () =>
      Effect.gen(function* () {
        // A fake per case, so a request still being answered can't take the next case's scripted answer.
        const [late, failing, limited, rejecting] = yield* Effect.all([
          makeFakeDiscord(roomy),
          makeFakeDiscord(roomy),
          makeFakeDiscord(roomy),
          makeFakeDiscord(roomy)
        ])
        const closed = yield* freePort
        const silent = yield* silentServer
        const failure = (url: string) =>
          Effect.flatMap(DiscordWebhooks, (webhooks) =>
            webhooks.execute(
              { label: "alerts", url: Redacted.make(url) },
              alertMessage(alertFixture(1), { _tag: "NoBars" })
            )
          ).pipe(
            Effect.flip,
            Effect.map((error: WebhookError) => ({ ...error.failure, message: error.message }))
          )
        yield* Effect.gen(function* () {
          expect(yield* failure(`http://127.0.0.1:${closed}/api/webhooks/1/t`)).toEqual({
            _tag: "Transient",
            maybeSent: false,
            detail: "not sent: network error (ECONNREFUSED)",
            message: "webhook alerts: not sent: network error (ECONNREFUSED)"
          })
          expect(yield* failure(`https://127.0.0.1:${silent}/api/webhooks/1/t`)).toMatchObject({
            _tag: "Transient",
            maybeSent: false,
            detail: "not sent: no answer within DISCORD_TIMEOUT_SECONDS=2"
          })
          late.answerLate(1)
          expect(yield* failure(late.webhookUrl("2"))).toMatchObject({
            _tag: "Transient",
            maybeSent: true,
            detail: "sent, then no answer within DISCORD_TIMEOUT_SECONDS=2"
          })
          failing.failNext(1, 502)
          expect(yield* failure(failing.webhookUrl("3"))).toMatchObject({ _tag: "Transient", maybeSent: true })
          limited.failNext(1, 429)
          expect(yield* failure(limited.webhookUrl("4"))).toMatchObject({ _tag: "RateLimited" })
          rejecting.failNext(1, 400)
          expect(yield* failure(rejecting.webhookUrl("5"))).toMatchObject({ _tag: "Rejected", status: 400 })
          // The late answer did create its message, after the bot had stopped waiting; the others created none.
          yield* waitUntil("the late message", () => late.messages.length > 0)
          expect(late.messages.map((message) => message.webhookId)).toEqual(["2"])
          expect([failing, limited, rejecting].map((fake) => fake.messages.length)).toEqual([0, 0, 0])
        }).pipe(
          Effect.provide(
            DiscordWebhooks.Default.pipe(
              Layer.provide(NodeHttpClient.layerUndici),
              Layer.provide(configLayer({ DISCORD_TIMEOUT_SECONDS: 2 }))
            )
          )
        )
      }),
    30_000
  )

  it.scopedLive("a send that surely didn't leave (connection refused) is retried plainly, unmarked", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const dir = yield* tempDir
      yield* Effect.gen(function* () {
        yield* (yield* Outbox).enqueue([alertFixture(1)])
        expect(yield* (yield* Delivery).drainOnce()).toBe(1)
        expect(yield* outboxRecords).toMatchObject([{ status: "pending", attempts: 1, maybe_sent: 0 }])
        const fake = yield* makeFakeDiscord({ ...roomy, port })
        expect(yield* settle()).toMatchObject({ delivered: 1 })
        expect(fake.messages).toHaveLength(1)
        expect(markedAsRepeat(fake.messages[0]!.payload)).toBe(false)
      }).pipe(Effect.provide(discordDelivery(`http://127.0.0.1:${port}/api/webhooks/1/t`, dir, timeouts)))
    })
  )
})

describe("Discord answering after DISCORD_TIMEOUT_SECONDS, 25 alerts", () => {
  it.scopedLive(
    "with a bot token: the channel is checked, and each alert is in it exactly once",
    () =>
      withDelivery({ ...roomy, botToken }, withBotToken, (fake) =>
        Effect.gen(function* () {
          fake.answerLate(total)
          yield* (yield* Outbox).enqueue(alerts(1, total))
          expect(yield* settle()).toMatchObject({ delivered: total, failed: 0 })
          // The burst went out packed, several alerts per message; each is resolved on its own.
          expect(fake.messages.length).toBeLessThan(total)
          const embeds = embedsOf(fake.messages)
          expect(embeds).toHaveLength(total)
          expect(new Set(embeds.map((embed) => embed.title)).size).toBe(total)
          expect(embeds.filter((embed) => embed.repeat)).toHaveLength(0)
          expect(fake.channelReads()).toBe(total)
          // Each row holds the id of the message its embed landed in, late.
          const rows = yield* outboxRecords
          expect(rows.map((row) => row.message_id)).toEqual(embeds.map((embed) => embed.messageId))
          expect(embeds.map((embed) => embed.footer)).toEqual(
            rows.map((row) => `catalyst-bot · GlobeNewswire · id ${row.id}`)
          )

          // A 502 that created nothing: looked for, not found, sent once, unmarked.
          const before = fake.messages.length
          fake.failNext(1, 502)
          yield* (yield* Outbox).enqueue([alertFixture(99)])
          expect(yield* settle(total)).toMatchObject({ delivered: 1 })
          expect(fake.messages).toHaveLength(before + 1)
          expect(markedAsRepeat(fake.messages[before]!.payload)).toBe(false)
          expect(fake.channelReads()).toBe(total + 1)
        })
      ),
    60_000
  )

  it.scopedLive(
    "without a token (DELIVERY_AMBIGUOUS=resend, the default): every repeat is marked as a possible repeat",
    () =>
      withDelivery(
        roomy,
        () => ({}),
        (fake) =>
          Effect.gen(function* () {
            fake.answerLate(total)
            yield* (yield* Outbox).enqueue(alerts(1, total))
            expect(yield* settle()).toMatchObject({ delivered: total, failed: 0 })
            const byTitle = new Map<string, Array<boolean>>()
            for (const embed of embedsOf(fake.messages)) {
              byTitle.set(embed.title, [...(byTitle.get(embed.title) ?? []), embed.repeat])
            }
            // The late first send, then resends (packed ones may be late too), each marked: nothing lost,
            // nothing repeated unmarked.
            expect(byTitle.size).toBe(total)
            for (const [first, ...repeats] of byTitle.values()) {
              expect(first).toBe(false)
              expect(repeats.length).toBeGreaterThan(0)
              expect(repeats.every((marked) => marked)).toBe(true)
            }
            expect(fake.channelReads()).toBe(0)
          })
      ),
    60_000
  )

  it.scopedLive(
    "DELIVERY_AMBIGUOUS=drop: nothing is sent twice; the alerts are parked uncertain, with the reason",
    () =>
      withDelivery(
        roomy,
        () => ({ DELIVERY_AMBIGUOUS: "drop" }),
        (fake) =>
          Effect.gen(function* () {
            fake.answerLate(total)
            yield* (yield* Outbox).enqueue(alerts(1, total))
            expect(yield* settle()).toMatchObject({ delivered: 0, failed: total })
            // The last late answer lands just after the bot gave up on it.
            yield* waitUntil("the last late message", () => embedsOf(fake.messages).length >= total)
            const embeds = embedsOf(fake.messages)
            expect(new Set(embeds.map((embed) => embed.title)).size).toBe(total)
            expect(embeds).toHaveLength(total)
            const rows = yield* outboxRecords
            expect(new Set(rows.map((row) => row.status))).toEqual(new Set(["uncertain"]))
            expect(rows[0]!.last_error).toBe(
              "webhook alerts: sent, then no answer within DISCORD_TIMEOUT_SECONDS=0.2; not sent again (DELIVERY_AMBIGUOUS=drop)"
            )
          })
      ),
    60_000
  )
})

describe("with a bot token, after a crash", () => {
  it.scopedLive(
    "alerts left in flight are looked for: the one that landed is marked delivered, the other sent once",
    () =>
      withDelivery({ ...roomy, botToken }, withBotToken, (fake) =>
        Effect.gen(function* () {
          const outbox = yield* Outbox
          const sql = yield* SqlClient.SqlClient
          yield* outbox.enqueue([alertFixture(1), alertFixture(2)])
          // The previous process had posted alert 1 and was killed before it heard back.
          const posted = yield* (yield* DiscordWebhooks).execute(
            { label: "alerts", url: Redacted.make(fake.webhookUrl()) },
            alertMessage(alertFixture(1), { _tag: "NoBars" }, { id: 1, possibleRepeat: false })
          )
          yield* sql`UPDATE outbox SET status = 'sending', sending_at = 1`
          const delivery = yield* Delivery
          yield* delivery.recover()
          expect(yield* settle()).toMatchObject({ delivered: 2, failed: 0 })
          expect(fake.messages.map((message) => embedOf(message.payload).title)).toEqual([
            "T1 (NASDAQ) — Headline 1",
            "T2 (NASDAQ) — Headline 2"
          ])
          expect((yield* outboxRecords).map((row) => row.message_id)).toEqual([posted.messageId, fake.messages[1]!.id])
          expect(fake.messages.some((message) => markedAsRepeat(message.payload))).toBe(false)
        })
      )
  )
})

describe("DISCORD_BOT_TOKEN and DISCORD_CHANNEL_ID", () => {
  it.effect("go together: one without the other names the missing variable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        AppConfig.pipe(Effect.provide(AppConfig.Default), Effect.provide(configLayer({ DISCORD_BOT_TOKEN: "x" })))
      )
      expect(String(error)).toContain("DISCORD_CHANNEL_ID")
      expect(String(error)).not.toContain('"x"')
    })
  )
})
