import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it, vi } from "@effect/vitest"
import { Deferred, Duration, Effect, Either, Layer, Logger, LogLevel, Metric, Redacted, TestClock } from "effect"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import { Classifier, combine } from "../src/Classification/Classifier.js"
import * as DiscordSink from "../src/Delivery/AlertSink/Discord.js"
import * as StdoutSink from "../src/Delivery/AlertSink/Stdout.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import { DiscordWebhooks } from "../src/Delivery/Discord/DiscordWebhooks.js"
import { EditOutbox } from "../src/Delivery/EditOutbox.js"
import { editsExpired, editsGone, FollowUp } from "../src/Delivery/FollowUp.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { AdminChannel, AdminQueue } from "../src/Kernel/AdminChannel.js"
import { AlertLatency } from "../src/Kernel/AlertLatency.js"
import { AppConfig, describeConfigError } from "../src/Kernel/AppConfig.js"
import type { Alert, ChartOutcome, LlmAnalysis } from "../src/Kernel/Domain.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { rejectBeforeMarket } from "../src/MarketData/Filters.js"
import * as FakeOpenAi from "../src/World/FakeOpenAi.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture, newsItem } from "./support/Alerts.js"
import { configLayer, tempDir } from "./support/TestLayers.js"
import { DatabaseWatch } from "../src/Kernel/DatabaseWatch.js"

/** An alert as LLM_MODE=enrich enqueues it: keywords only, its LLM verdict to follow. */
const pendingAlert = (n: number): Alert => {
  const alert = alertFixture(n)
  return {
    ...alert,
    classification: { ...alert.classification, llm: { _tag: "Pending", reason: "LLM_MODE=enrich" } }
  }
}

const dismissive: LlmAnalysis = {
  category: "other",
  sentiment: 0,
  confidence: 0.9,
  summary: "A routine update, nothing material.",
  key_facts: [],
  is_material: false
}

/** The LLM stage as a stub: every verdict is `analysis`. */
const stubClassifier = (analysis: LlmAnalysis) =>
  Classifier.Test({
    followUp: (requests) =>
      Effect.succeed(requests.map(({ keywords }) => combine(keywords, { _tag: "Analysed", analysis, cached: false })))
  })

const NoCharts = ChartRenderer.Test({ forAlert: () => Effect.succeed<ChartOutcome>({ _tag: "NoBars" }) })

/** Delivery and its follow-up as the bot builds them, to `sink`, with the outbox in `dir`. */
const stack = (options: {
  readonly dir: string
  readonly sink: Layer.Layer<never, never, never> | ReturnType<typeof DiscordSink.layer>
  readonly classifier: Layer.Layer<Classifier, unknown>
  readonly charts?: Layer.Layer<ChartRenderer>
  readonly config?: Record<string, string | number>
}) =>
  Layer.mergeAll(Delivery.DefaultWithoutDependencies, FollowUp.DefaultWithoutDependencies).pipe(
    Layer.provideMerge(options.sink as ReturnType<typeof DiscordSink.layer>),
    Layer.provideMerge(
      Layer.mergeAll(
        Outbox.Default,
        EditOutbox.Default,
        options.charts ?? NoCharts,
        options.classifier,
        AdminChannel.Default,
        AdminQueue.Default,
        DiscordWebhooks.Default,
        ErrorTracker.Default,
        AlertLatency.Default,
        DatabaseWatch.Default
      )
    ),
    Layer.provideMerge(Layer.mergeAll(NodeHttpClient.layerUndici, SqlLive, StatusBoard.Default, AppConfig.Default)),
    Layer.provide(
      configLayer({ DATA_DIR: options.dir, ALERTS_PER_TICKER_PER_MINUTE: 0, MIN_SCORE: 2, ...options.config })
    ),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
  )

const enqueue = (...alerts: ReadonlyArray<Alert>) => Effect.flatMap(Outbox, (outbox) => outbox.enqueue(alerts))

const editStatuses = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ status: string; reason: string }>`SELECT status, reason FROM outbox_edits ORDER BY id`
)

type Embed = {
  readonly description?: string
  readonly fields?: ReadonlyArray<{ readonly name: string; readonly value: string }>
  readonly image?: { readonly url: string }
}
const embedsOf = (payload: Record<string, unknown>) => payload["embeds"] as ReadonlyArray<Embed>
const field = (embed: Embed | undefined, name: string) => embed?.fields?.find((entry) => entry.name === name)?.value

describe("post first, edit in the rest", () => {
  it.scopedLive("enrich: the alert goes out on keywords at once, then its message is edited with the LLM verdict", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const discord = yield* makeFakeDiscord()
      const llm = yield* FakeOpenAi.make()
      const config = {
        LLM_PROVIDER: "openai",
        LLM_BASE_URL: llm.url,
        LLM_MODEL: "gpt-4o-mini",
        LLM_API_KEY: "sk-test",
        LLM_RPM: 0,
        LLM_MODE: "enrich"
      }
      const classifier = Classifier.Default.pipe(
        Layer.provide(Layer.mergeAll(NodeHttpClient.layerUndici, SqlLive)),
        Layer.provide(configLayer({ DATA_DIR: dir, ...config }))
      )
      yield* Effect.gen(function* () {
        // The cycle's stage: keywords now, the verdict pending.
        const batch = yield* Effect.flatMap(Classifier, (c) =>
          c.classifyBatch([newsItem("a", "Acme Receives FDA Approval")])
        )
        const classified = batch.items[0]!
        expect(classified.classification.llm._tag).toBe("Pending")
        expect(llm.callCount()).toBe(0)
        const alert: Alert = { ...alertFixture(1), item: classified.item, classification: classified.classification }
        yield* enqueue(alert)

        const delivery = yield* Delivery
        const followUp = yield* FollowUp
        yield* delivery.drainOnce()
        expect(discord.messages).toHaveLength(1)
        expect(field(embedsOf(discord.messages[0]!.payload)[0], "LLM")).toBe("⏳ analysis pending")

        expect(yield* followUp.enrichOnce).toBe(1)
        expect(llm.callCount()).toBe(1)
        expect(yield* followUp.editOnce).toBe(1)

        expect(discord.edits).toHaveLength(1)
        expect(discord.messages).toHaveLength(1)
        const [embed] = embedsOf(discord.messages[0]!.payload)
        expect(embed?.description).toBe(FakeOpenAi.defaultAnalysis.summary)
        expect(field(embed, "LLM")).toBeUndefined()
        expect(field(embed, "Category")).toContain("fda\\_approval")
        expect(discord.messages[0]!.edits).toBe(1)
        expect(yield* editStatuses).toEqual([{ status: "sent", reason: "llm" }])
      }).pipe(
        Effect.provide(stack({ dir, sink: DiscordSink.layer(Redacted.make(discord.webhookUrl())), classifier, config }))
      )
    })
  )

  it.scopedLive("a verdict that arrives before the post updates the queued alert: no edit", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const discord = yield* makeFakeDiscord()
      yield* Effect.gen(function* () {
        yield* enqueue(pendingAlert(1))
        const followUp = yield* FollowUp
        yield* followUp.enrichOnce
        yield* Effect.flatMap(Delivery, (delivery) => delivery.drainOnce())
        yield* followUp.editOnce
        expect(discord.messages).toHaveLength(1)
        expect(embedsOf(discord.messages[0]!.payload)[0]?.description).toBe(dismissive.summary)
        expect(discord.edits).toHaveLength(0)
        expect(yield* editStatuses).toEqual([])
      }).pipe(
        Effect.provide(
          stack({
            dir,
            sink: DiscordSink.layer(Redacted.make(discord.webhookUrl())),
            classifier: stubClassifier(dismissive)
          })
        )
      )
    })
  )

  it.scopedLive("a verdict that would have vetoed the alert says so in the edit; the message stays", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const discord = yield* makeFakeDiscord()
      yield* Effect.gen(function* () {
        yield* enqueue(pendingAlert(1))
        yield* Effect.flatMap(Delivery, (delivery) => delivery.drainOnce())
        const followUp = yield* FollowUp
        yield* followUp.enrichOnce
        yield* followUp.editOnce
        expect(discord.messages).toHaveLength(1)
        const [embed] = embedsOf(discord.messages[0]!.payload)
        // 3.5 halved by a confident "not material": below MIN_SCORE=2.
        expect(field(embed, "⚠️ LLM verdict")).toBe(
          "LLM_MODE=gate would not have sent this: score 1.75 below MIN\\_SCORE 2"
        )
        expect(field(embed, "Score")).toBe("1.75")
      }).pipe(
        Effect.provide(
          stack({
            dir,
            sink: DiscordSink.layer(Redacted.make(discord.webhookUrl())),
            classifier: stubClassifier(dismissive)
          })
        )
      )
    })
  )

  it.scopedLive("gate: the cycle waits for the LLM, whose verdict can still veto the alert", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const llm = yield* FakeOpenAi.make({ defaultBehaviour: FakeOpenAi.answer(dismissive) })
      const values = {
        DATA_DIR: dir,
        LLM_PROVIDER: "openai",
        LLM_BASE_URL: llm.url,
        LLM_MODEL: "gpt-4o-mini",
        LLM_API_KEY: "sk-test",
        LLM_RPM: 0,
        LLM_MODE: "gate"
      }
      const item = newsItem("a", "Acme Receives FDA Approval")
      const { batch, filters, keywords } = yield* Effect.gen(function* () {
        const classifier = yield* Classifier
        const batch = yield* classifier.classifyBatch([item])
        return { batch, filters: (yield* AppConfig).filters, keywords: classifier.keywords(item) }
      }).pipe(
        Effect.provide(
          Layer.merge(Classifier.Default, AppConfig.Default).pipe(
            Layer.provide(Layer.mergeAll(NodeHttpClient.layerUndici, SqlLive)),
            Layer.provide(configLayer(values))
          )
        )
      )
      const [entry] = batch.items
      expect(entry?.classification.llm._tag).toBe("Analysed")
      expect(llm.callCount()).toBe(1)
      // A confident "not material" halves the keyword score: under a MIN_SCORE the keywords alone pass.
      expect(entry?.classification.score).toBe(Math.round((keywords.score / 2) * 100) / 100)
      const minScore = { ...filters, minScore: keywords.score * 0.75 }
      expect(
        rejectBeforeMarket(minScore, { item, classification: { ...keywords, llm: entry!.classification.llm } })
      ).toBeNull()
      expect(rejectBeforeMarket(minScore, entry!)).toMatch(/below MIN_SCORE/)
    })
  )

  it.scopedLive("a chart not ready within CHART_WAIT_SECONDS: posted without it, then edited in", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const discord = yield* makeFakeDiscord()
      const release = yield* Deferred.make<void>()
      let renders = 0
      const slowCharts = ChartRenderer.Test({
        forAlert: (alert) =>
          Effect.suspend(() => {
            renders += 1
            const chart: ChartOutcome = {
              _tag: "Rendered",
              chart: { filename: `${alert.ticker.symbol}.png`, png: new Uint8Array(512).fill(3) }
            }
            // The first render (the post's) is slow; the edit's finds it ready.
            return renders === 1 ? Effect.as(Deferred.await(release), chart) : Effect.succeed(chart)
          })
      })
      yield* Effect.gen(function* () {
        yield* enqueue(alertFixture(1))
        yield* Effect.flatMap(Delivery, (delivery) => delivery.drainOnce())
        expect(discord.messages).toHaveLength(1)
        expect(discord.messages[0]!.files).toHaveLength(0)
        expect(yield* editStatuses).toEqual([{ status: "pending", reason: "chart" }])

        yield* Effect.flatMap(FollowUp, (followUp) => followUp.editOnce)
        const [message] = discord.messages
        expect(discord.edits).toHaveLength(1)
        expect(message!.attachments.map((attachment) => attachment.filename)).toEqual(["T1.png"])
        expect(message!.files.map((file) => file.filename)).toEqual(["T1.png"])
        expect(embedsOf(message!.payload)[0]?.image?.url).toBe("attachment://T1.png")
        expect(yield* editStatuses).toEqual([{ status: "sent", reason: "chart" }])
      }).pipe(
        Effect.provide(
          stack({
            dir,
            sink: DiscordSink.layer(Redacted.make(discord.webhookUrl())),
            classifier: stubClassifier(dismissive),
            charts: slowCharts,
            config: { CHART_WAIT_SECONDS: 0.2 }
          })
        )
      )
    })
  )

  it.scopedLive("posts go before edits: a late chart's edit waits while another alert is due to be posted", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const discord = yield* makeFakeDiscord()
      const drawn = yield* Deferred.make<void>()
      const charts = ChartRenderer.Test({
        forAlert: (alert) =>
          Effect.as(Deferred.await(drawn), {
            _tag: "Rendered",
            chart: { filename: `${alert.ticker.symbol}.png`, png: new Uint8Array(512).fill(3) }
          } satisfies ChartOutcome)
      })
      yield* Effect.gen(function* () {
        const delivery = yield* Delivery
        const followUp = yield* FollowUp
        yield* enqueue(alertFixture(1))
        yield* delivery.drainOnce()
        yield* Deferred.succeed(drawn, undefined)
        expect(yield* editStatuses).toEqual([{ status: "pending", reason: "chart" }])

        // The next alert is queued before the edit goes: it shares the webhook's bucket, and it is posted first.
        yield* enqueue(alertFixture(2))
        expect(yield* followUp.editOnce).toBe(0)
        expect(discord.edits).toHaveLength(0)
        yield* delivery.drainOnce()
        expect(discord.messages).toHaveLength(2)
        expect(yield* followUp.editOnce).toBe(1)
        expect(discord.edits).toHaveLength(1)
        expect(yield* editStatuses).toEqual([{ status: "sent", reason: "chart" }])
      }).pipe(
        Effect.provide(
          stack({
            dir,
            sink: DiscordSink.layer(Redacted.make(discord.webhookUrl())),
            classifier: stubClassifier(dismissive),
            charts,
            config: { CHART_WAIT_SECONDS: 0.2 }
          })
        )
      )
    })
  )

  it.scopedLive(
    "an edit left pending by a process that died after the post is sent by the next one, without a re-post",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const discord = yield* makeFakeDiscord()
        const layer = () =>
          stack({
            dir,
            sink: DiscordSink.layer(Redacted.make(discord.webhookUrl())),
            classifier: stubClassifier(FakeOpenAi.defaultAnalysis)
          })
        // First process: the post, then the verdict; it stops before any edit leaves.
        yield* Effect.gen(function* () {
          yield* enqueue(pendingAlert(1))
          yield* Effect.flatMap(Delivery, (delivery) => delivery.drainOnce())
          yield* Effect.flatMap(FollowUp, (followUp) => followUp.enrichOnce)
        }).pipe(Effect.provide(layer()))
        expect(discord.messages).toHaveLength(1)
        expect(discord.edits).toHaveLength(0)

        // The next process: recovery, delivery and the follow-up, as `once` runs them.
        yield* Effect.gen(function* () {
          const delivery = yield* Delivery
          yield* delivery.recover()
          yield* delivery.drainOnce()
          yield* Effect.flatMap(FollowUp, (followUp) => followUp.drain(Duration.seconds(10)))
        }).pipe(Effect.provide(layer()))
        expect(discord.messages).toHaveLength(1)
        expect(discord.edits).toHaveLength(1)
        expect(embedsOf(discord.messages[0]!.payload)[0]?.description).toBe(FakeOpenAi.defaultAnalysis.summary)
      })
  )

  it.scopedLive("an edit of a message that carries several alerts sends every embed, in id order", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const discord = yield* makeFakeDiscord()
      yield* Effect.gen(function* () {
        yield* enqueue(alertFixture(1), pendingAlert(2))
        const outbox = yield* Outbox
        // Posted together, as a packed burst would be: both rows carry the one message id.
        yield* Effect.flatMap(Delivery, (delivery) => delivery.drainOnce())
        const messageId = discord.messages[0]!.id
        const second = discord.messages[1]!
        discord.deleteMessage(second.id)
        const [, row2] = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ id: number }>`SELECT id FROM outbox ORDER BY id`
        )
        yield* outbox.markDelivered(row2!.id, messageId)
        const followUp = yield* FollowUp
        yield* followUp.enrichOnce
        yield* followUp.editOnce
        expect(discord.edits).toHaveLength(1)
        const embeds = embedsOf(discord.edits[0]!.payload)
        expect(embeds.map((embed) => (embed as { title?: string }).title)).toEqual([
          "T1 (NASDAQ) — Headline 1",
          "T2 (NASDAQ) — Headline 2"
        ])
        expect(embeds[1]?.description).toBe(dismissive.summary)
        expect(embeds[0]?.description).toBe("Summary of item 1.")
      }).pipe(
        Effect.provide(
          stack({
            dir,
            sink: DiscordSink.layer(Redacted.make(discord.webhookUrl())),
            classifier: stubClassifier(dismissive)
          })
        )
      )
    })
  )

  it.scopedLive("a 404 (Unknown Message) ends the edit quietly", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const discord = yield* makeFakeDiscord()
      yield* Effect.gen(function* () {
        yield* enqueue(pendingAlert(1))
        yield* Effect.flatMap(Delivery, (delivery) => delivery.drainOnce())
        discord.deleteMessage(discord.messages[0]!.id)
        const followUp = yield* FollowUp
        yield* followUp.enrichOnce
        const before = (yield* Metric.value(editsGone)).count
        yield* followUp.editOnce
        expect(yield* editStatuses).toEqual([{ status: "gone", reason: "llm" }])
        expect((yield* Metric.value(editsGone)).count).toBe(before + 1)
        // Ended: nothing is due any more.
        expect(yield* followUp.editOnce).toBe(0)
        expect(discord.requests.filter((request) => request.status === 404)).toHaveLength(1)
      }).pipe(
        Effect.provide(
          stack({
            dir,
            sink: DiscordSink.layer(Redacted.make(discord.webhookUrl())),
            classifier: stubClassifier(FakeOpenAi.defaultAnalysis)
          })
        )
      )
    })
  )

  it.scoped("an edit not made within EDIT_MAX_DELAY_MINUTES is dropped and counted", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const discord = yield* makeFakeDiscord()
      yield* Effect.gen(function* () {
        yield* enqueue(alertFixture(1))
        const outbox = yield* Outbox
        const [row] = yield* outbox.due(1)
        yield* outbox.markDelivered(row!.id, "1000000000000000000")
        yield* Effect.flatMap(EditOutbox, (edits) => edits.request(row!.id, "chart"))
        yield* TestClock.adjust("6 minutes")
        const before = (yield* Metric.value(editsExpired)).count
        yield* Effect.flatMap(FollowUp, (followUp) => followUp.editOnce)
        expect(yield* editStatuses).toEqual([{ status: "dropped", reason: "chart" }])
        expect((yield* Metric.value(editsExpired)).count).toBe(before + 1)
        expect(discord.edits).toHaveLength(0)
      }).pipe(
        Effect.provide(
          stack({
            dir,
            sink: DiscordSink.layer(Redacted.make(discord.webhookUrl())),
            classifier: stubClassifier(FakeOpenAi.defaultAnalysis),
            config: { EDIT_MAX_DELAY_MINUTES: 5 }
          })
        )
      )
    })
  )

  it.scopedLive("stdout prints the edit as a follow-up line", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const lines: Array<string> = []
      const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)))
      yield* Effect.addFinalizer(() => Effect.sync(() => spy.mockRestore()))
      yield* Effect.gen(function* () {
        yield* enqueue(pendingAlert(1))
        yield* Effect.flatMap(Delivery, (delivery) => delivery.drainOnce())
        const followUp = yield* FollowUp
        yield* followUp.enrichOnce
        yield* followUp.editOnce
      }).pipe(Effect.provide(stack({ dir, sink: StdoutSink.layer("card"), classifier: stubClassifier(dismissive) })))
      expect(lines).toHaveLength(2)
      expect(lines[0]).toContain("T1 (NASDAQ) — Headline 1")
      expect(lines[1]).toBe(
        "   ↳ update T1: score 1.8 | fda | LLM not material: A routine update, nothing material. | LLM_MODE=gate would not have sent this: score 1.75 below MIN_SCORE 2"
      )
    })
  )
})

describe("Edit Webhook Message on the fake Discord", () => {
  it.scopedLive("refuses attachments that are neither kept nor uploaded, and unknown messages", () =>
    Effect.gen(function* () {
      const discord = yield* makeFakeDiscord()
      const url = discord.webhookUrl()
      const post = yield* Effect.promise(() =>
        fetch(`${url}?wait=true`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ content: "hello", allowed_mentions: { parse: [] } })
        }).then((response) => response.json() as Promise<{ id: string }>)
      )
      const patch = (id: string, body: unknown) =>
        Effect.promise(() =>
          fetch(`${url}/messages/${id}`, {
            method: "PATCH",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body)
          }).then(async (response) => ({ status: response.status, body: (await response.json()) as { code?: number } }))
        )
      const badAttachment = yield* patch(post.id, { content: "edited", attachments: [{ id: "42" }] })
      expect(badAttachment.status).toBe(400)
      expect(badAttachment.body.code).toBe(50035)
      const unknown = yield* patch("999", { content: "edited" })
      expect(unknown).toMatchObject({ status: 404, body: { code: 10008 } })
      const ok = yield* patch(post.id, { content: "edited" })
      expect(ok.status).toBe(200)
      expect(discord.messages[0]!.payload["content"]).toBe("edited")
      expect(discord.edits).toHaveLength(1)
    })
  )
})

describe("LLM_MODE and the edit settings", () => {
  const load = (values: Record<string, string>) =>
    Effect.either(Effect.provide(AppConfig, AppConfig.Default.pipe(Layer.provide(configLayer(values)))))

  it.effect("enrich by default; edits within 5 minutes; a chart waited for 2 s", () =>
    Effect.gen(function* () {
      const config = yield* Effect.flatten(load({}))
      expect(config.classify.llmMode).toBe("enrich")
      expect(config.delivery.editMaxDelayMinutes).toBe(5)
      expect(config.delivery.chartWaitSeconds).toBe(2)
    })
  )

  it.effect("an unknown LLM_MODE is one line naming the setting and its choices", () =>
    Effect.gen(function* () {
      const result = yield* load({ LLM_MODE: "fast" })
      const lines = Either.isLeft(result) ? describeConfigError(result.left) : []
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/^LLM_MODE: .*enrich.*gate/)
    })
  )
})
