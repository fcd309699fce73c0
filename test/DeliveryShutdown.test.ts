import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Duration, Effect, Exit, Layer, Scope } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Delivery } from "../src/Delivery/Delivery.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture } from "./support/Alerts.js"
import { spawnCli } from "./support/Cli.js"
import { discordDelivery, type OutboxRecord, realPause, waitUntil } from "./support/DeliveryHarness.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

const roomy = { limit: 1_000, windowMs: 1_000, globalPerSecond: 1_000 }

/** The outbox as another process sees it. */
const rowsIn = (dir: string) => {
  const db = new Database(join(dir, "catalyst-bot.sqlite"), { readonly: true, fileMustExist: true })
  try {
    return db
      .prepare("SELECT id, status, attempts, message_id, last_error, maybe_sent FROM outbox ORDER BY id")
      .all() as Array<OutboxRecord>
  } finally {
    db.close()
  }
}

const seed = (dir: string, count: number) =>
  Effect.flatMap(Outbox, (outbox) => outbox.enqueue(Array.from({ length: count }, (_, i) => alertFixture(i + 1)))).pipe(
    Effect.provide(Outbox.Default.pipe(Layer.provide(configLayer({ DATA_DIR: dir }))))
  )

describe("shutdown while an alert is in flight", () => {
  it.scopedLive(
    "SIGTERM mid-send: the bot waits for Discord's answer and records the alert delivered, not uncertain",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        // Discord holds its answer for 3 s: long enough that the signal surely lands mid-send.
        const fake = yield* makeFakeDiscord({ ...roomy, latencyMs: 3_000 })
        yield* seed(dir, 1)
        const feedsFile = join(dir, "feeds.json")
        writeFileSync(feedsFile, "[]")
        const bot = spawnCli(["run"], {
          DATA_DIR: dir,
          FEEDS_FILE: feedsFile,
          DISCORD_WEBHOOK_URL: fake.webhookUrl(),
          HEALTH_PORT: "0",
          POLL_SECONDS: "3600",
          POLL_SECONDS_CLOSED: "3600",
          SEC_POLL_SECONDS: "3600",
          SHUTDOWN_GRACE_SECONDS: "20",
          LOG_LEVEL: "Error"
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => bot.child.kill("SIGKILL")))
        yield* waitUntil("the alert's request to reach Discord", () => fake.arrivals() >= 1, 150_000)
        bot.child.kill("SIGTERM")
        const result = yield* Effect.promise(() => bot.exited)

        expect(result, result.stderr).toMatchObject({ code: 0, signal: null })
        expect(fake.messages).toHaveLength(1)
        expect(rowsIn(dir)).toMatchObject([{ status: "delivered", message_id: fake.messages[0]!.id }])
      }),
    180_000
  )

  /** Delivery in a scope of its own, closed (as a shutdown does) once Discord has the request. */
  const shutDownMidSend = (
    dir: string,
    url: string,
    config: Record<string, string | number>,
    inFlight: () => boolean
  ) =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(discordDelivery(url, dir, config), scope)
      yield* Effect.gen(function* () {
        yield* (yield* Outbox).enqueue([alertFixture(1)])
        yield* Effect.fork((yield* Delivery).awaitSettled(0, Duration.seconds(60)))
      }).pipe(Effect.provide(context))
      yield* waitUntil("the send to be under way", inFlight)
      yield* Scope.close(scope, Exit.void)
    })

  it.scopedLive(
    "no answer within SHUTDOWN_GRACE_SECONDS: the request is cut off and the row parked uncertain at once",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const fake = yield* makeFakeDiscord({ ...roomy, latencyMs: 60_000 })
        yield* shutDownMidSend(dir, fake.webhookUrl(), { SHUTDOWN_GRACE_SECONDS: 0 }, () => fake.arrivals() >= 1)
        expect(rowsIn(dir)).toMatchObject([
          {
            status: "uncertain",
            maybe_sent: 1,
            last_error:
              "in flight at shutdown and unanswered after SHUTDOWN_GRACE_SECONDS=0; not re-sent to avoid a duplicate"
          }
        ])
      })
  )

  it.scopedLive("a send still waiting for its rate-limit slot is dropped at once; the row stays pending", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const fake = yield* makeFakeDiscord(roomy)
      // The first request meets a global 429 of a minute; the retry then waits in the rate limiter.
      fake.blockGlobally(60_000)
      yield* shutDownMidSend(dir, fake.webhookUrl(), { SHUTDOWN_GRACE_SECONDS: 30 }, () => fake.requests.length >= 1)
      yield* realPause(100)
      expect(fake.requests.map((request) => request.status)).toEqual([429])
      expect(rowsIn(dir)).toMatchObject([{ status: "pending", attempts: 0 }])
    })
  )
})
