import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import type { ChildProcess } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Story } from "../src/World/World.js"
import * as World from "../src/World/World.js"
import { createServer } from "node:net"
import { freePort, runCli, spawnCli } from "./support/Cli.js"
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
const cluster = (latencyMs = 30, routes: (world: World.World) => Record<string, string> = () => ({})) =>
  Effect.gen(function* () {
    const world = yield* World.make({ discord: { limit: 5, windowMs: 2_000, latencyMs, botToken } })
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
      DISCORD_API_BASE_URL: world.discord.apiBaseUrl,
      ...routes(world)
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
    // Written only when a test fails: each runner's log.
    yield* Effect.addFinalizer((exit) =>
      exit._tag === "Success"
        ? Effect.void
        : Effect.sync(() =>
            writeFileSync(
              join(tmpdir(), "catalyst-bot-cluster-test.log"),
              runners.map((runner) => `--- ${runner.address}\n${runner.stderr()}`).join("\n")
            )
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
        const { world, databaseUrl, start } = yield* cluster()
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

  it.live(
    "SIGSTOP past the lease: another runner takes the webhook over; after SIGCONT the paused one sends nothing it lost",
    () =>
      Effect.gen(function* () {
        const { world, databaseUrl, start } = yield* cluster(200)
        const pg = PgClient.layer({ url: Redacted.make(databaseUrl) })
        const query = <A extends object>(
          statement: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<A>, unknown>
        ) =>
          Effect.runPromise(
            Effect.flatMap(SqlClient.SqlClient, statement).pipe(
              Effect.provide(pg),
              Effect.catchAllCause(() => Effect.succeed([] as ReadonlyArray<A>))
            )
          )
        const owners = () => query((sql) => sql<OwnerRow>`SELECT work, owner, epoch FROM work_owners`)
        const runners = [yield* start, yield* start]
        yield* waitUntil(
          "every poller and the route to have an owner",
          async () => (await owners()).length >= 5,
          startup
        )
        yield* Effect.sleep(`${lease + 2} seconds`)

        const expected = world.publish(stories(10)).map((story) => story.title)
        yield* waitUntil("the burst to be under way", () => world.alerts().length >= 1, startup)
        const held = (yield* Effect.promise(owners)).find((row) => row.work === "route:default")!
        const paused = runners.find((runner) => runner.address === held.owner)!
        paused.child.kill("SIGSTOP")
        const stoppedAt = Date.now()
        let takeover: OwnerRow | undefined
        yield* waitUntil(
          "another runner to take the webhook over",
          async () => {
            takeover = (await owners()).find((row) => row.work === "route:default" && row.owner !== paused.address)
            return takeover !== undefined
          },
          startup
        )
        expected.push(...world.publish(stories(10, 10)).map((story) => story.title))
        const allArrived = () => {
          const received = new Set(titlesOf(world.alerts()))
          return expected.every((title) => received.has(title))
        }
        yield* waitUntil("every story to arrive while the runner is paused", allArrived, startup)
        const resumedAt = Date.now()
        paused.child.kill("SIGCONT")
        // Back: it finds its lease gone, and may later be given work again under a new epoch.
        yield* Effect.sleep(`${lease + 3} seconds`)
        expected.push(...world.publish(stories(6, 20)).map((story) => story.title))
        yield* waitUntil("the stories after the pause to arrive", allArrived, startup)
        yield* Effect.sleep("2 seconds")

        const received = titlesOf(world.alerts())
        expect(received.length).toBe(new Set(received).size) // none twice
        expect(stoppedAt).toBeLessThan(resumedAt)
        // Whatever the paused runner claimed after it came back, it claimed under an epoch newer than
        // the takeover's: it held the route again by then, never sent on the route it had lost.
        const claims = yield* Effect.promise(() =>
          query(
            (sql) => sql<{ id: number; claim_epoch: number }>`
            SELECT id, claim_epoch FROM outbox WHERE claimed_by = ${paused.address} AND sending_at >= ${resumedAt}`
          )
        )
        for (const claim of claims) expect(Number(claim.claim_epoch)).toBeGreaterThan(Number(takeover!.epoch))
      }).pipe(Effect.scoped),
    4 * startup
  )

  it.live(
    "a fourth runner joins a busy cluster: it takes a share of the pollers and webhooks, nothing is sent twice",
    () =>
      Effect.gen(function* () {
        // Many webhooks, each a route taking every alert: enough singletons that the joiner's share
        // of the shards holds some of them.
        const webhookIds = Array.from({ length: 10 }, (_, i) => String(200000000000000001n + BigInt(i)))
        const { world, databaseUrl, start } = yield* cluster(30, (world) => {
          const path = join(mkdtempSync(join(tmpdir(), "cluster-routes-")), "routes.json")
          writeFileSync(
            path,
            JSON.stringify({
              routes: webhookIds.map((id, i) => ({ name: `hook${i}`, webhook: world.discord.webhookUrl(id, `t${i}`) }))
            })
          )
          // The per-source cap counts an alert once per route: ten routes would hit it within the stream.
          return { ROUTES_FILE: path, SOURCE_MAX_ALERTS_PER_MINUTE: "0" }
        })
        const pg = PgClient.layer({ url: Redacted.make(databaseUrl) })
        const owners = () =>
          Effect.runPromise(
            Effect.flatMap(
              SqlClient.SqlClient,
              (sql) => sql<OwnerRow & { previous_owner: string | null }>`
                SELECT work, owner, epoch, previous_owner FROM work_owners`
            ).pipe(
              Effect.provide(pg),
              Effect.catchAll(() => Effect.succeed([] as ReadonlyArray<OwnerRow & { previous_owner: string | null }>))
            )
          )
        const works = webhookIds.length + 4
        const first = [yield* start, yield* start, yield* start]
        yield* waitUntil(
          "every poller and route to have an owner",
          async () => (await owners()).length >= works,
          startup
        )
        yield* Effect.sleep(`${lease + 2} seconds`)
        const threeAddresses = new Set(first.map((runner) => runner.address))
        expect((yield* Effect.promise(owners)).every((row) => threeAddresses.has(row.owner))).toBe(true)

        const titlesOn = (webhookId: string) =>
          titlesOf(world.discord.messages.filter((message) => message.webhookId === webhookId))
        const expected = world.publish(stories(8)).map((story) => story.title)
        yield* waitUntil("the stream to be under way", () => titlesOn(webhookIds[0]!).length >= 1, startup)
        const joiner = yield* start
        // Stories keep coming while the shards are shared out again.
        expected.push(...world.publish(stories(4, 8)).map((story) => story.title))
        yield* waitUntil(
          "the fourth runner to hold some of the work",
          async () => (await owners()).some((row) => row.owner === joiner.address),
          startup
        )
        expected.push(...world.publish(stories(4, 12)).map((story) => story.title))
        yield* waitUntil(
          "every story on every webhook",
          () =>
            webhookIds.every((id) => {
              const received = new Set(titlesOn(id))
              return expected.every((title) => received.has(title))
            }),
          startup
        ).pipe(
          // Which stories never arrived, and what the outbox holds: the hand-over that lost them.
          Effect.tapErrorCause(() =>
            Effect.promise(async () =>
              console.log(
                JSON.stringify({
                  missing: expected.filter((title) => !titlesOn(webhookIds[0]!).includes(title)),
                  owners: await owners()
                })
              )
            )
          )
        )
        yield* Effect.sleep("2 seconds")

        for (const id of webhookIds) {
          const received = titlesOn(id)
          expect(received.length, `webhook ${id}`).toBe(new Set(received).size) // none twice
          expect(new Set(received), `webhook ${id}`).toEqual(new Set(expected))
        }
        // What the joiner holds it took over from one of the three, under a newer epoch.
        const taken = (yield* Effect.promise(owners)).filter((row) => row.owner === joiner.address)
        expect(taken.length).toBeGreaterThan(0)
        for (const row of taken) {
          expect(threeAddresses.has(row.previous_owner ?? "")).toBe(true)
          expect(Number(row.epoch)).toBeGreaterThan(1)
        }
      }).pipe(Effect.scoped),
    4 * startup
  )

  it.live(
    "CLUSTER=1 without a PostgreSQL DATABASE_URL: one line saying so, exit non-zero",
    () =>
      Effect.gen(function* () {
        const result = yield* Effect.promise(() => runCli(["run"], { CLUSTER: "1", LOG_LEVEL: "Error" }))
        expect(result.code).not.toBe(0)
        expect(result.stderr.trim()).toBe(
          "ClusterUnavailable: CLUSTER=1 needs DATABASE_URL=postgres://…: the runners coordinate through PostgreSQL"
        )
      }),
    startup
  )

  it.live(
    "a RUNNER_PORT already in use: one line naming it, exit non-zero",
    () =>
      Effect.gen(function* () {
        const databaseUrl = yield* freshPgDatabase
        const port = yield* Effect.promise(freePort)
        const taken = createServer()
        yield* Effect.acquireRelease(
          Effect.promise(() => new Promise<void>((resolve) => taken.listen(port, "127.0.0.1", resolve))),
          () => Effect.sync(() => taken.close())
        )
        const result = yield* Effect.promise(() =>
          runCli(["run"], { CLUSTER: "1", LOG_LEVEL: "Error", DATABASE_URL: databaseUrl, RUNNER_PORT: String(port) })
        )
        expect(result.code).not.toBe(0)
        const lines = result.stderr.trim().split("\n")
        expect(lines).toHaveLength(1)
        expect(lines[0]).toContain(
          `ClusterUnavailable: RUNNER_PORT ${port} on RUNNER_HOST 127.0.0.1 can't be listened on`
        )
      }).pipe(Effect.scoped),
    startup
  )
})
