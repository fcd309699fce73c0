import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, TestClock } from "effect"
import { Worker } from "node:worker_threads"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import { canonicalUrl, itemId, storySignature } from "../src/Kernel/CanonicalId.js"
import { databaseFile, SqlLive } from "../src/Kernel/Sql.js"
import { tempDataConfig } from "./support/TestLayers.js"
import { databaseConfig, databases, type DatabaseKind } from "./support/Databases.js"
import { itemFixture } from "./support/Alerts.js"

const item = itemFixture

const storeOn = (kind: DatabaseKind) =>
  Layer.mergeAll(SeenStore.Default, SqlLive, AppConfig.Default).pipe(
    Layer.provide(databaseConfig(kind, { SEEN_TTL_DAYS: 7 }))
  )
const StoreLive = storeOn("sqlite")

/** A second connection writing to `file` from its own thread (support/OtherWriter.mjs), stopped with the scope. */
const otherWriter = (file: string, rounds: number) =>
  Effect.gen(function* () {
    const flags = new Int32Array(new SharedArrayBuffer(8))
    const worker = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new Worker(new URL("./support/OtherWriter.mjs", import.meta.url), {
            workerData: { file, rounds, firstHoldMs: 300, holdMs: 20, signal: flags.buffer }
          })
      ),
      (worker) => Effect.promise(() => worker.terminate())
    )
    const message = (expected: string) =>
      Effect.async<void, Error>((resume) => {
        const onMessage = (value: unknown) => {
          if (value === expected) resume(Effect.void)
        }
        worker.on("message", onMessage)
        worker.once("error", (error) => resume(Effect.fail(error)))
        return Effect.sync(() => worker.off("message", onMessage))
      })
    const done = yield* Effect.fork(message("done"))
    yield* message("locked")
    return { flags, done: Fiber.join(done) }
  })

describe("SeenStore", () => {
  it.scoped("opens the database in WAL mode with the configured pragmas", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const [journal] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
      const [busy] = yield* sql<{ timeout: number }>`PRAGMA busy_timeout`
      const [temp] = yield* sql<{ temp_store: number }>`PRAGMA temp_store`
      const [sync] = yield* sql<{ synchronous: number }>`PRAGMA synchronous`
      expect(journal?.journal_mode).toBe("wal")
      expect(busy?.timeout).toBe(5000)
      expect(temp?.temp_store).toBe(2)
      expect(sync?.synchronous).toBe(1)
    }).pipe(Effect.provide(StoreLive))
  )

  it.scoped("honours SQLITE_WAL_MODE=0 and SQLITE_SYNCHRONOUS=FULL", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const [journal] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
      const [sync] = yield* sql<{ synchronous: number }>`PRAGMA synchronous`
      expect(journal?.journal_mode).toBe("delete")
      expect(sync?.synchronous).toBe(2)
    }).pipe(
      Effect.provide(SqlLive.pipe(Layer.provide(tempDataConfig({ SQLITE_WAL_MODE: 0, SQLITE_SYNCHRONOUS: "FULL" }))))
    )
  )

  it.scoped(
    "waits out another connection's write lock, and loses no writes from either under 128 concurrent fibers",
    () =>
      Effect.gen(function* () {
        const store = yield* SeenStore
        const sql = yield* SqlClient.SqlClient
        const { storage } = yield* AppConfig
        const other = yield* otherWriter(databaseFile(storage.dataDir), 11)

        // The other connection holds the write lock: the store's write has to wait for its commit (busy_timeout).
        expect(Atomics.load(other.flags, 1)).toBe(0)
        Atomics.store(other.flags, 0, 1)
        Atomics.notify(other.flags, 0)
        yield* store.markSeen([item("first")])
        expect(Atomics.load(other.flags, 1)).toBeGreaterThanOrEqual(1)

        // Its next rounds keep taking the lock while the store's fibers read and write.
        const fibers = Array.from({ length: 128 }, (_, f) =>
          Effect.gen(function* () {
            for (let round = 0; round < 5; round++) {
              const batch = Array.from({ length: 20 }, (_, i) => item(`f${f}-r${round}-i${i}`))
              const unseen = yield* store.filterUnseen(batch.map((i) => i.id))
              expect(unseen).toHaveLength(20)
              yield* store.markSeen(batch)
            }
          })
        )
        yield* Effect.all(fibers, { concurrency: "unbounded" })
        yield* other.done
        const [mine] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM seen_items WHERE source != 'other'`
        const [theirs] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM seen_items WHERE source = 'other'`
        expect(mine?.n).toBe(1 + 128 * 5 * 20)
        expect(theirs?.n).toBe(11 * 20)
      }).pipe(Effect.provide(StoreLive))
  )
})

describe.each(databases)("SeenStore on %s", (kind) => {
  const StoreLive = storeOn(kind)

  it.scoped("filters what was marked seen, across batches larger than one statement", () =>
    Effect.gen(function* () {
      const store = yield* SeenStore
      const items = Array.from({ length: 1_234 }, (_, i) => item(`a${i}`))
      expect(yield* store.filterUnseen(items.map((i) => i.id))).toHaveLength(1_234)
      yield* store.markSeen(items.slice(0, 1_000))
      const unseen = yield* store.filterUnseen([...items.map((i) => i.id), "a5", "new"])
      expect(unseen).toEqual([...items.slice(1_000).map((i) => i.id), "new"])
    }).pipe(Effect.provide(StoreLive))
  )

  it.scoped("forgets ids after SEEN_TTL_DAYS", () =>
    Effect.gen(function* () {
      const store = yield* SeenStore
      yield* TestClock.setTime(Date.UTC(2026, 10, 1))
      yield* store.markSeen([item("old")])
      yield* TestClock.adjust("6 days")
      yield* store.markSeen([item("recent")])
      yield* TestClock.adjust("2 days")
      yield* store.purgeExpired()
      expect(yield* store.filterUnseen(["old", "recent"])).toEqual(["old"])
    }).pipe(Effect.provide(StoreLive))
  )

  it.scoped("alerts a story once when two wires carry it", () =>
    Effect.gen(function* () {
      const store = yield* SeenStore
      const ticker = [{ symbol: "ABCD", exchange: "NASDAQ" }]
      const globe = item("globe", { title: "Acme Inc. Announces FDA Approval of Widget", tickers: ticker })
      const prn = item("prn", {
        source: "PR Newswire",
        title: "ACME INC ANNOUNCES FDA APPROVAL OF WIDGET (NASDAQ: ABCD)",
        tickers: ticker
      })
      const otherTicker = item("other", {
        title: "Acme Inc. Announces FDA Approval of Widget",
        tickers: [{ symbol: "WXYZ", exchange: null }]
      })
      const sameBatch = yield* store.findRepeatedStories([globe, prn, otherTicker])
      expect(sameBatch.map((d) => [d.item.id, d.firstSource])).toEqual([["prn", "GlobeNewswire"]])
      yield* store.markSeen([globe])
      const later = yield* store.findRepeatedStories([prn])
      expect(later.map((d) => d.item.id)).toEqual(["prn"])
      expect(yield* store.findRepeatedStories([globe])).toEqual([])
    }).pipe(Effect.provide(StoreLive))
  )

  it.scoped("records each story's first carrier, in the batch's order, and keeps it against later carriers", () =>
    Effect.gen(function* () {
      const store = yield* SeenStore
      const sql = yield* SqlClient.SqlClient
      const tickers = [
        { symbol: "abcd", exchange: "NASDAQ" },
        { symbol: "EFGH", exchange: null }
      ]
      const title = "Acme Inc. Announces FDA Approval of Widget"
      const globe = item("globe", { title, tickers })
      const prn = item("prn", { source: "PR Newswire", title: `${title} (NASDAQ: ABCD)`, tickers: tickers.slice(0, 1) })
      const filing = item("filing", {
        title,
        tickers,
        sec: { formType: "8-K", cik: "1", accession: "a", items: ["8.01"], companyName: "Acme" }
      })
      yield* TestClock.setTime(Date.UTC(2026, 10, 28))
      yield* store.markSeen([globe, prn, globe, filing])
      yield* TestClock.adjust("1 minute")
      yield* store.markSeen([item("bw", { source: "Business Wire", title, tickers }), prn])
      const rows = yield* sql<{ ticker: string; signature: string; source: string; itemId: string; at: number }>`
        SELECT ticker, signature, source, item_id AS "itemId", first_seen_at AS at
        FROM story_first_seen ORDER BY ticker`
      const signature = storySignature(title)
      const at = Date.UTC(2026, 10, 28)
      expect(rows).toEqual([
        { ticker: "ABCD", signature, source: "GlobeNewswire", itemId: "globe", at },
        { ticker: "EFGH", signature, source: "GlobeNewswire", itemId: "globe", at }
      ])
      const seen = yield* sql<{ id: string; source: string; at: number }>`
        SELECT id, source, seen_at AS at FROM seen_items ORDER BY id`
      expect(seen).toEqual([
        { id: "bw", source: "Business Wire", at: at + 60_000 },
        { id: "filing", source: "GlobeNewswire", at },
        { id: "globe", source: "GlobeNewswire", at },
        { id: "prn", source: "PR Newswire", at }
      ])
    }).pipe(Effect.provide(StoreLive))
  )

  it.scoped("writes nothing when the caller's transaction rolls back", () =>
    Effect.gen(function* () {
      const store = yield* SeenStore
      const sql = yield* SqlClient.SqlClient
      const tickers = [{ symbol: "ABCD", exchange: "NASDAQ" }]
      const batch = Array.from({ length: 600 }, (_, i) => item(`r${i}`, { title: `Acme announces deal ${i}`, tickers }))
      const exit = yield* Effect.exit(sql.withTransaction(Effect.zipRight(store.markSeen(batch), Effect.fail("late"))))
      expect(Exit.isFailure(exit)).toBe(true)
      const [seen] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM seen_items`
      const [stories] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM story_first_seen`
      expect([seen?.n, stories?.n]).toEqual([0, 0])
    }).pipe(Effect.provide(StoreLive))
  )
})

describe("canonical ids", () => {
  it("strips tracking parameters, lowercases the host and drops the fragment", () => {
    expect(
      canonicalUrl(
        new URL("https://WWW.GlobeNewswire.com/news/123?utm_source=rss&utm_medium=x&id=7&fbclid=abc&gclid=z#top")
      )
    ).toBe("https://www.globenewswire.com/news/123?id=7")
    expect(canonicalUrl(new URL("https://example.com/a?utm_campaign=1"))).toBe("https://example.com/a")
  })

  it("falls back to guid, then title, when an item has no usable link", () => {
    expect(itemId({ source: "wire", link: null, guid: "abc-1", title: "T" })).toBe("wire:abc-1")
    expect(itemId({ source: "wire", link: "", guid: null, title: " Big News " })).toBe("wire:title:big news")
  })

  it("gives the same story signature to wire variants of one headline", () => {
    expect(storySignature("Acme Inc. Announces FDA Approval of Widget")).toBe(
      storySignature("ACME INC ANNOUNCES FDA APPROVAL OF WIDGET (NASDAQ: ABCD)")
    )
    expect(storySignature("Acme reports Q3 results")).not.toBe(storySignature("Acme announces Q3 offering"))
  })
})
