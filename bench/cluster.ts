/**
 * `npm run bench:cluster`: runners of `catalyst-bot run` with CLUSTER=1 on a throwaway PostgreSQL,
 * against the simulated world (failover: kill -9 of the runner holding the webhook in the middle of a
 * burst, to the first delivery by its new holder, at the default CLUSTER_LEASE_SECONDS); delivery
 * throughput across 50 webhooks with 3 runners against 1; and each
 * store's throughput on PostgreSQL against SQLite in the same run: seen-store ids/s (batched
 * filterUnseen + markSeen) and outbox alerts/s (enqueue, then take each row due, mark it sending and
 * delivered). PostgreSQL servers are started from the installed binaries (test/support/PostgresServer.ts).
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import type { ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { Outbox } from "../src/Delivery/Outbox.js"
import type { Alert, NormalizedItem } from "../src/Kernel/Domain.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import * as World from "../src/World/World.js"
import { alertFixture, itemFixture } from "../test/support/Alerts.js"
import { freePort, spawnCli } from "../test/support/Cli.js"
import { startPostgres } from "../test/support/PostgresServer.js"
import { type BenchReport, type Figure, isMain, publish } from "./lib.js"
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

const webhookCount = 50

/**
 * Steady delivery across 50 webhooks: one route per webhook, every alert on every route, a burst of
 * one story per company. Alerts (embeds) per second from the first message on any webhook until the
 * last webhook has them all: what `runnerCount` runners sharing the routes deliver together.
 */
const fanOutThroughput = (serverUrl: string, runnerCount: number) =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "bench-cluster-routes-"))),
      (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
    )
    const routesFile = join(dir, "routes.json")
    const { world, start, owners } = yield* cluster(serverUrl, `fanout_${runnerCount}`, { ROUTES_FILE: routesFile })
    const webhookIds = Array.from({ length: webhookCount }, (_, i) => String(200_000_000_000_000_000n + BigInt(i)))
    writeFileSync(
      routesFile,
      JSON.stringify({
        routes: webhookIds.map((id, i) => ({ name: `route-${i + 1}`, webhook: world.discord.webhookUrl(id) }))
      })
    )
    for (let n = 0; n < runnerCount; n++) yield* start
    const routeWorks = (rows: ReadonlyArray<{ work: string }>) => rows.filter((row) => row.work.startsWith("route:"))
    yield* waitUntil(
      "every route to have an owner",
      async () => routeWorks(await owners()).length >= webhookCount,
      startup
    )
    // The shards are shared out once every runner has joined.
    if (runnerCount > 1) yield* Effect.sleep("8 seconds")
    const burst = stories(World.companies.length)
    world.publish(burst)
    const embedsOn = (id: string) =>
      world.discord.messages
        .filter((message) => message.webhookId === id)
        .reduce((sum, message) => sum + ((message.payload["embeds"] as ReadonlyArray<unknown>)?.length ?? 0), 0)
    yield* waitUntil(
      `${burst.length} alerts on each of ${webhookCount} webhooks`,
      () => webhookIds.every((id) => embedsOn(id) >= burst.length),
      startup
    )
    const times = world.discord.messages
      .filter((message) => webhookIds.includes(message.webhookId))
      .map((message) => message.at)
    return (burst.length * webhookCount) / ((Math.max(...times) - Math.min(...times)) / 1000)
  }).pipe(Effect.scoped)

/** The failover figure, on a throwaway PostgreSQL server. */
export const clusterFigures = Effect.gen(function* () {
  const server = yield* Effect.acquireRelease(
    Effect.promise(() => startPostgres()),
    (pg) => Effect.sync(() => pg.stop())
  )
  const failoverMs = yield* failover(server.url)
  const load = loadavg()[0]!.toFixed(1)
  const oneRunner = yield* fanOutThroughput(server.url, 1)
  const threeRunners = yield* fanOutThroughput(server.url, 3)
  const figures: ReadonlyArray<Figure> = [
    {
      label: `failover: kill -9 → first delivery by the new holder (CLUSTER_LEASE_SECONDS=6; load ${load})`,
      value: failoverMs / 1000,
      unit: "s",
      ...judge(targets.clusterFailover, failoverMs / 1000)
    },
    {
      label: `delivery across ${webhookCount} webhooks (every alert on every route, ${World.companies.length} at once), 3 runners`,
      value: threeRunners,
      unit: "alerts/s",
      baseline: { label: "the same with 1 runner, alerts/s", value: oneRunner },
      ratio: threeRunners / oneRunner
    }
  ]
  return figures
}).pipe(Effect.scoped)

const seenIds = 100_000
const seenBatch = 1_000
const outboxAlerts = 2_000
const outboxBatch = 50

const items: ReadonlyArray<NormalizedItem> = Array.from({ length: seenIds }, (_, i) =>
  itemFixture(`https://www.globenewswire.com/news-release/2026/11/28/${i}/0/en/item.html`, {
    title: `Item ${i}`,
    link: "",
    fetchedAt: "2026-11-28T00:00:00.000Z"
  })
)
const alerts: ReadonlyArray<Alert> = Array.from({ length: outboxAlerts }, (_, i) => alertFixture(i))

/** Settings for one fresh database: a SQLite file in `dir`, or a new database on the PostgreSQL server. */
type Database = Record<string, string>

const configured = (database: Database) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(database))))

const seenRate = (database: Database) =>
  Effect.gen(function* () {
    const store = yield* SeenStore
    const started = performance.now()
    for (let i = 0; i < items.length; i += seenBatch) {
      const slice = items.slice(i, i + seenBatch)
      const unseen = new Set(yield* store.filterUnseen(slice.map((item) => item.id)))
      yield* store.markSeen(slice.filter((item) => unseen.has(item.id)))
    }
    return items.length / ((performance.now() - started) / 1000)
  }).pipe(Effect.provide(SeenStore.Default.pipe(Layer.provide(configured(database)))), Effect.scoped)

const outboxRate = (database: Database) =>
  Effect.gen(function* () {
    const outbox = yield* Outbox
    const started = performance.now()
    for (let i = 0; i < alerts.length; i += outboxBatch) yield* outbox.enqueue(alerts.slice(i, i + outboxBatch))
    let delivered = 0
    while (delivered < alerts.length) {
      const due = yield* outbox.due(outboxBatch)
      if (due.length === 0) break
      for (const row of due) {
        yield* outbox.markSending(row.id)
        yield* outbox.markDelivered(row.id, `m${row.id}`)
      }
      delivered += due.length
    }
    return delivered / ((performance.now() - started) / 1000)
  }).pipe(Effect.provide(Outbox.Default.pipe(Layer.provide(configured(database)))), Effect.scoped)

/** The stores on both databases, each figure on a fresh database of its own. */
export const storeFigures = async (): Promise<ReadonlyArray<Figure>> => {
  const server = await startPostgres()
  const dir = mkdtempSync(join(tmpdir(), "bench-cluster-"))
  let created = 0
  const fresh = async (kind: "sqlite" | "pg"): Promise<Database> => {
    const roundDir = mkdtempSync(join(dir, `db-${++created}-`))
    if (kind === "sqlite") return { DATA_DIR: roundDir }
    const name = `bench_${created}`
    await Effect.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE DATABASE ${name}`)).pipe(
        Effect.provide(PgClient.layer({ url: Redacted.make(server.url) }))
      )
    )
    return { DATA_DIR: roundDir, DATABASE_URL: server.url.replace(/\/postgres$/, `/${name}`) }
  }
  try {
    const seenSqlite = await Effect.runPromise(seenRate(await fresh("sqlite")))
    const seenPg = await Effect.runPromise(seenRate(await fresh("pg")))
    const outboxSqlite = await Effect.runPromise(outboxRate(await fresh("sqlite")))
    const outboxPg = await Effect.runPromise(outboxRate(await fresh("pg")))
    return [
      {
        label: `SeenStore filterUnseen+markSeen on PostgreSQL, ${seenIds / 1000}k ids in batches of ${seenBatch} (throwaway server: fsync, synchronous_commit and full_page_writes off)`,
        value: seenPg,
        unit: "ids/s",
        baseline: { label: "the same on SQLite, ids/s", value: seenSqlite },
        ratio: seenPg / seenSqlite,
        ...judge(targets.pgSeenThroughput, seenPg)
      },
      {
        label: `Outbox enqueue + due/sending/delivered on PostgreSQL, ${outboxAlerts} alerts`,
        value: outboxPg,
        unit: "alerts/s",
        baseline: { label: "the same on SQLite, alerts/s", value: outboxSqlite },
        ratio: outboxPg / outboxSqlite
      }
    ]
  } finally {
    server.dispose()
    rmSync(dir, { recursive: true, force: true })
  }
}

export const run = async (): Promise<BenchReport> => {
  const failover = await Effect.runPromise(clusterFigures)
  return { name: "cluster", figures: [...failover, ...(await storeFigures())] }
}

if (isMain(import.meta.url)) {
  run().then(
    (report) => {
      publish(report)
      process.exit(0)
    },
    (error: unknown) => {
      console.error(error)
      process.exit(1)
    }
  )
}
