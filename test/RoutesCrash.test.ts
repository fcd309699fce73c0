import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Layer } from "effect"
import type { ChildProcess } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Outbox } from "../src/Delivery/Outbox.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture, classificationFixture } from "./support/Alerts.js"
import { spawnCli } from "./support/Cli.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

const ids = { fda: "100000000000000001", offerings: "100000000000000002", firehose: "100000000000000003" }

/** Hang guards only: a bot started through tsx on a busy machine can take a minute to come up. */
const startup = 180_000

/** What the bots printed, for a timeout's message. */
let output = ""

const startBot = (env: Record<string, string>): ChildProcess => {
  const { child } = spawnCli(["run"], {
    LOG_LEVEL: "Warn",
    POLL_SECONDS: "3600",
    POLL_SECONDS_CLOSED: "3600",
    SEC_POLL_SECONDS: "3600",
    ...env
  })
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  return child
}

const exited = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

const waitUntil = (condition: () => boolean, timeoutMs: number, state: () => unknown) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline)
        return yield* Effect.dieMessage(`timed out waiting; ${JSON.stringify(state())}\n${output.slice(-3000)}`)
      yield* Effect.sleep("20 millis")
    }
  })

describe("fan-out across kill -9", () => {
  it.live(
    "one alert to three routes, killed with one route still to go: after a restart each route has it exactly once",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const fake = yield* makeFakeDiscord()
        const routesFile = join(dir, "routes.json")
        writeFileSync(
          routesFile,
          JSON.stringify({
            routes: Object.entries(ids).map(([name, id]) => ({ name, webhook: fake.webhookUrl(id, `${name}-token`) }))
          })
        )
        const env = {
          DATA_DIR: dir,
          ROUTES_FILE: routesFile,
          MARKET_DATA_PROVIDER: "none",
          ALERTS_PER_TICKER_PER_MINUTE: "0"
        }
        yield* Effect.flatMap(Outbox, (outbox) =>
          outbox.enqueue([alertFixture(1, { classification: classificationFixture({ categories: ["fda_approval"] }) })])
        ).pipe(Effect.provide(Outbox.Default.pipe(Layer.provide(configLayer(env)))))

        // The middle route is told to wait 8 s: the process dies with the other routes delivered (its wait holds
        // up none of them) and the middle one owed.
        fake.rateLimitNext(1, 8_000, ids.offerings)
        const to = (id: string) => fake.messages.filter((message) => message.webhookId === id).length
        const first = startBot(env)
        yield* Effect.addFinalizer(() => Effect.sync(() => first.kill("SIGKILL")))
        const db = new Database(join(dir, "catalyst-bot.sqlite"), { readonly: true, fileMustExist: true })
        yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
        const statuses = () =>
          Object.fromEntries(
            (
              db.prepare("SELECT route, status FROM outbox ORDER BY id").all() as Array<{
                route: string
                status: string
              }>
            ).map((row) => [row.route, row.status])
          )
        // Killed once the 429 is on record (the row back in line), not while its answer is still on the way.
        yield* waitUntil(
          () =>
            to(ids.fda) === 1 &&
            statuses()["firehose"] === "delivered" &&
            fake.requests.some((request) => request.webhookId === ids.offerings && request.status === 429) &&
            statuses()["offerings"] === "pending",
          startup,
          () => [statuses(), fake.requests]
        )
        first.kill("SIGKILL")
        yield* exited(first)
        expect(to(ids.offerings)).toBe(0)
        expect(statuses()).toMatchObject({ fda: "delivered", firehose: "delivered" })
        expect(statuses()["offerings"]).not.toBe("delivered")

        const second = startBot(env)
        yield* Effect.addFinalizer(() => Effect.sync(() => second.kill("SIGKILL")))
        yield* waitUntil(
          () => statuses()["offerings"] === "delivered",
          startup,
          () => [db.prepare("SELECT route, status, next_attempt_at, last_error FROM outbox").all(), fake.requests]
        )
        second.kill("SIGTERM")
        yield* exited(second)

        expect(statuses()).toEqual({ fda: "delivered", offerings: "delivered", firehose: "delivered" })
        expect([to(ids.fda), to(ids.offerings), to(ids.firehose)]).toEqual([1, 1, 1])
        // Nothing was sent twice, not even attempted: one request per delivered route, plus the one 429.
        const posts = (id: string) => fake.requests.filter((request) => request.webhookId === id).length
        expect([posts(ids.fda), posts(ids.offerings), posts(ids.firehose)]).toEqual([1, 2, 1])
      }).pipe(Effect.scoped),
    3 * startup
  )
})
