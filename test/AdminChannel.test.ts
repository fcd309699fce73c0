import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { AdminChannel, AdminErrorLogger, AdminQueue } from "../src/Kernel/AdminChannel.js"
import * as AdminDiscord from "../src/Delivery/AdminDiscord.js"
import { AdminHeartbeat } from "../src/App/AdminHeartbeat.js"
import { AlertLatency } from "../src/Kernel/AlertLatency.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { DiscordStatus } from "../src/Delivery/Discord/DiscordRateLimiter.js"
import { DiscordWebhooks } from "../src/Delivery/Discord/DiscordWebhooks.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { Runner } from "../src/Runner/Runner.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { tempDataConfig } from "./support/TestLayers.js"

const titles = (messages: ReadonlyArray<{ payload: Record<string, unknown> }>) =>
  messages.map((m) => (m.payload["embeds"] as Array<{ title: string; description: string }>)[0]!)

const waitFor = (condition: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 150 && !condition(); i++) yield* Effect.sleep("20 millis")
  })

/** A fiber that logs an error, forked inside a layer, as the delivery loop would. */
const FailingLoop = Layer.scopedDiscard(
  Effect.forkScoped(Effect.logError("feed GlobeNewswire failed: 503").pipe(Effect.annotateLogs("module", "Feeds")))
)

describe("AdminChannel on Discord", () => {
  it.live("posts notices deduplicated by key, gathers errors from any module's log into a digest", () =>
    Effect.gen(function* () {
      const fake = yield* makeFakeDiscord()
      const url = Redacted.make(fake.webhookUrl("222222222222222222"))
      const layer = Layer.mergeAll(AdminDiscord.layer(url), FailingLoop).pipe(
        Layer.provide(AdminErrorLogger),
        Layer.provideMerge(Layer.mergeAll(AdminChannel.Default, AdminQueue.Default, DiscordWebhooks.Default)),
        Layer.provide(Layer.mergeAll(NodeHttpClient.layerUndici, StatusBoard.Default, AppConfig.Default)),
        Layer.provide(tempDataConfig({ ADMIN_DIGEST_MINUTES: 0.01 }))
      )
      yield* Effect.gen(function* () {
        const admin = yield* AdminChannel
        const outage = { key: "feed-outage:GlobeNewswire", title: "GlobeNewswire is down", detail: "HTTP 503" }
        yield* admin.notify(outage)
        yield* admin.notify(outage)
        yield* admin.notify({ key: "breaker:quotes", title: "quotes breaker opened", detail: "5 failures" })
        yield* waitFor(() => fake.messages.length >= 3)
      }).pipe(Effect.provide(layer), Effect.scoped)

      const posted = titles(fake.messages)
      expect(posted.map((embed) => embed.title)).toEqual([
        "GlobeNewswire is down",
        "quotes breaker opened",
        "1 error(s) or held-back notice(s) in the last 0.01 min"
      ])
      expect(posted[2]!.description).toContain("1× feed GlobeNewswire failed: 503")
      expect(fake.messages.every((m) => (m.payload["allowed_mentions"] as { parse: [] }).parse.length === 0)).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.live("the heartbeat reports cycle statistics from Runner.state, Discord headroom and latency p50/p95", () =>
    Effect.gen(function* () {
      const RunnerTest = Runner.Test({
        state: Effect.succeed({ cycles: 12, consecutiveEmpty: 0, lastResult: Option.none(), sources: [] })
      })
      const OutboxTest = Outbox.Test({
        counts: () =>
          Effect.succeed({
            pending: 1,
            sending: 0,
            delivered: 30,
            dead: 2,
            uncertain: 0,
            expired: 0,
            deferred: 3,
            dropped: 0
          })
      })
      const BoardTest = Layer.effectDiscard(
        Effect.flatMap(StatusBoard, (board) =>
          board.set(DiscordStatus, {
            webhooks: [{ label: "alerts", bucket: "b1", discovered: true, limit: 5, remaining: 4, resetAfterMs: 900 }],
            globalRequestsLastSecond: 0,
            globalLimitPerSecond: 50,
            globalBlockedForMs: 0,
            invalidLast10Min: 2,
            invalidBudget: 1000
          })
        )
      ).pipe(Layer.provideMerge(StatusBoard.Default))
      const layer = AdminHeartbeat.pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            AdminChannel.Default,
            AdminQueue.Default,
            RunnerTest,
            OutboxTest,
            BoardTest,
            AlertLatency.Test({
              describe: Effect.succeed(["GlobeNewswire: p50 42 s, p95 1 min 10 s (8 alerts)"])
            })
          )
        ),
        Layer.provide(AppConfig.Default),
        Layer.provide(tempDataConfig({ ADMIN_HEARTBEAT_MINUTES: 0.005 }))
      )
      const message = yield* Effect.flatMap(AdminQueue, (queue) => queue.take).pipe(
        Effect.provide(layer),
        Effect.scoped
      )
      expect(message._tag).toBe("Notice")
      if (message._tag !== "Notice") return
      expect(message.event.title).toBe("heartbeat")
      expect(message.event.detail).toContain("cycles: 12 since the last heartbeat (12 total)")
      expect(message.event.detail).toContain("alerts delivered: 30")
      expect(message.event.detail).toContain("queued 4, dead-lettered 2")
      expect(message.event.detail).toContain("discord headroom: alerts 4/5; invalid responses (10 min): 2")
      expect(message.event.detail).toContain("publication → alert latency:\nGlobeNewswire: p50 42 s")
    })
  )
})
