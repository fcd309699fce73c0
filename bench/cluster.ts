/**
 * `npm run bench:cluster`, the stores' part: each store's throughput on PostgreSQL against SQLite in
 * the same run: seen-store ids/s (batched filterUnseen + markSeen) and outbox alerts/s (enqueue,
 * then take each row due, mark it sending and delivered), on a throwaway PostgreSQL server started
 * from the installed binaries (test/support/PostgresServer.ts).
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Outbox } from "../src/Delivery/Outbox.js"
import type { Alert, NormalizedItem } from "../src/Kernel/Domain.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import { alertFixture, itemFixture } from "../test/support/Alerts.js"
import { startPostgres } from "../test/support/PostgresServer.js"
import { type BenchReport, type Figure, isMain, publish } from "./lib.js"
import { judge, targets } from "./targets.js"

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
        label: `SeenStore filterUnseen+markSeen on PostgreSQL, ${seenIds / 1000}k ids in batches of ${seenBatch}`,
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

export const run = async (): Promise<BenchReport> => ({ name: "cluster", figures: await storeFigures() })

if (isMain(import.meta.url)) publish(await run())
