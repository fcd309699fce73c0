import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Duration, Effect, Schedule } from "effect"
import { join } from "node:path"
import { Delivery } from "../src/Delivery/Delivery.js"
import { Runner } from "../src/Runner/Runner.js"
import * as World from "../src/World/World.js"
import { worldBot } from "./support/WorldBot.js"

/** Polls `check` until it holds or `within` passes; the assertion after it says what was expected. */
const eventually = <A>(check: () => A, holds: (value: A) => boolean, within: Duration.DurationInput) =>
  Effect.repeat(Effect.sync(check), { until: holds, schedule: Schedule.spaced(Duration.millis(100)) }).pipe(
    Effect.timeout(within),
    Effect.ignore
  )

const title = (message: { readonly payload: Record<string, unknown> }) =>
  ((message.payload["embeds"] as Array<{ title?: string }> | undefined)?.[0]?.title ?? "") as string

describe("the bot the world tests step is the one `run` ships", () => {
  it.live("admin notices reach their own webhook, and outcome tracking follows the delivered alerts", () =>
    Effect.gen(function* () {
      const world = yield* World.make({ discord: { limit: 50, windowMs: 1_000 } })
      // Two: few enough to go alone under the burst packing rule, so the 400 meets a single alert.
      const published = world.publish(
        World.wireNames.slice(0, 2).map((wire, index) => ({
          company: World.companies[20 + index]!,
          kind: "government_contract" as const,
          wires: [wire]
        }))
      )
      world.discord.failNext(1, 400, world.webhookIds.alerts)
      const trackedAlerts = () => {
        const db = new Database(join(world.env.DATA_DIR!, "catalyst-bot.sqlite"), { readonly: true })
        try {
          return (db.prepare("SELECT count(*) AS n FROM price_outcomes WHERE kind = 'alert'").get() as { n: number }).n
        } finally {
          db.close()
        }
      }
      yield* Effect.gen(function* () {
        yield* (yield* Runner).runCycle
        const settled = yield* (yield* Delivery).awaitSettled(0, Duration.seconds(20))
        expect(settled).toMatchObject({ delivered: published.length - 1, failed: 1 })
        yield* eventually(
          () => world.adminNotices().map(title),
          (titles) => titles.some((t) => t.includes("not delivered")),
          Duration.seconds(20)
        )
        yield* eventually(trackedAlerts, (n) => n >= published.length - 1, Duration.seconds(20))
      }).pipe(Effect.provide(worldBot(world, { OUTCOME_POLL_SECONDS: 1 })))

      expect(world.adminNotices().map(title)).toContainEqual(expect.stringMatching(/alert for [A-Z]+ not delivered/))
      expect(world.alerts()).toHaveLength(published.length - 1)
      expect(trackedAlerts()).toBe(published.length - 1)
    }).pipe(Effect.scoped)
  )
})
