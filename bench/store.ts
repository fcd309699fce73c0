/**
 * Seen-store throughput: 100k ids through SeenStore (batched filterUnseen + markSeen) versus raw
 * better-sqlite3 doing the same statements, in the same run, on the same kind of file.
 */
import Database from "better-sqlite3"
import { ConfigProvider, Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { NormalizedItem } from "../src/Kernel/Domain.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import { type BenchReport, type CheckedFigure, isMain, publish, threadSchedule } from "./lib.js"
import { judge, targets } from "./targets.js"
import { itemFixture } from "../test/support/Alerts.js"

const total = 100_000
const batch = 1_000
const chunk = 500

const makeItems = (count: number): ReadonlyArray<NormalizedItem> =>
  Array.from({ length: count }, (_, i) =>
    itemFixture(`https://www.globenewswire.com/news-release/2026/11/28/${i}/0/en/item.html`, {
      title: `Item ${i}`,
      link: "",
      fetchedAt: "2026-11-28T00:00:00.000Z"
    })
  )

const viaService = async (dir: string, items: ReadonlyArray<NormalizedItem>, clock: () => number): Promise<number> => {
  const layer = SeenStore.Default.pipe(
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["DATA_DIR", dir]]))))
  )
  const program = Effect.gen(function* () {
    const store = yield* SeenStore
    const started = clock()
    for (let i = 0; i < items.length; i += batch) {
      const slice = items.slice(i, i + batch)
      const unseen = new Set(yield* store.filterUnseen(slice.map((item) => item.id)))
      yield* store.markSeen(slice.filter((item) => unseen.has(item.id)))
    }
    return clock() - started
  })
  return Effect.runPromise(program.pipe(Effect.provide(layer), Effect.scoped))
}

const viaRaw = (dir: string, items: ReadonlyArray<NormalizedItem>, clock: () => number): number => {
  const db = new Database(join(dir, "raw.sqlite"))
  // The same pragmas the service applies with its defaults, so the ratio isolates the service's overhead.
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  db.pragma("cache_size = -64000")
  db.pragma("mmap_size = 268435456")
  db.pragma("temp_store = MEMORY")
  db.exec("CREATE TABLE seen_items (id TEXT PRIMARY KEY, source TEXT NOT NULL, seen_at INTEGER NOT NULL) WITHOUT ROWID")
  db.exec("CREATE INDEX seen_items_seen_at ON seen_items (seen_at)")
  const select = db.prepare(`SELECT id FROM seen_items WHERE id IN (${Array(chunk).fill("?").join(",")})`)
  const insert = db.prepare(
    `INSERT OR IGNORE INTO seen_items (id, source, seen_at) VALUES ${Array(chunk).fill("(?,?,?)").join(",")}`
  )
  const insertAll = db.transaction((rows: ReadonlyArray<NormalizedItem>) => {
    for (let i = 0; i < rows.length; i += chunk) {
      insert.run(rows.slice(i, i + chunk).flatMap((item) => [item.id, item.source, Date.now()]))
    }
  })
  const started = clock()
  for (let i = 0; i < items.length; i += batch) {
    const slice = items.slice(i, i + batch)
    const seen = new Set<string>()
    for (let j = 0; j < slice.length; j += chunk) {
      for (const row of select.all(...slice.slice(j, j + chunk).map((item) => item.id)) as Array<{ id: string }>) {
        seen.add(row.id)
      }
    }
    insertAll(slice.filter((item) => !seen.has(item.id)))
  }
  const elapsed = clock() - started
  db.close()
  return elapsed
}

/** Raw and service runs alternating, each on a fresh database: their times, ms. */
const alternatingRounds = async (rounds: number, items: ReadonlyArray<NormalizedItem>, clock: () => number) => {
  const dir = mkdtempSync(join(tmpdir(), "bench-store-"))
  try {
    const rawRuns: Array<number> = []
    const serviceRuns: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      const roundDir = mkdtempSync(join(dir, `round-${round}-`))
      rawRuns.push(viaRaw(roundDir, items, clock))
      serviceRuns.push(await viaService(roundDir, items, clock))
    }
    return { rawRuns, serviceRuns }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export const run = async (): Promise<BenchReport> => {
  // Alternate the two and keep each one's best of three: the machine is shared and noisy.
  const { rawRuns, serviceRuns } = await alternatingRounds(3, makeItems(total), () => performance.now())
  const rawMs = Math.min(...rawRuns)
  const serviceMs = Math.min(...serviceRuns)
  const serviceRate = total / (serviceMs / 1000)
  const rawRate = total / (rawMs / 1000)
  return {
    name: "store",
    figures: [
      {
        label: "SeenStore filterUnseen+markSeen, 100k ids",
        value: serviceRate,
        unit: "ids/s",
        baseline: { label: "raw better-sqlite3, ids/s", value: rawRate },
        ratio: serviceRate / rawRate,
        ...judge(targets.storeThroughput, serviceRate, serviceRate / rawRate)
      }
    ]
  }
}

/**
 * bench:check's quick mode: 10k ids, five alternating rounds, the best of each (as the full bench takes) in this thread's CPU time (a busy machine
 * only takes turns away from it, and more from allocation-heavy code, whose GC helpers wait for a core too).
 */
export const quick = async (): Promise<ReadonlyArray<CheckedFigure>> => {
  const count = 10_000
  const { rawRuns, serviceRuns } = await alternatingRounds(5, makeItems(count), () => threadSchedule().onCpuMs)
  const service = count / (Math.min(...serviceRuns) / 1000)
  const raw = count / (Math.min(...rawRuns) / 1000)
  return [
    {
      label: "store: SeenStore ids/s vs raw better-sqlite3",
      ratio: service / raw,
      target: targets.storeThroughput,
      detail: `${Math.round(service)} / ${Math.round(raw)} ids/s`
    }
  ]
}

if (isMain(import.meta.url)) publish(await run())
