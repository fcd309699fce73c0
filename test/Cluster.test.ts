import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import type { ChildProcess } from "node:child_process"
import type { Story } from "../src/World/World.js"
import * as World from "../src/World/World.js"
import { freePort, spawnCli } from "./support/Cli.js"
import { freshPgDatabase } from "./support/Databases.js"

/**
 * Runners of `catalyst-bot run` with CLUSTER=1 on one PostgreSQL, each its own OS process (so it can
 * be killed with SIGKILL or paused with SIGSTOP), against the simulated world and its Discord fake.
 */

const lease = 3
const startup = 120_000
const botToken = "cluster-bot-token"

const kinds = ["clinical_results", "government_contract", "partnership"] as const

/** The headline of every alert embed received, packed messages included. */
const titlesOf = (messages: ReadonlyArray<{ readonly payload: Record<string, unknown> }>) =>
  messages.flatMap((message) =>
    (message.payload["embeds"] as Array<{ title: string }>).map(({ title }) => title.slice(title.indexOf(" — ") + 3))
  )

const waitUntil = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!(yield* Effect.promise(async () => condition()))) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${what}`)
      yield* Effect.sleep("50 millis")
    }
  })

const exited = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

interface Runner {
  readonly address: string
  readonly child: ChildProcess
  readonly stderr: () => string
}

/** A world, a fresh database, and a way to start runners on both. */
const cluster = Effect.gen(function* () {
  const world = yield* World.make({ discord: { limit: 5, windowMs: 2_000, latencyMs: 30, botToken } })
  const databaseUrl = yield* freshPgDatabase
  const { DATA_DIR: _ownDataDir, ...worldEnv } = world.env
  const env: Record<string, string> = {
    ...worldEnv,
    LOG_LEVEL: process.env.CLUSTER_TEST_LOG_LEVEL ?? "Error",
    DATABASE_URL: databaseUrl,
    CLUSTER: "1",
    CLUSTER_LEASE_SECONDS: String(lease),
    POLL_SECONDS: "1",
    POLL_SECONDS_CLOSED: "1",
    SEC_POLL_SECONDS: "1",
    LLM_PROVIDER: "none",
    ALERTS_PER_TICKER_PER_MINUTE: "0",
    DISCORD_BOT_TOKEN: botToken,
    DISCORD_CHANNEL_ID: "1",
    DISCORD_API_BASE_URL: world.discord.apiBaseUrl
  }
  const runners: Array<Runner> = []
  yield* Effect.addFinalizer(() =>
    Effect.forEach(runners, (runner) =>
      Effect.suspend(() => {
        runner.child.kill("SIGCONT")
        runner.child.kill("SIGKILL")
        return exited(runner.child)
      })
    )
  )
  const start = Effect.gen(function* () {
    const port = yield* Effect.promise(freePort)
    const bot = spawnCli(["run"], { ...env, RUNNER_PORT: String(port) })
    let stderr = ""
    bot.child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const runner: Runner = { address: `127.0.0.1:${port}`, child: bot.child, stderr: () => stderr }
    runners.push(runner)
    return runner
  })
  return { world, databaseUrl, start, runners } as const
})

interface OwnerRow {
  readonly work: string
  readonly owner: string
  readonly epoch: number
}

const stories = (count: number, offset = 0) =>
  World.companies.slice(offset, offset + count).map((company, index): Story => ({
    company,
    kind: kinds[index % kinds.length]!,
    wires: [World.wireNames[index % World.wireNames.length]!]
  }))

describe("cluster mode: runners on one PostgreSQL", () => {
  it.live(
    "kill -9 of the runner holding the SEC poller and the busy webhook mid-burst: every story once, in order, the work moved",
    () =>
      Effect.gen(function* () {
        const { world, databaseUrl, start } = yield* cluster
        const pg = PgClient.layer({ url: Redacted.make(databaseUrl) })
        const owners = () =>
          Effect.runPromise(
            Effect.flatMap(
              SqlClient.SqlClient,
              (sql) => sql<OwnerRow>`SELECT work, owner, epoch FROM work_owners`
            ).pipe(
              Effect.provide(pg),
              Effect.catchAll(() => Effect.succeed([] as ReadonlyArray<OwnerRow>))
            )
          )
        const runners = [yield* start, yield* start, yield* start]
        yield* Effect.addFinalizer((exit) =>
          exit._tag === "Success"
            ? Effect.void
            : Effect.promise(async () => {
                // Written only when a run fails: who held what, and each runner's log.
                const { writeFileSync } = await import("node:fs")
                writeFileSync(
                  "/tmp/cluster-test-debug.txt",
                  [
                    `alerts: ${world.alerts().length}`,
                    `owners: ${JSON.stringify(await owners())}`,
                    ...runners.map((r) => `--- ${r.address}\n${r.stderr()}`)
                  ].join("\n")
                )
              })
        )
        let table: ReadonlyArray<OwnerRow> = []
        yield* waitUntil(
          "every poller and the route to have an owner",
          async () => {
            table = await owners()
            return table.length >= 5
          },
          startup
        )
        const ownerOf = (work: string) => table.find((row) => row.work === work)!.owner
        // The first runner up holds everything until the others have joined and the shards are shared out.
        yield* Effect.sleep(`${lease + 2} seconds`)

        const expected = world.publish(stories(12)).map((story) => story.title)
        yield* waitUntil("the burst to be under way", () => world.alerts().length >= 2, startup)
        table = yield* Effect.promise(owners)
        const victims = new Set([ownerOf("route:default"), ownerOf("poller:SEC EDGAR")])
        const killedAt = Date.now()
        for (const runner of runners.filter((r) => victims.has(r.address))) {
          runner.child.kill("SIGKILL")
          yield* exited(runner.child)
        }
        // The rest of the burst lands after the kill: the new holders must poll and deliver it.
        expected.push(...world.publish(stories(12, 12)).map((story) => story.title))
        const before = world.discord.messages.filter((m) => m.webhookId === world.alertWebhookId).length

        yield* waitUntil(
          "every story to arrive",
          () => {
            const received = new Set(titlesOf(world.alerts()))
            return expected.every((title) => received.has(title))
          },
          startup
        )
        const query = <A extends object>(
          statement: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<A>, unknown>
        ) => Effect.runPromise(Effect.flatMap(SqlClient.SqlClient, statement).pipe(Effect.provide(pg), Effect.orDie))
        yield* waitUntil(
          "the outbox to settle",
          async () =>
            (
              await query(
                (sql) => sql<{ n: number }>`
                SELECT count(*)::int AS n FROM outbox WHERE status IN ('pending', 'sending')`
              )
            )[0]!.n === 0,
          30_000
        )
        const statuses = yield* Effect.promise(() =>
          query(
            (sql) => sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM outbox GROUP BY status`
          )
        )
        console.log(`outbox: ${JSON.stringify(statuses)}`)
        const firstAfter = world.discord.messages.filter((m) => m.webhookId === world.alertWebhookId).slice(before)[0]
        const failoverMs = firstAfter === undefined ? null : firstAfter.at - killedAt
        console.log(`kill -9 → first delivery by the new owner: ${failoverMs} ms (lease ${lease} s)`)

        const received = titlesOf(world.alerts())
        expect(received.length).toBe(new Set(received).size) // none twice
        // In order on the webhook: each source's alerts arrive in the order the outbox queued them
        // (delivery takes turns between sources, so only within a source is the order fixed).
        const rows = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ id: number; source: string; message_id: string | null }>`
            SELECT id, source, message_id FROM outbox WHERE status = 'delivered' ORDER BY id`
        ).pipe(Effect.provide(pg))
        expect(rows.length).toBeGreaterThanOrEqual(expected.length)
        const position = new Map(world.alerts().map((message, index) => [message.id, index]))
        for (const source of new Set(rows.map((row) => row.source))) {
          const positions = rows
            .filter((row) => row.source === source)
            .map((row) => position.get(row.message_id!) ?? -1)
          expect(positions, source).toEqual([...positions].sort((a, b) => a - b))
        }
        // The work of the dead runner(s) moved to the living.
        const after = yield* Effect.promise(owners)
        for (const row of after) expect(victims.has(row.owner)).toBe(false)
        expect(JSON.stringify(world.adminNotices().map((notice) => notice.payload))).toContain("moved to runner")
      }).pipe(Effect.scoped),
    4 * startup
  )
})
