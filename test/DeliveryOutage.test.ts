import { SqlClient } from "@effect/sql"
import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it, vi } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, TestClock } from "effect"
import { outboxCommand } from "../src/App/OutboxCommand.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { AdminQueue } from "../src/Kernel/AdminChannel.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture } from "./support/Alerts.js"
import { runCli } from "./support/Cli.js"
import { discordDelivery, embedOf, outboxRecords } from "./support/DeliveryHarness.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

/** `seconds` of TestClock time, one second at a time, delivering whatever is due after each. */
const elapse = (seconds: number, stepSeconds = 1) =>
  Effect.gen(function* () {
    const delivery = yield* Delivery
    for (let t = 0; t < seconds; t += stepSeconds) {
      yield* TestClock.adjust(`${stepSeconds} seconds`)
      yield* delivery.drainOnce()
    }
  })

const statusCounts = Effect.map(outboxRecords, (rows) => {
  const counts: Record<string, number> = {}
  for (const row of rows) counts[row.status] = (counts[row.status] ?? 0) + 1
  return counts
})

describe("Discord outages", () => {
  // Discord's clock is real, the bot's is the TestClock: the bucket is wide, so only the outage matters.
  const fakeOptions = { limit: 1_000, windowMs: 1_000, globalPerSecond: 1_000 }

  it.scoped(
    "a 90 s run of 5xx with 25 alerts: every alert is delivered once after it, none given up on",
    () =>
      Effect.gen(function* () {
        const fake = yield* makeFakeDiscord(fakeOptions)
        const dir = yield* tempDir
        // Default retry settings and per-ticker cap; the timeout is out of the TestClock's way.
        const layer = discordDelivery(fake.webhookUrl(), dir, {
          DISCORD_TIMEOUT_SECONDS: 600,
          ALERTS_PER_TICKER_PER_MINUTE: 4
        })
        yield* Effect.gen(function* () {
          fake.outage(503)
          yield* (yield* Outbox).enqueue(Array.from({ length: 25 }, (_, i) => alertFixture(i)))
          yield* elapse(90)
          expect(fake.messages).toHaveLength(0)
          expect(yield* statusCounts).toEqual({ pending: 25 })

          fake.endOutage()
          // Retries are at most a minute apart (jittered by a fifth): all out within 72 s of the end.
          yield* elapse(72)
          expect(yield* statusCounts).toEqual({ delivered: 25 })
          const titles = fake.messages.map((message) => embedOf(message.payload).title)
          expect(titles).toHaveLength(25)
          expect(new Set(titles).size).toBe(25)
        }).pipe(Effect.provide(layer))
      }),
    120_000
  )

  it.scoped(
    "undelivered after ALERT_MAX_DELAY_MINUTES an alert expires with the reason; a 400 dead-letters at once",
    () =>
      Effect.gen(function* () {
        const fake = yield* makeFakeDiscord(fakeOptions)
        const dir = yield* tempDir
        const layer = discordDelivery(fake.webhookUrl(), dir, {
          DISCORD_TIMEOUT_SECONDS: 600,
          ALERT_MAX_DELAY_MINUTES: 5
        })
        yield* Effect.gen(function* () {
          fake.failNext(1, 400)
          fake.outage(502)
          yield* (yield* Outbox).enqueue([alertFixture(1), alertFixture(2)])
          yield* (yield* Delivery).drainOnce()
          expect((yield* outboxRecords).map((row) => [row.status, row.attempts])).toEqual([
            ["dead", 1],
            ["pending", 1]
          ])

          yield* elapse(299)
          expect((yield* outboxRecords)[1]!.status).toBe("pending")
          yield* elapse(1)
          const expired = (yield* outboxRecords)[1]!
          expect(expired.status).toBe("expired")
          expect(expired.attempts).toBeGreaterThan(6)
          expect(expired.last_error).toBe(
            "not delivered within ALERT_MAX_DELAY_MINUTES=5 (queued 5 min ago); last error: webhook alerts: HTTP 502"
          )
          const queue = yield* AdminQueue
          const notices = [yield* queue.take, yield* queue.take]
          expect(notices).toContainEqual(
            expect.objectContaining({
              event: expect.objectContaining({ detail: expect.stringContaining("catalyst-bot outbox retry 2") })
            })
          )
          expect(fake.messages).toHaveLength(0)
        }).pipe(Effect.provide(layer))
      }),
    120_000
  )
})

describe("catalyst-bot outbox", () => {
  const outboxIn = (dir: string) =>
    Layer.mergeAll(Outbox.Default, SqlLive).pipe(Layer.provide(configLayer({ DATA_DIR: dir })))

  /** Four alerts: 1 dead-lettered, 2 expired, 3 uncertain, 4 delivered. */
  const seed = (dir: string) =>
    Effect.gen(function* () {
      const outbox = yield* Outbox
      const sql = yield* SqlClient.SqlClient
      yield* outbox.enqueue([1, 2, 3, 4].map((n) => alertFixture(n)))
      yield* outbox.deadLetter(1, "webhook alerts: HTTP 400 invalid message: embeds.0.title too long")
      yield* outbox.expire(2, "not delivered within ALERT_MAX_DELAY_MINUTES=30 (queued 30 min ago)", true)
      yield* outbox.parkUncertain(3, "webhook alerts: sent, then no answer within DISCORD_TIMEOUT_SECONDS=15")
      yield* outbox.markDelivered(4, "m4")
      yield* sql`UPDATE outbox SET created_at = created_at - 3600000`
    }).pipe(Effect.provide(outboxIn(dir)))

  const rowsIn = (dir: string) => outboxRecords.pipe(Effect.provide(outboxIn(dir)))

  it.scopedLive("requeue without ids takes every dead-lettered and expired alert, not the uncertain ones", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* seed(dir)
      const result = yield* Effect.flatMap(Outbox, (outbox) => outbox.requeue([])).pipe(Effect.provide(outboxIn(dir)))
      expect(result).toEqual({ requeued: [1, 2], refused: [] })
      const rows = yield* rowsIn(dir)
      expect(rows.map((row) => [row.status, row.attempts, row.maybe_sent])).toEqual([
        ["pending", 0, 0],
        ["pending", 0, 0],
        ["uncertain", 1, 1],
        ["delivered", 1, 0]
      ])
    })
  )

  /** `catalyst-bot outbox …` in this process; what it printed, line by line. */
  const outboxCli = (dir: string, ...args: Array<string>) =>
    Effect.gen(function* () {
      const printed: Array<string> = []
      const log = vi.spyOn(console, "log").mockImplementation((line: unknown) => void printed.push(String(line)))
      const exit = yield* Command.run(outboxCommand, { name: "catalyst-bot", version: "test" })([
        "node",
        "catalyst-bot",
        ...args
      ]).pipe(
        Effect.provide(NodeContext.layer),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATA_DIR", dir]]))),
        Effect.exit,
        Effect.ensuring(Effect.sync(() => log.mockRestore()))
      )
      return { exit, lines: printed.join("\n").split("\n") }
    })

  it.scopedLive("lists the failed alerts with why; `outbox retry ID…` re-queues the named ones", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* seed(dir)

      const listed = yield* outboxCli(dir)
      expect(listed.exit._tag).toBe("Success")
      expect(listed.lines[0]).toMatch(/^\s*ID\s+STATUS\s+AGE\s+TICKER\s+TITLE$/)
      expect(listed.lines.slice(1, 7)).toEqual([
        expect.stringMatching(/^\s+1 {2}dead-lettered\s+1h {2}T1\s+Headline 1$/),
        expect.stringContaining("HTTP 400 invalid message: embeds.0.title too long"),
        expect.stringMatching(/^\s+2 {2}expired\s+1h {2}T2\s+Headline 2$/),
        expect.stringContaining("not delivered within ALERT_MAX_DELAY_MINUTES=30"),
        expect.stringMatching(/^\s+3 {2}uncertain\s+1h {2}T3\s+Headline 3$/),
        expect.stringContaining("sent, then no answer within DISCORD_TIMEOUT_SECONDS=15")
      ])
      expect(listed.lines[7]).toMatch(/^1 dead-lettered, 1 expired, 1 uncertain\./)
      expect(listed.lines.join("\n")).not.toContain("Headline 4")

      const retried = yield* outboxCli(dir, "retry", "3", "1")
      expect(retried.exit._tag).toBe("Success")
      expect(retried.lines[0]).toMatch(/^queued again: 2 alert\(s\) \(3, 1\)/)
      const rows = yield* rowsIn(dir)
      expect(rows.map((row) => [row.id, row.status, row.maybe_sent])).toEqual([
        [1, "pending", 0],
        [2, "expired", 0],
        // It may have arrived: its next send is checked against the channel or marked as a possible repeat.
        [3, "pending", 1],
        [4, "delivered", 0]
      ])
      expect((yield* outboxCli(dir)).lines).toEqual([
        expect.stringMatching(/ID/),
        expect.stringMatching(/^\s+2 {2}expired/),
        expect.stringContaining("ALERT_MAX_DELAY_MINUTES=30"),
        expect.stringMatching(/^0 dead-lettered, 1 expired, 0 uncertain\./)
      ])
    })
  )

  it.scopedLive(
    "`catalyst-bot outbox retry` refuses what it can't re-queue in one line, and exits non-zero",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        yield* seed(dir)
        const retried = yield* Effect.promise(() => runCli(["outbox", "retry", "2", "4", "99"], { DATA_DIR: dir }))
        expect(retried.stdout).toContain("queued again: 1 alert(s) (2)")
        expect(retried.stderr.trim().split("\n")).toEqual([
          "OutboxRetryRefused: alert 4: it is delivered, not dead, expired or uncertain; alert 99: no such alert in the outbox"
        ])
        expect(retried.code).toBe(1)
        expect((yield* rowsIn(dir)).map((row) => row.status)).toEqual(["dead", "pending", "uncertain", "delivered"])
      }),
    180_000
  )
})
