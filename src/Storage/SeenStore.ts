import * as SqlClient from "@effect/sql/SqlClient"
import { Array as Arr, Clock, Effect, Metric } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { NormalizedItem } from "../Kernel/Domain.js"
import { storySignature } from "../Kernel/CanonicalId.js"
import { SqlLive } from "../Kernel/Sql.js"

/** SQLite allows 32766 bound parameters; 500 per statement keeps statements cached and fast. */
const chunkSize = 500

/**
 * The hot statements are plain placeholder lists rather than composed fragments: at 100k ids per
 * second, compiling a fragment per value costs more than SQLite does. At most `chunkSize` shapes each.
 */
const placeholders = (count: number, tuple: string) => Array(count).fill(tuple).join(",")
type Statement = readonly [sql: string, params: ReadonlyArray<unknown>]
interface SeenStatements {
  readonly selectSeen: (ids: ReadonlyArray<string>) => Statement
  /** Records the items as seen at `seenAt`, and each story's first carrier unless one is known. */
  readonly insertSeen: (items: ReadonlyArray<NormalizedItem>, seenAt: number) => ReadonlyArray<Statement>
  readonly selectStories: (keys: ReadonlyArray<StoryKey>) => Statement
}

/**
 * The keys under which an item counts as the same story as another: one per ticker, with its title
 * signature. Not for SEC filings: their headline (form, company, items) repeats across distinct
 * filings, an 8-K/A has its 8-K's, and a filing is already one item by its accession number.
 */
export const storyKeys = (item: NormalizedItem) => {
  if (item.tickers.length === 0 || item.sec !== undefined) return []
  const signature = storySignature(item.title)
  return signature === "" ? [] : item.tickers.map((ticker) => ({ ticker: ticker.symbol.toUpperCase(), signature }))
}

type StoryKey = ReturnType<typeof storyKeys>[number]
interface FirstCarrier {
  readonly ticker: string
  readonly signature: string
  readonly source: string
  readonly itemId: string
}
const selectFirstCarriers = `SELECT ticker, signature, source, item_id AS "itemId" FROM story_first_seen WHERE (ticker, signature) IN`
type StoryRow = readonly [ticker: string, signature: string, source: string, itemId: string]
const storyRows = (items: ReadonlyArray<NormalizedItem>): ReadonlyArray<StoryRow> =>
  items.flatMap((item) => storyKeys(item).map((key) => [key.ticker, key.signature, item.source, item.id] as const))

const sqliteStatements: SeenStatements = {
  selectSeen: (ids) => [`SELECT id FROM seen_items WHERE id IN (${placeholders(ids.length, "?")})`, ids] as const,
  selectStories: (keys) =>
    [
      `${selectFirstCarriers} (VALUES ${placeholders(keys.length, "(?,?)")})`,
      keys.flatMap((key) => [key.ticker, key.signature])
    ] as const,
  insertSeen: (items, seenAt) => [
    ...Arr.chunksOf(items, chunkSize).map(
      (chunk) =>
        [
          `INSERT INTO seen_items (id, source, seen_at) VALUES ${placeholders(chunk.length, "(?,?,?)")} ON CONFLICT DO NOTHING`,
          chunk.flatMap((item) => [item.id, item.source, seenAt])
        ] as const
    ),
    ...Arr.chunksOf(storyRows(items), chunkSize).map(
      (chunk) =>
        [
          `INSERT INTO story_first_seen (ticker, signature, source, item_id, first_seen_at)
           VALUES ${placeholders(chunk.length, "(?,?,?,?,?)")} ON CONFLICT DO NOTHING`,
          chunk.flatMap((row) => [...row, seenAt])
        ] as const
    )
  ]
}
/**
 * PostgreSQL takes a whole chunk as one array per column: one statement shape, whatever the chunk's
 * size, and one bound parameter per column, so a cycle's ids go in one round trip, not one per 500.
 * The lookup is `IN (SELECT unnest(...))`, not `= ANY(...)`: the planner estimates an `= ANY` of a
 * thousand ids to match a large share of the table and scans all of it (6 ms per 1000 ids at 50k rows,
 * growing with the table), where the subquery is planned as one primary-key probe per id.
 * The seen ids and the stories go in one statement (the seen insert a data-modifying WITH), so a batch
 * is one round trip and atomic without a transaction of its own. Within one statement DO NOTHING
 * still keeps a story's first row in the batch's order, as the separate inserts did.
 */
const pgChunkSize = 10_000
const pgStatements: SeenStatements = {
  selectSeen: (ids) => ["SELECT id FROM seen_items WHERE id IN (SELECT unnest($1::text[]))", [ids]] as const,
  selectStories: (keys) =>
    [
      `${selectFirstCarriers} (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [keys.map((key) => key.ticker), keys.map((key) => key.signature)]
    ] as const,
  insertSeen: (items, seenAt) =>
    Arr.chunksOf(items, pgChunkSize).map((chunk) => {
      const stories = storyRows(chunk)
      return [
        `WITH seen AS (
           INSERT INTO seen_items (id, source, seen_at)
           SELECT id, source, $3::bigint FROM unnest($1::text[], $2::text[]) AS item (id, source)
           ON CONFLICT DO NOTHING
         )
         INSERT INTO story_first_seen (ticker, signature, source, item_id, first_seen_at)
         SELECT ticker, signature, source, item_id, $3::bigint
         FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) AS story (ticker, signature, source, item_id)
         ON CONFLICT DO NOTHING`,
        [
          chunk.map((item) => item.id),
          chunk.map((item) => item.source),
          seenAt,
          stories.map((row) => row[0]),
          stories.map((row) => row[1]),
          stories.map((row) => row[2]),
          stories.map((row) => row[3])
        ]
      ] as const
    })
}

export const seenLookups = Metric.counter("seen_store_lookups_total", {
  description: "Ids checked against the seen store"
})
export const seenHits = Metric.counter("seen_store_hits_total", { description: "Ids the seen store already knew" })

export interface DuplicateStory {
  readonly item: NormalizedItem
  readonly firstSource: string
}

export class SeenStore extends Effect.Service<SeenStore>()("Storage/SeenStore", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { storage } = yield* AppConfig
    const statements = sql.onDialectOrElse({ pg: () => pgStatements, orElse: () => sqliteStatements })
    const idChunkSize = sql.onDialectOrElse({ pg: () => pgChunkSize, orElse: () => chunkSize })

    const filterUnseen = Effect.fn("SeenStore.filterUnseen")(function* (ids: ReadonlyArray<string>) {
      const unique = Array.from(new Set(ids))
      const seen = new Set<string>()
      for (const chunk of Arr.chunksOf(unique, idChunkSize)) {
        const rows = yield* sql.unsafe<{ id: string }>(...statements.selectSeen(chunk))
        for (const row of rows) seen.add(row.id)
      }
      yield* Metric.incrementBy(seenLookups, unique.length)
      yield* Metric.incrementBy(seenHits, seen.size)
      return unique.filter((id) => !seen.has(id))
    }, Effect.orDie)

    /**
     * Items whose story (ticker + title signature) was first carried by another item — in an earlier
     * cycle, or earlier in this same batch — so the same press release from two wires alerts once.
     */
    const findRepeatedStories = Effect.fn("SeenStore.findRepeatedStories")(function* (
      items: ReadonlyArray<NormalizedItem>
    ) {
      const keyed = items.map((item) => ({ item, keys: storyKeys(item) }))
      const lookups = keyed.flatMap(({ keys }) => keys)
      const known = new Map<string, { source: string; itemId: string }>()
      for (const chunk of Arr.chunksOf(lookups, idChunkSize)) {
        const rows = yield* sql.unsafe<FirstCarrier>(...statements.selectStories(chunk))
        for (const row of rows) known.set(`${row.ticker}\u0000${row.signature}`, row)
      }
      const repeated: Array<DuplicateStory> = []
      for (const { item, keys } of keyed) {
        const first = keys
          .map((key) => known.get(`${key.ticker}\u0000${key.signature}`))
          .find((entry) => entry !== undefined && entry.itemId !== item.id)
        if (first) {
          repeated.push({ item, firstSource: first.source })
        } else {
          for (const key of keys) {
            const id = `${key.ticker}\u0000${key.signature}`
            if (!known.has(id)) known.set(id, { source: item.source, itemId: item.id })
          }
        }
      }
      return repeated
    }, Effect.orDie)

    /**
     * Atomic per batch: one statement on PostgreSQL (for up to 10k items), a transaction otherwise. Call
     * it inside the cycle's transaction so seen + outbox commit together.
     */
    const markSeen = Effect.fn("SeenStore.markSeen")(function* (items: ReadonlyArray<NormalizedItem>) {
      const writes = statements
        .insertSeen(items, yield* Clock.currentTimeMillis)
        .map((statement) => sql.unsafe(...statement))
      const all = Effect.all(writes, { discard: true })
      yield* writes.length > 1 ? sql.withTransaction(all) : all
    }, Effect.orDie)

    /** Forgets ids older than SEEN_TTL_DAYS, so the store stays bounded. */
    const purgeExpired = Effect.fn("SeenStore.purgeExpired")(function* () {
      const cutoff = (yield* Clock.currentTimeMillis) - storage.seenTtlDays * 86_400_000
      yield* sql`DELETE FROM seen_items WHERE seen_at < ${cutoff}`
      yield* sql`DELETE FROM story_first_seen WHERE first_seen_at < ${cutoff}`
    }, Effect.orDie)

    /** How many ids the store remembers, for the doctor. */
    const count = sql<{ n: number }>`SELECT count(*) AS n FROM seen_items`.pipe(
      Effect.map((rows) => rows[0]?.n ?? 0),
      Effect.orDie,
      Effect.withSpan("SeenStore.count")
    )

    return { filterUnseen, findRepeatedStories, markSeen, purgeExpired, count } as const
  }),
  dependencies: [SqlLive, AppConfig.Default]
}) {}
