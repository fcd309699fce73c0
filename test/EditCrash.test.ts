import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import { join } from "node:path"
import { Outbox } from "../src/Delivery/Outbox.js"
import type { Alert } from "../src/Kernel/Domain.js"
import * as FakeOpenAi from "../src/World/FakeOpenAi.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture } from "./support/Alerts.js"
import { spawnCli } from "./support/Cli.js"
import { waitUntil } from "./support/DeliveryHarness.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

/** Hang guards only: a bot started through tsx on a busy machine can take a minute to come up. */
const startup = 180_000

describe("edits across kill -9", () => {
  it.live(
    "killed between the post and its edit: `once` after the restart sends the edit, and never posts again",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const discord = yield* makeFakeDiscord()
        const llm = yield* FakeOpenAi.make()
        const pending: Alert = {
          ...alertFixture(1),
          classification: {
            ...alertFixture(1).classification,
            llm: { _tag: "Pending", reason: "LLM_MODE=enrich" }
          }
        }
        yield* Effect.flatMap(Outbox, (outbox) => outbox.enqueue([pending])).pipe(
          Effect.provide(Outbox.Default.pipe(Layer.provide(configLayer({ DATA_DIR: dir }))))
        )
        const env = {
          DATA_DIR: dir,
          LOG_LEVEL: "Error",
          POLL_SECONDS: "3600",
          SEC_POLL_SECONDS: "3600",
          POLL_SECONDS_CLOSED: "3600",
          MARKET_DATA_PROVIDER: "none",
          DISCORD_WEBHOOK_URL: discord.webhookUrl(),
          ALERTS_PER_TICKER_PER_MINUTE: "0",
          LLM_PROVIDER: "openai",
          LLM_BASE_URL: llm.url,
          LLM_MODEL: "gpt-4o-mini",
          LLM_API_KEY: "sk-test",
          LLM_RPM: "0",
          LLM_MODE: "enrich",
          DELIVERY_RETRY_BASE_SECONDS: "0.2"
        }
        // The post lands; every edit after it fails (503), so the edit is queued and unsent at the kill.
        const first = spawnCli(["run"], env)
        yield* Effect.addFinalizer(() => Effect.sync(() => first.child.kill("SIGKILL")))
        yield* waitUntil("the post", () => discord.messages.length >= 1, startup)
        discord.outage(503)
        yield* waitUntil("a failed edit", () => discord.requests.some((request) => request.status === 503), startup)
        first.child.kill("SIGKILL")
        yield* Effect.promise(() => first.exited)
        discord.endOutage()
        expect(discord.edits).toHaveLength(0)

        const db = new Database(join(dir, "catalyst-bot.sqlite"), { readonly: true, fileMustExist: true })
        yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
        const editRows = () =>
          db.prepare("SELECT status FROM outbox_edits ORDER BY id").all() as Array<{ status: string }>
        expect(editRows()).toEqual([{ status: "pending" }])

        const second = spawnCli(["once"], env)
        yield* Effect.addFinalizer(() => Effect.sync(() => second.child.kill("SIGKILL")))
        const result = yield* Effect.promise(() => second.exited)
        expect(result.code, result.stderr).toBe(0)
        expect(result.stdout).toContain("edits: 1 sent, 0 still queued")

        expect(discord.messages).toHaveLength(1)
        expect(discord.edits).toHaveLength(1)
        expect(editRows()).toEqual([{ status: "sent" }])
        const [embed] = discord.messages[0]!.payload["embeds"] as Array<{ description: string }>
        expect(embed?.description).toBe(FakeOpenAi.defaultAnalysis.summary)
      }).pipe(Effect.scoped),
    3 * startup
  )
})
