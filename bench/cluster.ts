/**
 * `npm run bench:cluster`: runners of `catalyst-bot run` with CLUSTER=1 on a throwaway PostgreSQL,
 * against the simulated world. Failover: kill -9 of the runner holding the webhook in the middle of a
 * burst, to the first delivery by its new holder, at the default CLUSTER_LEASE_SECONDS.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import type { ChildProcess } from "node:child_process"
import { loadavg } from "node:os"
import { freePort, spawnCli } from "../test/support/Cli.js"
import { startPostgres } from "../test/support/PostgresServer.js"
import * as World from "../src/World/World.js"
import { type Figure, isMain, publish } from "./lib.js"
import { judge, targets } from "./targets.js"

const kinds = ["clinical_results", "government_contract", "partnership"] as const
const stories = (count: number, offset = 0) =>
  World.companies.slice(offset, offset + count).map((company, index): World.Story => ({
    company,
    kind: kinds[index % kinds.length]!,
    wires: [World.wireNames[index % World.wireNames.length]!]
  }))

const waitUntil = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!(yield* Effect.promise(async () => condition()))) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${what}`)
      yield* Effect.sleep("50 millis")
    }
  })

const startup = 180_000

/** A world, a fresh database on `serverUrl`, and runners started on both (killed with the scope). */
const cluster = (serverUrl: string, name: string, extra: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const world = yield* World.make({ discord: { limit: 5, windowMs: 2_000, latencyMs: 30 } })
    const admin = PgClient.layer({ url: Redacted.make(serverUrl) })
    yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE DATABASE "${name}"`)).pipe(
      Effect.provide(admin),
      Effect.orDie
    )
    const url = new URL(serverUrl)
    url.pathname = `/${name}`
    const pg = PgClient.layer({ url: Redacted.make(url.href) })
    const { DATA_DIR: _ownDataDir, ...worldEnv } = world.env
    const env = {
      ...worldEnv,
      LOG_LEVEL: "Error",
      DATABASE_URL: url.href,
      CLUSTER: "1",
      POLL_SECONDS: "1",
      POLL_SECONDS_CLOSED: "1",
      SEC_POLL_SECONDS: "1",
      LLM_PROVIDER: "none",
      ALERTS_PER_TICKER_PER_MINUTE: "0",
      SOURCE_MAX_ALERTS_PER_POLL: "0",
      SOURCE_MAX_ALERTS_PER_MINUTE: "0",
      MAX_ALERTS_PER_CYCLE: "0",
      ...extra
    }
    const children: Array<{ readonly address: string; readonly child: ChildProcess }> = []
    yield* Effect.addFinalizer(() => Effect.sync(() => children.forEach(({ child }) => child.kill("SIGKILL"))))
    const start = Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const bot = spawnCli(["run"], { ...env, RUNNER_PORT: String(port) })
      const runner = { address: `127.0.0.1:${port}`, child: bot.child }
      children.push(runner)
      return runner
    })
    const query = <A extends object>(
      statement: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<A>, unknown>
    ) =>
      Effect.runPromise(
        Effect.flatMap(SqlClient.SqlClient, statement).pipe(
          Effect.provide(pg),
          Effect.catchAllCause(() => Effect.succeed([] as ReadonlyArray<A>))
        )
      )
    const owners = () => query((sql) => sql<{ work: string; owner: string }>`SELECT work, owner FROM work_owners`)
    return { world, start, query, owners } as const
  })

/** Kill -9 of the webhook's holder mid-burst → the first alert its new holder delivers (ms). */
const failover = (serverUrl: string) =>
  Effect.gen(function* () {
    const { world, start, owners } = yield* cluster(serverUrl, "failover")
    const runners = [yield* start, yield* start, yield* start]
    yield* waitUntil("every poller and the route to have an owner", async () => (await owners()).length >= 5, startup)
    // Default lease: the shards are shared out once every runner has joined.
    yield* Effect.sleep("8 seconds")
    world.publish(stories(12))
    yield* waitUntil("the burst to be under way", () => world.alerts().length >= 2, startup)
    const holder = (yield* Effect.promise(owners)).find((row) => row.work === "route:default")!.owner
    const alertMessages = () => world.discord.messages.filter((m) => m.webhookId === world.alertWebhookId)
    const before = alertMessages().length
    const killedAt = Date.now()
    runners.find((runner) => runner.address === holder)!.child.kill("SIGKILL")
    world.publish(stories(12, 12))
    yield* waitUntil("a delivery by the new holder", () => alertMessages().length > before, startup)
    return alertMessages()[before]!.at - killedAt
  }).pipe(Effect.scoped)

/** The failover figure, on a throwaway PostgreSQL server. */
export const clusterFigures = Effect.gen(function* () {
  const server = yield* Effect.acquireRelease(
    Effect.promise(() => startPostgres()),
    (pg) => Effect.sync(() => pg.stop())
  )
  const failoverMs = yield* failover(server.url)
  const load = loadavg()[0]!.toFixed(1)
  const figures: ReadonlyArray<Figure> = [
    {
      label: `failover: kill -9 → first delivery by the new holder (CLUSTER_LEASE_SECONDS=6; load ${load})`,
      value: failoverMs / 1000,
      unit: "s",
      ...judge(targets.clusterFailover, failoverMs / 1000)
    }
  ]
  return figures
}).pipe(Effect.scoped)

if (isMain(import.meta.url)) {
  Effect.runPromise(clusterFigures).then(
    (figures) => {
      publish({ name: "cluster", figures })
      process.exit(0)
    },
    (error: unknown) => {
      console.error(error)
      process.exit(1)
    }
  )
}
