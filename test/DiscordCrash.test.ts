import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import type { ChildProcess } from "node:child_process"
import { join } from "node:path"
import { Outbox } from "../src/Delivery/Outbox.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture } from "./support/Alerts.js"
import { spawnCli } from "./support/Cli.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

const total = 100

/** Every alert embed received, packed messages included. */
const titlesOf = (messages: ReadonlyArray<{ readonly payload: Record<string, unknown> }>) =>
  messages.flatMap((message) => (message.payload["embeds"] as Array<{ title: string }>).map(({ title }) => title))

/** Hang guards only: a bot started through tsx on a busy machine can take a minute to come up. */
const startup = 180_000

/** The real bot, `run` mode, as its own OS process, so it can be killed with SIGKILL. */
const startBot = (env: Record<string, string>): ChildProcess =>
  spawnCli(["run"], {
    LOG_LEVEL: "Error",
    POLL_SECONDS: "3600",
    POLL_SECONDS_CLOSED: "3600",
    SEC_POLL_SECONDS: "3600",
    ...env
  }).child

const exited = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

const waitUntil = (condition: () => boolean, timeoutMs: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.dieMessage("timed out waiting")
      yield* Effect.sleep("20 millis")
    }
  })

describe("Discord delivery across kill -9", () => {
  it.live(
    "a SIGKILL mid-burst, then a restart: the rest are delivered, none twice",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        // Answers take a while, so the kill lands mid-burst although the burst goes out packed.
        const fake = yield* makeFakeDiscord({ limit: 5, windowMs: 200, latencyMs: 150 })
        const titles = Array.from({ length: total }, (_, i) => `T${i} (NASDAQ) — Headline ${i}`)

        // Seed the outbox through the real code path, then close the database.
        yield* Effect.flatMap(Outbox, (outbox) =>
          outbox.enqueue(Array.from({ length: total }, (_, i) => alertFixture(i)))
        ).pipe(Effect.provide(Outbox.Default.pipe(Layer.provide(configLayer({ DATA_DIR: dir })))))

        // No feeds (spawnCli's default) and no quotes: the only traffic is to the fake Discord.
        const env = {
          DATA_DIR: dir,
          MARKET_DATA_PROVIDER: "none",
          DISCORD_WEBHOOK_URL: fake.webhookUrl(),
          ALERTS_PER_TICKER_PER_MINUTE: "0"
        }
        const first = startBot(env)
        yield* waitUntil(() => titlesOf(fake.messages).length >= 30, startup)
        first.kill("SIGKILL")
        yield* exited(first)
        const beforeRestart = titlesOf(fake.messages).length
        expect(beforeRestart).toBeLessThan(total)

        const db = new Database(join(dir, "catalyst-bot.sqlite"), { readonly: true, fileMustExist: true })
        yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
        const open = () =>
          (db.prepare("SELECT count(*) AS n FROM outbox WHERE status IN ('pending', 'sending')").get() as { n: number })
            .n

        const second = startBot(env)
        yield* Effect.addFinalizer(() => Effect.sync(() => second.kill("SIGKILL")))
        yield* waitUntil(() => open() === 0, startup)
        second.kill("SIGTERM")
        yield* exited(second)

        const received = titlesOf(fake.messages)
        expect(new Set(received).size).toBe(received.length) // none twice
        const rows = db.prepare("SELECT id, status, message_id FROM outbox ORDER BY id").all() as Array<{
          id: number
          status: string
          message_id: string | null
        }>
        const uncertain = rows.filter((row) => row.status === "uncertain")
        const delivered = rows.filter((row) => row.status === "delivered")
        // At most the alerts of the one request in flight at the kill (ten, packed) are in doubt; everything
        // else was delivered.
        expect(uncertain.length).toBeLessThanOrEqual(10)
        expect(delivered.length + uncertain.length).toBe(total)
        expect(received.length).toBeGreaterThanOrEqual(total - uncertain.length)
        const receivedIds = new Set(fake.messages.map((m) => m.id))
        for (const row of delivered) expect(receivedIds.has(row.message_id!)).toBe(true)
        // In order per webhook.
        expect(received).toEqual(titles.filter((title) => received.includes(title)))
      }).pipe(Effect.scoped),
    3 * startup
  )
})
