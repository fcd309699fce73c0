import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Metric, TestClock } from "effect"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import { AlertSink, type SendEntry } from "../src/Delivery/AlertSink.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import { alertMessage, messageLength, packedMessage, packItemOf, packLimits } from "../src/Delivery/Discord/Embed.js"
import { EditOutbox } from "../src/Delivery/EditOutbox.js"
import { cappedBy, Outbox } from "../src/Delivery/Outbox.js"
import { pack } from "../src/Delivery/Pack.js"
import { AdminChannel } from "../src/Kernel/AdminChannel.js"
import { AlertLatency } from "../src/Kernel/AlertLatency.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { Alert, ChartOutcome } from "../src/Kernel/Domain.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import {
  type FakeDiscord,
  type FakeDiscordOptions,
  makeFakeDiscord,
  perEmbed,
  validateMessage
} from "../src/World/FakeDiscord.js"
import { alertFixture } from "./support/Alerts.js"
import { discordDelivery, embedsOf, outboxRecords, realPause, waitUntil } from "./support/DeliveryHarness.js"
import { tempDataConfig, tempDir } from "./support/TestLayers.js"
import { DatabaseWatch } from "../src/Kernel/DatabaseWatch.js"

const chartOf = (alert: Alert): ChartOutcome => ({
  _tag: "Rendered",
  chart: { filename: `${alert.ticker.symbol}.png`, png: new Uint8Array(4096).fill(7) }
})
const EveryChart = ChartRenderer.Test({ forAlert: (alert: Alert) => Effect.succeed(chartOf(alert)) })
const NoCharts = ChartRenderer.Test({ forAlert: () => Effect.succeed({ _tag: "NoBars" } as const) })

/** A press release long enough that only a few fit in one message's 6,000 characters. */
const wordy = (n: number): Alert => {
  const alert = alertFixture(n)
  return { ...alert, item: { ...alert.item, summary: `Long release ${n}. `.repeat(80) } }
}

const withDelivery = <A, E, R>(
  options: {
    readonly fake?: FakeDiscordOptions
    readonly config?: (fake: FakeDiscord) => Record<string, string | number>
    readonly charts?: Layer.Layer<ChartRenderer>
  },
  body: (fake: FakeDiscord) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function* () {
    const fake = yield* makeFakeDiscord(options.fake)
    const dir = yield* tempDir
    return yield* body(fake).pipe(
      Effect.provide(
        discordDelivery(
          fake.webhookUrl(),
          dir,
          { DELIVERY_RETRY_BASE_SECONDS: 0.05, ...options.config?.(fake) },
          options.charts ?? NoCharts
        )
      )
    )
  })

const settle = Effect.flatMap(Delivery, (delivery) => delivery.awaitSettled(0, Duration.seconds(60)))

/** Every alert delivered exactly once, each row holding the id of the message its embed is in, in id order. */
const expectEachOnce = (fake: FakeDiscord, count: number) =>
  Effect.gen(function* () {
    const embeds = embedsOf(fake.messages)
    expect(embeds.map((embed) => embed.title).sort()).toEqual(
      Array.from({ length: count }, (_, i) => `T${i} (NASDAQ) — Headline ${i}`).sort()
    )
    const rows = yield* outboxRecords
    expect(rows.map((row) => row.status)).toEqual(rows.map(() => "delivered"))
    expect(rows.map((row) => row.message_id)).toEqual(embeds.map((embed) => embed.messageId))
    expect(embeds.map((embed) => embed.footer.split(" · ").find((part) => part.startsWith("id ")))).toEqual(
      rows.map((row) => `id ${row.id}`)
    )
    expect(fake.requests.filter((request) => request.status === 400)).toEqual([])
  })

describe("a burst shares messages", () => {
  it.scopedLive(
    "20 alerts at once on Discord's 5 per 2 s: a few messages, each alert once, nothing refused",
    () =>
      withDelivery({}, (fake) =>
        Effect.gen(function* () {
          yield* (yield* Outbox).enqueue(Array.from({ length: 20 }, (_, i) => alertFixture(i)))
          expect(yield* settle).toMatchObject({ delivered: 20, failed: 0, timedOut: false })
          expect(fake.messages.length).toBeLessThanOrEqual(3)
          expect(fake.requests.every((request) => request.status === 200)).toBe(true)
          yield* expectEachOnce(fake, 20)
        })
      ),
    60_000
  )

  it.scopedLive(
    "long alerts with charts: every message within 6,000 characters and 10 files, each image its own file",
    () =>
      withDelivery({ charts: EveryChart }, (fake) =>
        Effect.gen(function* () {
          yield* (yield* Outbox).enqueue(Array.from({ length: 20 }, (_, i) => wordy(i)))
          expect(yield* settle).toMatchObject({ delivered: 20, failed: 0 })
          yield* expectEachOnce(fake, 20)
          expect(fake.messages.length).toBeGreaterThan(2)
          expect(fake.messages.some((message) => message.files.length > 1)).toBe(true)
          for (const message of fake.messages) {
            expect(validateMessage(message.payload, [])).not.toContain("embeds: must be 10 or fewer in length")
            expect(messageLength(message.payload as never)).toBeLessThanOrEqual(6000)
            expect(message.files.length).toBeLessThanOrEqual(10)
            const images = (message.payload["embeds"] as Array<{ image: { url: string } }>).map((e) => e.image.url)
            expect(images).toEqual(message.files.map((file) => `attachment://${file.filename}`))
          }
        })
      ),
    60_000
  )

  it.scopedLive(
    "a burst landing in waves (five alerts from each of four wires) goes out in four messages, without waiting out the bucket",
    () =>
      withDelivery({}, (fake) =>
        Effect.gen(function* () {
          const outbox = yield* Outbox
          const delivery = yield* Delivery
          for (let wave = 0; wave < 4; wave++) {
            yield* outbox.enqueue(Array.from({ length: 5 }, (_, i) => alertFixture(wave * 5 + i)))
            yield* delivery.drainOnce()
          }
          // Sent one by one, the first wave would have emptied the 5-per-2-s bucket for the other three.
          expect(fake.messages.map((message) => embedsOf([message]).length)).toEqual([5, 5, 5, 5])
          expect(fake.requests.map((request) => request.status)).toEqual([200, 200, 200, 200])
          yield* expectEachOnce(fake, 20)
        })
      ),
    60_000
  )

  it.scopedLive(
    "a packed message's rows are marked delivered together: when marking one fails, none carries the message id",
    () =>
      withDelivery({}, (fake) =>
        Effect.gen(function* () {
          // An edit rebuilds a packed message from the rows carrying its id: rows marked one by one, with a
          // crash or a failure in between, would have the edit erase the embeds of the rows left unmarked.
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE TRIGGER fail_third_delivery BEFORE UPDATE ON outbox
            WHEN NEW.id = 3 AND NEW.status = 'delivered' BEGIN SELECT RAISE(ABORT, 'disk gone'); END`
          yield* (yield* Outbox).enqueue(Array.from({ length: 5 }, (_, i) => alertFixture(i)))
          yield* Effect.exit((yield* Delivery).drainOnce())
          expect(embedsOf(fake.messages)).toHaveLength(5)
          const rows = yield* outboxRecords
          expect(rows.map((row) => row.message_id)).toEqual([null, null, null, null, null])
          expect(rows.map((row) => row.status)).toEqual(rows.map(() => "sending"))
        })
      ),
    60_000
  )

  it.scoped(
    "charts still drawing: the burst waits a moment for them, once, not CHART_WAIT_SECONDS, and edits them in",
    () =>
      withDelivery({ charts: ChartRenderer.Test({ forAlert: () => Effect.never }) }, (fake) =>
        Effect.gen(function* () {
          yield* (yield* Outbox).enqueue(Array.from({ length: 20 }, (_, i) => alertFixture(i)))
          const draining = yield* Effect.fork(Effect.flatMap(Delivery, (delivery) => delivery.drainOnce()))
          yield* realPause(300)
          expect(fake.messages).toHaveLength(0)
          // A quarter of a second of test time, far short of CHART_WAIT_SECONDS (2 s): every message of the
          // burst goes, each without its chart.
          yield* TestClock.adjust(Duration.millis(250))
          yield* waitUntil("every alert of the burst posted", () => embedsOf(fake.messages).length === 20, 10_000)
          expect(yield* Fiber.join(draining)).toBe(20)
          expect(fake.messages.length).toBeLessThanOrEqual(2)
          expect(fake.messages.every((message) => message.files.length === 0)).toBe(true)
          const pendingEdits = yield* Effect.flatMap(EditOutbox, (edits) => edits.pendingCount)
          expect(pendingEdits).toBe(20)
          yield* expectEachOnce(fake, 20)
        })
      )
  )

  it.scoped("a lone alert waiting for its chart goes without it once another alert arrives, and is edited later", () =>
    withDelivery({ charts: ChartRenderer.Test({ forAlert: () => Effect.never }) }, (fake) =>
      Effect.gen(function* () {
        const outbox = yield* Outbox
        yield* outbox.enqueue([alertFixture(0)])
        const draining = yield* Effect.fork(Effect.flatMap(Delivery, (delivery) => delivery.drainOnce()))
        yield* realPause(300)
        // Within CHART_WAIT_SECONDS (test time stands still): it waits for its chart.
        expect(fake.messages).toHaveLength(0)
        yield* outbox.enqueue([alertFixture(1)])
        yield* waitUntil("the first alert posted", () => embedsOf(fake.messages).length === 1, 10_000)
        expect(yield* Fiber.join(draining)).toBe(1)
        expect(fake.messages[0]!.files).toHaveLength(0)
        expect(yield* Effect.flatMap(EditOutbox, (edits) => edits.pendingCount)).toBe(1)
      })
    )
  )

  it.scopedLive("one waiting alert goes alone, at once", () =>
    withDelivery({}, (fake) =>
      Effect.gen(function* () {
        const outbox = yield* Outbox
        const delivery = yield* Delivery
        // Use up the bucket one alert at a time: one alert waits, the bucket is empty, and it still goes alone.
        for (let i = 0; i < 5; i++) {
          yield* outbox.enqueue([alertFixture(i)])
          expect(yield* delivery.awaitSettled(i, Duration.seconds(10))).toMatchObject({ delivered: 1 })
        }
        expect(fake.messages.map((message) => embedsOf([message]).length)).toEqual([1, 1, 1, 1, 1])
        yield* outbox.enqueue([alertFixture(5)])
        expect(yield* delivery.awaitSettled(5, Duration.seconds(10))).toMatchObject({ delivered: 1 })
        expect(fake.messages.map((message) => embedsOf([message]).length)).toEqual([1, 1, 1, 1, 1, 1])
        yield* expectEachOnce(fake, 6)
      })
    )
  )

  it.scopedLive(
    "a packed send that may have landed, with a bot token: each row is found in the channel, none sent twice",
    () =>
      withDelivery(
        {
          fake: { botToken: "bot" },
          config: (fake) => ({
            DISCORD_BOT_TOKEN: "bot",
            DISCORD_CHANNEL_ID: "1",
            DISCORD_API_BASE_URL: fake.apiBaseUrl,
            DISCORD_TIMEOUT_SECONDS: 0.3
          })
        },
        (fake) =>
          Effect.gen(function* () {
            fake.answerLate(1)
            yield* (yield* Outbox).enqueue(Array.from({ length: 20 }, (_, i) => alertFixture(i)))
            expect(yield* settle).toMatchObject({ delivered: 20, failed: 0 })
            const embeds = embedsOf(fake.messages)
            expect(embeds).toHaveLength(20)
            expect(embeds.filter((embed) => embed.repeat)).toEqual([])
            // The late message carried ten alerts; each was looked for and found on its own.
            expect(fake.channelReads()).toBe(10)
            yield* expectEachOnce(fake, 20)
          })
      ),
    60_000
  )

  it.scopedLive(
    "a packed send that may have landed, without a token: each of its alerts is sent again marked, the rest not",
    () =>
      withDelivery({ config: () => ({ DISCORD_TIMEOUT_SECONDS: 0.3 }) }, (fake) =>
        Effect.gen(function* () {
          fake.answerLate(1)
          yield* (yield* Outbox).enqueue(Array.from({ length: 20 }, (_, i) => alertFixture(i)))
          expect(yield* settle).toMatchObject({ delivered: 20, failed: 0 })
          const embeds = embedsOf(fake.messages)
          const late = new Set(embeds.filter((embed) => embed.repeat).map((embed) => embed.title))
          expect(late.size).toBe(10)
          for (const embed of embeds) {
            const times = embeds.filter((other) => other.title === embed.title).length
            expect(times).toBe(late.has(embed.title) ? 2 : 1)
          }
        })
      ),
    60_000
  )

  it.scopedLive("a packed message refused as invalid: its alerts go alone, so only the bad one is dead-lettered", () =>
    withDelivery({}, (fake) =>
      Effect.gen(function* () {
        // The packed message, then the first alert sent alone, are refused.
        fake.failNext(2, 400)
        yield* (yield* Outbox).enqueue(Array.from({ length: 8 }, (_, i) => alertFixture(i)))
        expect(yield* settle).toMatchObject({ delivered: 7, failed: 1 })
        const rows = yield* outboxRecords
        expect(rows.map((row) => row.status)).toEqual(["dead", ...Array.from({ length: 7 }, () => "delivered")])
        expect(fake.requests.filter((request) => request.status === 400)).toHaveLength(2)
      })
    )
  )
})

/** Delivery over the real outbox and a sink whose limit is always spent, recording each message's alerts. */
const packingDelivery = (config: Record<string, string | number> = {}, perMessage = 4) => {
  const messages: Array<ReadonlyArray<string>> = []
  const record = (entries: ReadonlyArray<SendEntry>, beforeSend: Effect.Effect<void> = Effect.void) =>
    Effect.zipRight(
      beforeSend,
      Effect.sync(() => messages.push(entries.map((entry) => entry.alert.item.id)))
    ).pipe(Effect.as({ messageId: `m${messages.length + 1}` }))
  const sink = AlertSink.Test({
    name: "packing",
    send: (alert, chart, beforeSend, context) => record([{ alert, chart, context: context! }], beforeSend),
    packing: { room: Effect.succeed(0), fitting: (entries) => Math.min(entries.length, perMessage), sendMany: record }
  })
  const layer = Delivery.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        Outbox.Default,
        EditOutbox.Default,
        sink,
        NoCharts,
        AdminChannel.Default,
        ErrorTracker.Default,
        AlertLatency.Default,
        DatabaseWatch.Default
      )
    ),
    Layer.provideMerge(Layer.mergeAll(SqlLive, AppConfig.Default)),
    Layer.provide(tempDataConfig({ ALERTS_PER_TICKER_PER_MINUTE: 0, ...config }))
  )
  return { messages, layer }
}

const fromSource = (n: number, source: string): Alert => {
  const alert = alertFixture(n)
  return { ...alert, item: { ...alert.item, id: `${source}-${n}`, source } }
}

describe("packing keeps the other rules", () => {
  it.scoped("messages take turns between sources, and list their alerts in outbox id order", () => {
    const { messages, layer } = packingDelivery()
    return Effect.gen(function* () {
      const outbox = yield* Outbox
      yield* outbox.enqueue(Array.from({ length: 6 }, (_, i) => fromSource(i, "Flood")))
      yield* outbox.enqueue([fromSource(10, "Quiet"), fromSource(11, "Quiet")])
      yield* (yield* Delivery).drainOnce()
      // Fair: turns between sources (Flood-0, Quiet-10, Flood-1, Quiet-11) fill the first message, in id order.
      expect(messages[0]).toEqual(["Flood-0", "Flood-1", "Quiet-10", "Quiet-11"])
      expect(messages.flat().sort()).toEqual(
        ["Flood-0", "Flood-1", "Flood-2", "Flood-3", "Flood-4", "Flood-5", "Quiet-10", "Quiet-11"].sort()
      )
      const rows = yield* outboxRecords
      for (const message of new Set(rows.map((row) => row.message_id))) {
        const ids = rows.filter((row) => row.message_id === message).map((row) => row.id)
        expect(ids).toEqual([...ids].sort((a, b) => a - b))
      }
    }).pipe(Effect.provide(layer))
  })

  it.scoped("ALERTS_PER_TICKER_PER_MINUTE counts the alerts already packed into the message", () => {
    const { messages, layer } = packingDelivery({ ALERTS_PER_TICKER_PER_MINUTE: 2 })
    return Effect.gen(function* () {
      const same = (n: number): Alert => ({ ...alertFixture(n), ticker: { symbol: "SAME", exchange: null } })
      yield* (yield* Outbox).enqueue([same(1), same(2), same(3), alertFixture(4)])
      yield* (yield* Delivery).drainOnce()
      expect(messages).toEqual([["item-1", "item-2", "item-4"]])
      expect((yield* outboxRecords).map((row) => row.status)).toEqual([
        "delivered",
        "delivered",
        "pending",
        "delivered"
      ])
    }).pipe(Effect.provide(layer))
  })

  it.scoped(
    "a row the pack's scan deferred is settled once, though the message it looked ahead for was smaller",
    () => {
      const { messages, layer } = packingDelivery({ ALERTS_PER_TICKER_PER_MINUTE: 1 }, 1)
      return Effect.gen(function* () {
        const same = (n: number): Alert => ({ ...alertFixture(n), ticker: { symbol: "SAME", exchange: null } })
        const deferred = Metric.value(cappedBy("ticker", "deferred")).pipe(Effect.map((counter) => counter.count))
        const before = yield* deferred
        yield* (yield* Outbox).enqueue([alertFixture(1), same(2), same(3)])
        yield* (yield* Delivery).drainOnce()
        expect(messages).toEqual([["item-1"], ["item-2"]])
        expect((yield* deferred) - before).toBe(1)
        expect((yield* outboxRecords).map((row) => row.status)).toEqual(["delivered", "delivered", "pending"])
      }).pipe(Effect.provide(layer))
    }
  )
})

describe("Pack and the fake's limits", () => {
  it("packs greedily within every limit, in order; an item too big to share goes alone", () => {
    const item = (chars: number, files = 0) => ({ chars, files, bytes: files * 1000 })
    expect(
      pack(
        Array.from({ length: 23 }, () => item(100)),
        packLimits
      ).map((group) => group.length)
    ).toEqual([10, 10, 3])
    expect(pack([item(2500), item(2500), item(1001), item(6000), item(1)], packLimits)).toEqual([[0, 1], [2], [3], [4]])
    expect(
      pack(
        Array.from({ length: 12 }, () => item(10, 1)),
        { ...packLimits, files: 5 }
      )
    ).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6, 7, 8, 9],
      [10, 11]
    ])
    expect(pack([], packLimits)).toEqual([])
  })

  it("a packed message keeps each embed on its own file, even when two charts share a name", () => {
    const one = alertMessage(alertFixture(1), chartOf(alertFixture(1)), { id: 1, possibleRepeat: false })
    const again = alertMessage(alertFixture(1), chartOf(alertFixture(1)), { id: 2, possibleRepeat: false })
    const plain = alertMessage(alertFixture(3), { _tag: "NoBars" }, { id: 3, possibleRepeat: false })
    const packed = packedMessage([one, again, plain])
    expect(packed.files.map((file) => file.name)).toEqual(["T1.png", "1_T1.png"])
    expect(packed.payload.embeds?.map((embed) => embed.image?.url)).toEqual([
      "attachment://T1.png",
      "attachment://1_T1.png",
      undefined
    ])
    expect(packed.payload.attachments).toEqual([
      { id: 0, filename: "T1.png" },
      { id: 1, filename: "1_T1.png" }
    ])
    expect(messageLength(packed.payload)).toBe([one, again, plain].reduce((n, m) => n + packItemOf(m).chars, 0))
    expect(validateMessage(packed.payload as never, ["T1.png", "1_T1.png"])).toEqual([])
  })

  it("the fake refuses what Discord would: 11 embeds, 6,001 characters, 11 files, a missing attachment", () => {
    const embed = (title: string) => ({ title })
    expect(validateMessage({ embeds: Array.from({ length: 11 }, (_, i) => embed(`t${i}`)) }, [])).toContain(
      "embeds: must be 10 or fewer in length"
    )
    expect(
      validateMessage(
        { embeds: [embed("a".repeat(250)), { description: "b".repeat(4000) }, { description: "c".repeat(1751) }] },
        []
      )
    ).toContain("embeds: total length 6001 exceeds 6000")
    const files = Array.from({ length: 11 }, (_, i) => `f${i}.png`)
    expect(validateMessage({ embeds: [embed("x")] }, files)).toContain("files: must be 10 or fewer in length")
    expect(
      validateMessage({ embeds: [{ title: "x", image: { url: "attachment://gone.png" } }] }, ["other.png"])
    ).toEqual(["embeds.0.image.url: unknown attachment attachment://gone.png"])
  })

  it("the world reads a packed message as one alert per embed, each with its own chart", () => {
    const packed = packedMessage([
      alertMessage(alertFixture(1), chartOf(alertFixture(1))),
      alertMessage(alertFixture(2), { _tag: "NoBars" })
    ])
    const file = (filename: string) => ({ field: "files[0]", filename, contentType: "image/png", size: 4096 })
    const received = {
      id: "9",
      webhookId: "1",
      at: 0,
      payload: JSON.parse(JSON.stringify(packed.payload)) as Record<string, unknown>,
      files: [file("T1.png")],
      multipart: true,
      pinged: [],
      markdown: [],
      attachments: [],
      edits: 0
    }
    const views = perEmbed(received)
    expect(views.map((view) => embedsOf([view]).map((embed) => embed.title))).toEqual([
      ["T1 (NASDAQ) — Headline 1"],
      ["T2 (NASDAQ) — Headline 2"]
    ])
    expect(views.map((view) => view.files.map((f) => f.filename))).toEqual([["T1.png"], []])
    expect(views.map((view) => view.id)).toEqual(["9", "9"])
  })

  it.scopedLive("the fake's webhook bucket: a sixth request within 2 s is a 429", () =>
    Effect.gen(function* () {
      const fake = yield* makeFakeDiscord()
      const body = JSON.stringify({ content: "x", allowed_mentions: { parse: [] } })
      const statuses = yield* Effect.promise(async () => {
        const answers: Array<number> = []
        for (let i = 0; i < 6; i++) {
          const response = await fetch(`${fake.webhookUrl()}?wait=true`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body
          })
          await response.arrayBuffer()
          answers.push(response.status)
        }
        return answers
      })
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429])
    })
  )
})
