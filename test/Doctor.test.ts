import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { runDoctor } from "../src/App/Doctor.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import * as FakeWire from "../src/World/FakeWire.js"
import { alertFixture, newsItem } from "./support/Alerts.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

describe("doctor", () => {
  it.scopedLive("gives every setting, the database and each endpoint a verdict, and never prints a secret", () =>
    Effect.gen(function* () {
      const wire = yield* FakeWire.make({
        up: { body: FakeWire.globeNewswireRss([]) },
        down: { body: "", status: 503 }
      })
      const discord = yield* makeFakeDiscord()
      const dir = yield* tempDir
      const feedsFile = join(dir, "feeds.json")
      writeFileSync(
        feedsFile,
        JSON.stringify([
          { name: "Up", url: wire.feedUrl("up"), kind: "rss" },
          { name: "Down", url: wire.feedUrl("down"), kind: "rss" },
          { name: "Filings", url: wire.feedUrl("up"), kind: "sec-atom" }
        ])
      )
      const checks = yield* Effect.gen(function* () {
        yield* (yield* SeenStore).markSeen([newsItem("a", "A"), newsItem("b", "B")])
        yield* (yield* Outbox).enqueue([alertFixture(1)])
        return yield* runDoctor
      }).pipe(
        Effect.provide(
          Layer.mergeAll(SeenStore.Default, Outbox.Default, AppConfig.Default, SqlLive, NodeHttpClient.layerUndici)
        ),
        Effect.provide(
          configLayer({
            DATA_DIR: dir,
            FEEDS_FILE: feedsFile,
            MARKET_DATA_PROVIDER: "none",
            DISCORD_WEBHOOK_URL: discord.webhookUrl("1", "very-secret-token")
          })
        ),
        Effect.provide(Logger.remove(Logger.defaultLogger))
      )
      const verdict = (name: string) => checks.find((check) => check.name === name)
      expect(verdict("database")).toMatchObject({
        verdict: "ok",
        detail: expect.stringContaining("2 seen ids, 1 pending alerts")
      })
      expect(verdict("feed Up")).toMatchObject({ verdict: "ok", detail: "HTTP 200" })
      expect(verdict("feed Down")).toMatchObject({ verdict: "fail", detail: "HTTP 503" })
      expect(verdict("feed Filings")).toMatchObject({ verdict: "warn", detail: "off until SEC_USER_AGENT is set" })
      expect(verdict("discord webhook")?.verdict).not.toBe("fail")
      expect(verdict("config discord.webhookUrl")?.detail).toBe("<redacted>")
      // Each check is printed as one line: name and detail.
      expect(checks.map((check) => `${check.name}: ${check.detail}`).join("\n")).not.toContain("very-secret-token")
    })
  )
})
