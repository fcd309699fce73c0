import { ConfigError, Data, Effect, Either, Option, Ref, Schema } from "effect"
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { AdminChannel } from "../Kernel/AdminChannel.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { decodeJsonFile } from "../Kernel/DecodeProblems.js"
import type { NormalizedItem, WatchlistMark } from "../Kernel/Domain.js"

/**
 * WATCHLIST_FILE: the tickers a trader follows, each with an optional note and tags. An alert for
 * one of them carries a watchlist marker, routes can select on it, and with WATCHLIST_BYPASS_FILTERS
 * it skips the price and score filters. The file is read again when it changes; an edit that
 * doesn't parse keeps the previous list, and admin is told. `catalyst-bot watch` edits it.
 */

const tickerPattern = /^[A-Za-z][A-Za-z0-9.-]{0,9}$/

export const isTicker = (text: string): boolean => tickerPattern.test(text)

const Ticker = Schema.String.pipe(
  Schema.filter((text) => isTicker(text), {
    message: (issue) =>
      `Expected a ticker (a letter, then up to 9 letters, digits, "." or "-"), actual ${JSON.stringify(issue.actual)}`
  })
)

const WatchlistEntry = Schema.Struct({
  ticker: Ticker,
  note: Schema.optional(Schema.String),
  tags: Schema.optional(Schema.Array(Schema.String.pipe(Schema.minLength(1))))
})
export type WatchlistEntry = typeof WatchlistEntry.Type

const WatchlistFile = Schema.Struct({ tickers: Schema.Array(WatchlistEntry) })

const decodeWatchlistFile = Schema.decodeUnknownEither(WatchlistFile, { errors: "all", onExcessProperty: "error" })

/** Parses a watchlist file's text; every problem at once, one line each naming the file and the entry. */
export const parseWatchlist = (
  path: string,
  text: string
): Either.Either<ReadonlyArray<WatchlistEntry>, ReadonlyArray<string>> => {
  const decoded = decodeJsonFile(path, text, decodeWatchlistFile)
  if (Either.isLeft(decoded)) return Either.left(decoded.left)
  const seen = new Set<string>()
  const problems: Array<string> = []
  decoded.right.tickers.forEach((entry, index) => {
    const symbol = entry.ticker.toUpperCase()
    if (seen.has(symbol)) problems.push(`${path}: tickers[${index}], field ticker: ${symbol} is listed twice`)
    seen.add(symbol)
  })
  if (problems.length > 0) return Either.left(problems)
  return Either.right(decoded.right.tickers.map((entry) => ({ ...entry, ticker: entry.ticker.toUpperCase() })))
}

/** The file's text for `entries`, in the order given: what `watch add|remove` writes. */
export const renderWatchlist = (entries: ReadonlyArray<WatchlistEntry>): string =>
  JSON.stringify({ tickers: entries }, null, 2) + "\n"

/** The watchlist marker for `item`: its first ticker on the list, or undefined. */
export const markOf = (
  entries: ReadonlyMap<string, WatchlistEntry>,
  item: NormalizedItem
): WatchlistMark | undefined => {
  for (const ticker of item.tickers) {
    const entry = entries.get(ticker.symbol.toUpperCase())
    if (entry !== undefined)
      return { ticker: entry.ticker, tags: entry.tags ?? [], ...(entry.note !== undefined && { note: entry.note }) }
  }
  return undefined
}

const byTicker = (entries: ReadonlyArray<WatchlistEntry>): ReadonlyMap<string, WatchlistEntry> =>
  new Map(entries.map((entry) => [entry.ticker, entry]))

const invalid = (lines: ReadonlyArray<string>): ConfigError.ConfigError =>
  lines
    .map((line) => ConfigError.InvalidData(["WATCHLIST_FILE"], line))
    .reduce((left, right) => ConfigError.And(left, right))

const mtimeOf = (path: string): number | null => {
  try {
    return statSync(path).mtimeMs
  } catch {
    return null
  }
}

const readWatchlist = (file: string) =>
  Effect.try({
    try: () => readFileSync(file, "utf8"),
    catch: (error) => [`can't read ${file}: ${(error as Error).message}`] as ReadonlyArray<string>
  }).pipe(Effect.flatMap((text) => parseWatchlist(file, text)))

/** What the cycle asks per batch: the marker of each item, and whether marked items skip the filters. */
export interface WatchlistInForce {
  readonly markOf: (item: NormalizedItem) => WatchlistMark | undefined
  readonly bypassFilters: boolean
}

export class Watchlist extends Effect.Service<Watchlist>()("MarketData/Watchlist", {
  effect: Effect.gen(function* () {
    const { routing } = yield* AppConfig
    const admin = yield* AdminChannel
    const path = Option.getOrUndefined(routing.watchlistFile)
    const initial = path === undefined ? [] : yield* Effect.mapError(readWatchlist(path), invalid)
    const state = yield* Ref.make({ entries: byTicker(initial), mtime: path === undefined ? null : mtimeOf(path) })

    /** Reads the file again if it changed since; a bad edit keeps the list in force and tells admin once. */
    const refresh = (file: string) =>
      Effect.gen(function* () {
        const current = yield* Ref.get(state)
        const mtime = mtimeOf(file)
        if (mtime === current.mtime) return current.entries
        const next = yield* Effect.either(readWatchlist(file))
        if (Either.isLeft(next)) {
          yield* Ref.set(state, { entries: current.entries, mtime })
          yield* Effect.logWarning(`WATCHLIST_FILE edit not applied, the previous list stays: ${next.left.join("; ")}`)
          yield* admin.notify({
            key: `watchlist-file-invalid:${mtime}`,
            title: "WATCHLIST_FILE edit not applied",
            detail: `The previous watchlist stays in force until the file is fixed:\n${next.left.join("\n")}`
          })
          return current.entries
        }
        const entries = byTicker(next.right)
        yield* Ref.set(state, { entries, mtime })
        yield* Effect.logInfo(`WATCHLIST_FILE re-read: ${entries.size} ticker(s)`)
        return entries
      })

    /** The list in force now (re-read first if the file changed). */
    const current = Effect.fn("Watchlist.current")(function* () {
      const entries = path === undefined ? byTicker([]) : yield* refresh(path)
      return {
        markOf: (item: NormalizedItem) => (entries.size === 0 ? undefined : markOf(entries, item)),
        bypassFilters: routing.watchlistBypassFilters
      } satisfies WatchlistInForce
    })

    return { current } as const
  }),
  dependencies: [AppConfig.Default, AdminChannel.Default]
}) {}

/** `watch add|remove|list` could not do what it was asked; the message names the file or the ticker. */
export class WatchlistEditError extends Data.TaggedError("WatchlistEditError")<{ readonly message: string }> {}

export type WatchlistEdit =
  | { readonly _tag: "Add"; readonly ticker: string; readonly note?: string; readonly tags: ReadonlyArray<string> }
  | { readonly _tag: "Remove"; readonly ticker: string }

/**
 * Applies `edit` to the entries. Adding a listed ticker keeps its note and tags unless new ones are
 * given (tags given are added to the ones it has); other entries are left as they are.
 */
export const applyEdit = (
  entries: ReadonlyArray<WatchlistEntry>,
  edit: WatchlistEdit
): Either.Either<ReadonlyArray<WatchlistEntry>, string> => {
  const symbol = edit.ticker.toUpperCase()
  if (!isTicker(symbol))
    return Either.left(
      `${JSON.stringify(edit.ticker)} is not a ticker (a letter, then up to 9 letters, digits, "." or "-")`
    )
  const index = entries.findIndex((entry) => entry.ticker === symbol)
  if (edit._tag === "Remove") {
    if (index < 0) return Either.left(`${symbol} is not on the watchlist`)
    return Either.right(entries.filter((_, at) => at !== index))
  }
  const existing = index < 0 ? undefined : entries[index]!
  const note = edit.note ?? existing?.note
  const tags = Array.from(new Set([...(existing?.tags ?? []), ...edit.tags]))
  const entry: WatchlistEntry = {
    ticker: symbol,
    ...(note !== undefined && { note }),
    ...(tags.length > 0 && { tags })
  }
  return Either.right(index < 0 ? [...entries, entry] : entries.map((old, at) => (at === index ? entry : old)))
}

/**
 * Reads the file (absent: empty), applies `edit` and writes it back atomically: a temporary file in
 * the same directory renamed over it, so a running bot never reads half a file.
 */
export const editWatchlistFile = (path: string, edit: WatchlistEdit) =>
  Effect.gen(function* () {
    const entries = mtimeOf(path) === null ? [] : yield* listWatchlistFile(path)
    const next = yield* Either.mapLeft(applyEdit(entries, edit), (message) => new WatchlistEditError({ message }))
    yield* Effect.try({
      try: () => {
        const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
        writeFileSync(temporary, renderWatchlist(next))
        renameSync(temporary, path)
      },
      catch: (error) => new WatchlistEditError({ message: `can't write ${path}: ${(error as Error).message}` })
    })
    return next
  })

/** The entries of the file at `path`, or why it can't be read. */
export const listWatchlistFile = (path: string) =>
  Effect.mapError(readWatchlist(path), (lines) => new WatchlistEditError({ message: lines.join("\n") }))
