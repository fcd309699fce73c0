import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { Outbox } from "../src/Delivery/Outbox.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture } from "./support/Alerts.js"
import { runCli } from "./support/Cli.js"
import { embedsOf } from "./support/DeliveryHarness.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

/** Alerts an earlier process enqueued and never sent (it was killed), in a fresh DATA_DIR. */
const leftBehind = (count: number) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    yield* Effect.flatMap(Outbox, (outbox) =>
      outbox.enqueue(Array.from({ length: count }, (_, i) => alertFixture(i)))
    ).pipe(Effect.provide(Outbox.Default.pipe(Layer.provide(configLayer({ DATA_DIR: dir })))))
    const feedsFile = join(dir, "feeds.json")
    writeFileSync(feedsFile, "[]")
    return {
      DATA_DIR: dir,
      FEEDS_FILE: feedsFile,
      HEALTH_PORT: "0",
      MARKET_DATA_PROVIDER: "none",
      ALERTS_PER_TICKER_PER_MINUTE: "0"
    }
  })

/** A port nothing listens on: connections are refused. */
const closedPort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number }
        server.close(() => resolve(port))
      })
    })
)

describe("once and what an earlier process left", () => {
  it.scopedLive(
    "drains rows enqueued before it started, and counts them",
    () =>
      Effect.gen(function* () {
        const env = yield* leftBehind(3)
        const discord = yield* makeFakeDiscord({ limit: 5, windowMs: 200 })
        const result = yield* Effect.promise(() =>
          runCli(["once"], { ...env, DISCORD_WEBHOOK_URL: discord.webhookUrl() })
        )
        expect(embedsOf(discord.messages)).toHaveLength(3)
        expect(result.stdout).toContain("delivery: 3 delivered, 0 deferred, 0 failed")
        expect(result.code).toBe(0)
      }),
    600_000
  )

  it.scopedLive(
    "exits non-zero when the webhook refuses connections",
    () =>
      Effect.gen(function* () {
        const env = yield* leftBehind(1)
        const port = yield* closedPort
        const result = yield* Effect.promise(() =>
          runCli(["once"], {
            ...env,
            DISCORD_WEBHOOK_URL: `http://127.0.0.1:${port}/api/webhooks/1/token`,
            ONCE_DRAIN_SECONDS: "3"
          })
        )
        expect(result.stdout).toContain("0 delivered")
        expect(result.stderr).toContain("delivery failed")
        expect(result.code).toBe(1)
      }),
    600_000
  )

  it.scopedLive(
    "exits non-zero when every feed failed",
    () =>
      Effect.gen(function* () {
        const env = yield* leftBehind(0)
        const port = yield* closedPort
        writeFileSync(
          env.FEEDS_FILE,
          JSON.stringify([{ name: "Down", url: `http://127.0.0.1:${port}/rss`, kind: "rss" }])
        )
        const result = yield* Effect.promise(() => runCli(["once"], { ...env }))
        expect(result.stdout).toMatch(/feed Down: failed/)
        expect(result.stderr).toContain("every feed failed")
        expect(result.code).toBe(1)
      }),
    600_000
  )
})
