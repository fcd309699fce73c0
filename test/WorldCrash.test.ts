import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect } from "effect"
import type { ChildProcess } from "node:child_process"
import { join } from "node:path"
import type { Story } from "../src/World/World.js"
import * as World from "../src/World/World.js"
import { spawnCli } from "./support/Cli.js"

/** The real bot, `run` mode, as its own OS process, so it can be killed with SIGKILL. */
const startBot = (env: Record<string, string>): ChildProcess => spawnCli(["run"], { LOG_LEVEL: "Error", ...env }).child

const killed = (child: ChildProcess, signal: NodeJS.Signals) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill(signal)
  })

const waitUntil = (what: string, condition: () => boolean, timeoutMs: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${what}`)
      yield* Effect.sleep("25 millis")
    }
  })

/** Hang guards only: a bot started through tsx on a busy machine can take a minute to come up. */
const startup = 180_000

const total = 12

/** The headline of every alert embed received, packed messages included. */
const titlesOf = (messages: ReadonlyArray<{ readonly payload: Record<string, unknown> }>) =>
  messages.flatMap((message) =>
    (message.payload["embeds"] as Array<{ title: string }>).map(({ title }) => title.slice(title.indexOf(" — ") + 3))
  )
const kinds = ["clinical_results", "government_contract", "partnership"] as const

describe("the whole bot across kill -9", () => {
  it.live(
    "killed mid-cycle, then with a message posted but unanswered, then restarted: its alerts are parked uncertain, the rest arrive once",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make({ discord: { limit: 2, windowMs: 1_000, latencyMs: 100 } })
        const stories = World.companies.slice(0, total).map((company, index): Story => ({
          company,
          kind: kinds[index % kinds.length]!,
          wires: [World.wireNames[index % World.wireNames.length]!]
        }))
        const expected = new Set(world.publish(stories).map((story) => story.title))
        const env: Record<string, string> = {
          ...world.env,
          POLL_SECONDS: "1",
          POLL_SECONDS_CLOSED: "1",
          SEC_POLL_SECONDS: "1",
          LLM_TIMEOUT_SECONDS: "30",
          LLM_CYCLE_BUDGET_SECONDS: "60",
          ALERTS_PER_TICKER_PER_MINUTE: "0",
          // The LLM decides before anything is queued, so a kill during its call leaves nothing decided.
          LLM_MODE: "gate"
        }
        const bots: Array<ChildProcess> = []
        yield* Effect.addFinalizer(() => Effect.sync(() => bots.forEach((bot) => bot.kill("SIGKILL"))))

        // 1. Killed while the LLM is still thinking: fetched, nothing decided yet.
        world.llm.setDefault({ _tag: "Answer", delayMs: 30_000 })
        bots.push(startBot(env))
        yield* waitUntil("the first LLM call", () => world.llm.callCount() > 0, startup)
        yield* killed(bots[0]!, "SIGKILL")
        expect(world.alerts()).toHaveLength(0)

        // 2. Killed while delivering, with a message posted and its answer still on the way: the bot can't
        //    know that one landed. A burst goes out packed, so that message may carry several alerts.
        world.llm.setDefault({ _tag: "Answer" })
        world.discord.holdAnswers(world.alertWebhookId)
        bots.push(startBot(env))
        yield* waitUntil("a message posted but not yet answered", () => world.discord.heldAnswers() > 0, startup)
        yield* killed(bots[1]!, "SIGKILL")
        world.discord.releaseAnswers()
        const held = titlesOf(world.alerts())
        expect(held.length).toBeLessThan(total)

        // 3. Restarted: the rest goes out.
        const db = new Database(join(world.env.DATA_DIR!, "catalyst-bot.sqlite"), {
          readonly: true,
          fileMustExist: true
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
        const settled = () =>
          (
            db.prepare("SELECT count(*) AS n FROM outbox WHERE status NOT IN ('pending', 'sending')").get() as {
              n: number
            }
          ).n
        bots.push(startBot(env))
        yield* waitUntil("every alert to settle", () => settled() >= total, startup)
        yield* killed(bots[2]!, "SIGTERM")

        const received = titlesOf(world.alerts())
        expect(new Set(received).size).toBe(received.length) // none twice
        for (const title of received) expect(expected.has(title)).toBe(true)
        const rows = db.prepare("SELECT status, message_id FROM outbox").all() as Array<{
          status: string
          message_id: string | null
        }>
        const delivered = rows.filter((row) => row.status === "delivered")
        const uncertain = rows.filter((row) => row.status === "uncertain")
        // Exactly the alerts of the one request in flight at the kill are in doubt (it did land); the rest
        // was delivered once.
        expect(uncertain).toHaveLength(held.length)
        expect(delivered.length + uncertain.length).toBe(total)
        expect(received).toHaveLength(total)
        const receivedIds = new Set(world.alerts().map((message) => message.id))
        for (const row of delivered) expect(receivedIds.has(row.message_id!)).toBe(true)
        // The parked row was reported to the admin channel.
        expect(JSON.stringify(world.adminNotices().map((notice) => notice.payload))).toContain(
          "may or may not have been delivered"
        )
      }).pipe(Effect.scoped),
    4 * startup
  )
})
