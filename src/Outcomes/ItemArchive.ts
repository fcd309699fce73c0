import * as SqlClient from "@effect/sql/SqlClient"
import { Array as Arr, Clock, Effect, Schema } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import {
  Classification,
  type ClassifiedItem,
  type EnrichedItem,
  type ItemOutcome,
  type ItemOutcomeKind,
  MarketSnapshot,
  NormalizedItem
} from "../Kernel/Domain.js"
import { SqlLive } from "../Kernel/Sql.js"

/** What a cycle knew about one item when it decided: the raw material of reports and backtests. */
export interface ArchiveEntry {
  readonly item: NormalizedItem
  readonly outcome: ItemOutcomeKind
  readonly reason: string | null
  readonly classification: Classification | null
  readonly market: MarketSnapshot | null
}

export interface ArchivedItem {
  readonly id: number
  readonly archivedAt: number
  readonly outcome: ItemOutcomeKind
  readonly item: NormalizedItem
  readonly market: MarketSnapshot | null
}

/** A filtered item that named a ticker: a candidate for outcome tracking. */
export interface FilteredItem {
  readonly itemId: string
  readonly archivedAt: number
  readonly source: string
  readonly ticker: string
  readonly formType: string | null
  readonly title: string
  readonly reason: string | null
  readonly classification: Classification | null
  readonly market: MarketSnapshot | null
}

/** What the dashboard's item search asks for; every field narrows the result, none is required. */
export interface ArchiveQuery {
  /** Words in the headline (case-insensitive), or the ticker itself. */
  readonly text?: string
  readonly ticker?: string
  readonly source?: string
  /** Archived at or after (epoch ms). */
  readonly since?: number
  /** Archived before (epoch ms). */
  readonly until?: number
  readonly limit: number
}

/** One archived item as the search shows it: what the bot decided about it and why. */
export interface FoundItem {
  readonly itemId: string
  readonly archivedAt: number
  readonly source: string
  readonly ticker: string | null
  readonly formType: string | null
  readonly title: string
  readonly link: string
  readonly outcome: string
  readonly reason: string | null
  readonly score: number | null
}

/** `%`, `_` and the escape character itself match literally in a LIKE pattern with `ESCAPE '\\'`. */
const likeContaining = (text: string) => `%${text.toLowerCase().replace(/[\\%_]/g, "\\$&")}%`

const encodeItem = Schema.encodeSync(Schema.parseJson(NormalizedItem))
const encodeClassification = Schema.encodeSync(Schema.parseJson(Classification))
const encodeMarket = Schema.encodeSync(Schema.parseJson(MarketSnapshot))
/** JSON.parse then decode: half the cost of Schema.parseJson, which matters over 100k rows. */
const decodeItem = Schema.decodeUnknownSync(NormalizedItem)
const decodeMarket = Schema.decodeUnknownSync(MarketSnapshot)
const decodeClassification = Schema.decodeUnknownSync(Classification)
const decodeOutcome = Schema.decodeUnknownSync(Schema.Literal("duplicate", "stale", "filtered", "alerted", "failed"))

/** 15 columns per row: 200 rows stay far below SQLite's 32766 bound parameters. */
const rowsPerInsert = 200

/**
 * Joins a cycle's outcomes with what it learned about each item. Only items the cycle decided on
 * for the first time are archived: an id it had already seen was archived when it was new.
 */
export const archiveEntries = (cycle: {
  readonly decided: ReadonlyArray<NormalizedItem>
  readonly classified: ReadonlyArray<ClassifiedItem>
  readonly enriched: ReadonlyArray<EnrichedItem>
  readonly outcomes: ReadonlyArray<ItemOutcome>
}): ReadonlyArray<ArchiveEntry> => {
  const items = new Map(cycle.decided.map((item) => [item.id, item]))
  const classifications = new Map(cycle.classified.map((entry) => [entry.item.id, entry.classification]))
  const markets = new Map(cycle.enriched.map((entry) => [entry.item.id, entry.market]))
  return cycle.outcomes.flatMap((outcome) => {
    const item = items.get(outcome.itemId)
    if (item === undefined) return []
    items.delete(outcome.itemId)
    return [
      {
        item,
        outcome: outcome.outcome,
        reason: outcome.reason,
        classification: classifications.get(item.id) ?? null,
        market: markets.get(item.id) ?? null
      }
    ]
  })
}

export class ItemArchive extends Effect.Service<ItemArchive>()("Outcomes/ItemArchive", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { outcomes: settings } = yield* AppConfig

    /** Joins the caller's transaction when there is one (the cycle writes it with seen + outbox). */
    const record = Effect.fn("ItemArchive.record")(function* (entries: ReadonlyArray<ArchiveEntry>) {
      if (entries.length === 0) return
      const now = yield* Clock.currentTimeMillis
      for (const chunk of Arr.chunksOf(entries, rowsPerInsert)) {
        yield* sql`INSERT INTO item_archive ${sql.insert(
          chunk.map((entry) => ({
            item_id: entry.item.id,
            archived_at: now,
            source: entry.item.source,
            ticker: entry.item.tickers[0]?.symbol ?? null,
            form_type: entry.item.sec?.formType ?? null,
            title: entry.item.title,
            outcome: entry.outcome,
            reason: entry.reason,
            score: entry.classification?.score ?? null,
            sentiment: entry.classification?.sentiment ?? null,
            item: encodeItem(entry.item),
            classification: entry.classification === null ? null : encodeClassification(entry.classification),
            market: entry.market === null ? null : encodeMarket(entry.market)
          }))
        )} ON CONFLICT DO NOTHING`
      }
    }, Effect.orDie)

    /**
     * Archived items that reached classification (not duplicates or stale ones), oldest first, one
     * page after `afterId`: keyset paging keeps memory flat however large the archive is. The unary
     * `+` keeps SQLite on the primary key: through the archived_at index every page would re-scan
     * and re-sort the whole window.
     */
    const page = Effect.fn("ItemArchive.page")(function* (options: {
      readonly afterId: number
      readonly since: number
      readonly limit: number
    }) {
      const rows = yield* sql<{ id: number; archivedAt: number; outcome: string; item: string; market: string | null }>`
        SELECT id, archived_at AS "archivedAt", outcome, item, market FROM item_archive
        WHERE id > ${options.afterId} AND +archived_at >= ${options.since} AND outcome IN ('filtered', 'alerted')
        ORDER BY id LIMIT ${options.limit}`
      return rows.map((row): ArchivedItem => ({
        id: row.id,
        archivedAt: row.archivedAt,
        outcome: decodeOutcome(row.outcome),
        item: decodeItem(JSON.parse(row.item)),
        market: row.market === null ? null : decodeMarket(JSON.parse(row.market))
      }))
    }, Effect.orDie)

    /** Filtered items with a ticker archived at or after `since`, the highest-scored (then newest) first. */
    const filteredSince = Effect.fn("ItemArchive.filteredSince")(function* (since: number, limit: number) {
      const rows = yield* sql<{
        itemId: string
        archivedAt: number
        source: string
        ticker: string
        formType: string | null
        title: string
        reason: string | null
        classification: string | null
        market: string | null
      }>`
        SELECT item_id AS "itemId", archived_at AS "archivedAt", source, ticker, form_type AS "formType", title, reason,
          classification, market FROM item_archive
        WHERE outcome = 'filtered' AND ticker IS NOT NULL AND archived_at >= ${since}
        ORDER BY score DESC NULLS LAST, archived_at DESC LIMIT ${limit}`
      return rows.map((row): FilteredItem => ({
        ...row,
        classification: row.classification === null ? null : decodeClassification(JSON.parse(row.classification)),
        market: row.market === null ? null : decodeMarket(JSON.parse(row.market))
      }))
    }, Effect.orDie)

    /**
     * Newest first. Ticker and source go through their (column, archived_at) indexes; headline words are
     * a LIKE over the (time-bounded) rows, which SQLite scans at well over a million rows a second.
     */
    const search = Effect.fn("ItemArchive.search")(function* (query: ArchiveQuery) {
      const text = query.text?.trim() ?? ""
      const conditions = [
        ...(text === ""
          ? []
          : [sql`(lower(title) LIKE ${likeContaining(text)} ESCAPE '\\' OR ticker = ${text.toUpperCase()})`]),
        ...(query.ticker === undefined ? [] : [sql`ticker = ${query.ticker.trim().toUpperCase()}`]),
        ...(query.source === undefined ? [] : [sql`source = ${query.source}`]),
        ...(query.since === undefined ? [] : [sql`archived_at >= ${query.since}`]),
        ...(query.until === undefined ? [] : [sql`archived_at < ${query.until}`])
      ]
      const rows = yield* sql<{
        itemId: string
        archivedAt: number
        source: string
        ticker: string | null
        formType: string | null
        title: string
        item: string
        outcome: string
        reason: string | null
        score: number | null
      }>`
        SELECT item_id AS itemId, archived_at AS archivedAt, source, ticker, form_type AS formType, title, item,
          outcome, reason, score FROM item_archive
        WHERE ${sql.and(conditions)}
        ORDER BY archived_at DESC, id DESC LIMIT ${query.limit}`
      return rows.map(({ item, ...row }): FoundItem => ({ ...row, link: decodeItem(JSON.parse(item)).link }))
    }, Effect.orDie)

    /** Forgets items older than ARCHIVE_DAYS, so the archive stays bounded. */
    const purgeExpired = Effect.fn("ItemArchive.purgeExpired")(function* () {
      const cutoff = (yield* Clock.currentTimeMillis) - settings.archiveDays * 86_400_000
      yield* sql`DELETE FROM item_archive WHERE archived_at < ${cutoff}`
    }, Effect.orDie)

    return { record, page, filteredSince, search, purgeExpired } as const
  }),
  dependencies: [SqlLive, AppConfig.Default]
}) {}
