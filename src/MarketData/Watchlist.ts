import { type Info, parse as parseCsv } from "csv-parse/sync"
import { stringify as stringifyCsv } from "csv-stringify/sync"
import { ConfigError, Data, Effect, Either, Option, ParseResult, Ref, Schema } from "effect"
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { AdminChannel } from "../Kernel/AdminChannel.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { decodeJsonFile } from "../Kernel/DecodeProblems.js"
import type { NormalizedItem, WatchlistMark } from "../Kernel/Domain.js"

/**
 * WATCHLIST_FILE: the tickers a trader follows, each with an optional note and tags, as JSON or (a
 * name ending in .csv) CSV. An alert for one of them carries a watchlist marker, routes can select
 * on it, and with WATCHLIST_BYPASS_FILTERS it skips the price and score filters. The file is read
 * again when it changes; an edit that doesn't parse keeps the previous list, and admin is told.
 * `catalyst-bot watch` edits it.
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

const decodeWatchlistEntry = Schema.decodeUnknownEither(WatchlistEntry, { errors: "all" })

/** An entry as the file gives it, with where its ticker stands there, for a problem to name. */
interface EntryRead {
  readonly entry: WatchlistEntry
  readonly tickerAt: string
}

/** How a watchlist file is written: reading gives every problem at once, one line each naming the file. */
interface WatchlistFormat {
  readonly read: (path: string, text: string) => Either.Either<ReadonlyArray<EntryRead>, ReadonlyArray<string>>
  /** The file's text, or why these entries can't be written in this format. */
  readonly render: (entries: ReadonlyArray<WatchlistEntry>) => Either.Either<string, string>
}

const jsonFormat: WatchlistFormat = {
  read: (path, text) =>
    Either.map(decodeJsonFile(path, text, decodeWatchlistFile), ({ tickers }) =>
      tickers.map((entry, index) => ({ entry, tickerAt: `tickers[${index}], field ticker` }))
    ),
  render: (entries) => Either.right(JSON.stringify({ tickers: entries }, null, 2) + "\n")
}

type WatchlistField = keyof WatchlistEntry

/** A CSV header, lower-cased, to the entry's field it holds. */
const csvHeaders: ReadonlyMap<string, WatchlistField> = new Map([
  ["ticker", "ticker"],
  ["symbol", "ticker"],
  ["note", "note"],
  ["tags", "tags"]
])

const csvTagSeparator = ";"

const isBlankByte = (byte: number) => byte === 0x20 || byte === 0x09 || byte === 0x0d || byte === 0x0a

/**
 * The 1-based line each record starts on, from the byte offset where each ends. csv-parse's own
 * count is a record's last line, and it counts a CRLF inside a quoted note as two.
 */
const startLines = (bytes: Uint8Array, ends: ReadonlyArray<number>): ReadonlyArray<number> => {
  let line = 1
  let at = 0
  return ends.map((end) => {
    for (; at < end && isBlankByte(bytes[at]!); at++) if (bytes[at] === 0x0a) line++
    const start = line
    for (; at < end; at++) if (bytes[at] === 0x0a) line++
    return start
  })
}

interface CsvRow {
  readonly line: number
  readonly cells: ReadonlyArray<string>
}

/** The file's rows, blank lines skipped, each with the line it starts on (the first is the header). */
const csvRows = (path: string, text: string): Either.Either<ReadonlyArray<CsvRow>, ReadonlyArray<string>> => {
  // The BOM goes here rather than through csv-parse's `bom`, whose byte offsets would count it.
  const bytes = Buffer.from(text.startsWith("\uFEFF") ? text.slice(1) : text)
  try {
    // With `info`, each record comes with its Info; the typings don't model that option.
    const records = parseCsv(bytes, {
      info: true,
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true
    }) as unknown as ReadonlyArray<{ readonly record: ReadonlyArray<string>; readonly info: Info }>
    const lines = startLines(
      bytes,
      records.map(({ info }) => info.bytes)
    )
    return Either.right(records.map(({ record }, index) => ({ line: lines[index]!, cells: record })))
  } catch (error) {
    return Either.left([`${path}: not valid CSV: ${(error as Error).message}`])
  }
}

interface CsvColumn {
  /** As the header row names it, for a problem to name; its position when the header cell is empty. */
  readonly name: string
  readonly field: WatchlistField
}

const csvProblem = (path: string, line: number, column: string, message: string) =>
  `${path}: row ${line}, column ${column}: ${message}`

const knownHeaders = Array.from(csvHeaders.keys(), (name) => JSON.stringify(name)).join(" | ")

const csvColumns = (path: string, header: CsvRow): Either.Either<ReadonlyArray<CsvColumn>, ReadonlyArray<string>> => {
  const names = header.cells.map((name, index) => name.trim() || String(index + 1))
  const fields = names.map((name) => csvHeaders.get(name.toLowerCase()))
  const problems = names.flatMap((name, index) => {
    const field = fields[index]
    if (field === undefined) return [csvProblem(path, header.line, name, `is unexpected, expected: ${knownHeaders}`)]
    return fields.indexOf(field) < index ? [csvProblem(path, header.line, name, `is a second ${field} column`)] : []
  })
  if (!fields.includes("ticker"))
    problems.push(
      csvProblem(path, header.line, "ticker", `is missing (the header row names a "ticker" or "symbol" column)`)
    )
  return problems.length > 0
    ? Either.left(problems)
    : Either.right(names.map((name, index) => ({ name, field: fields[index]! })))
}

/** A data row as an entry (null for a row of empty cells), through the same Schema as a JSON entry. */
const csvEntry = (
  path: string,
  columns: ReadonlyArray<CsvColumn>,
  row: CsvRow
): Either.Either<EntryRead | null, ReadonlyArray<string>> => {
  if (row.cells.every((cell) => cell === "")) return Either.right(null)
  const problems = row.cells.flatMap((cell, index) =>
    index >= columns.length && cell !== ""
      ? [csvProblem(path, row.line, String(index + 1), `is beyond the header row's ${columns.length} columns`)]
      : []
  )
  const cell = (field: WatchlistField) => row.cells[columns.findIndex((column) => column.field === field)] ?? ""
  const columnName = (field: WatchlistField) => columns.find((column) => column.field === field)?.name ?? field
  const note = cell("note")
  const tags = cell("tags")
    .split(csvTagSeparator)
    .map((tag) => tag.trim())
    .filter((tag) => tag !== "")
  const decoded = decodeWatchlistEntry({
    ticker: cell("ticker"),
    ...(note !== "" && { note }),
    ...(tags.length > 0 && { tags })
  })
  if (Either.isLeft(decoded))
    for (const issue of ParseResult.ArrayFormatter.formatErrorSync(decoded.left))
      problems.push(csvProblem(path, row.line, columnName(issue.path[0] as WatchlistField), issue.message))
  if (problems.length > 0 || Either.isLeft(decoded)) return Either.left(problems)
  return Either.right({ entry: decoded.right, tickerAt: `row ${row.line}, column ${columnName("ticker")}` })
}

/**
 * A header row naming `ticker` (or `symbol`), and optionally `note` and `tags` (separated by ";"),
 * in any case and order. A problem names the row by its line in the file, and the column by its header.
 */
const csvFormat: WatchlistFormat = {
  read: (path, text) =>
    Either.flatMap(csvRows(path, text), ([header, ...data]) =>
      Either.flatMap(csvColumns(path, header ?? { line: 1, cells: [] }), (columns) => {
        const rows = data.map((row) => csvEntry(path, columns, row))
        const problems = rows.flatMap((row) => (Either.isLeft(row) ? row.left : []))
        if (problems.length > 0) return Either.left(problems)
        return Either.right(rows.flatMap((row) => (Either.isRight(row) && row.right !== null ? [row.right] : [])))
      })
    ),
  render: (entries) => {
    const joined = entries.find((entry) => entry.tags?.some((tag) => tag.includes(csvTagSeparator)))
    if (joined !== undefined)
      return Either.left(
        `${joined.ticker}: a tag with "${csvTagSeparator}" can't be written to a CSV watchlist, where "${csvTagSeparator}" separates tags`
      )
    return Either.right(
      stringifyCsv(
        entries.map((entry) => [entry.ticker, entry.note ?? "", (entry.tags ?? []).join(csvTagSeparator)]),
        // Quoted, a note's leading or trailing blanks survive the trimming on read.
        { header: true, columns: ["ticker", "note", "tags"], quoted_match: /^\s|\s$/ }
      )
    )
  }
}

const formatOf = (path: string): WatchlistFormat => (path.toLowerCase().endsWith(".csv") ? csvFormat : jsonFormat)

/**
 * Parses a watchlist file's text, CSV when its name ends in .csv and JSON otherwise; every problem
 * at once, one line each naming the file and the entry.
 */
export const parseWatchlist = (
  path: string,
  text: string
): Either.Either<ReadonlyArray<WatchlistEntry>, ReadonlyArray<string>> => {
  const read = formatOf(path).read(path, text)
  if (Either.isLeft(read)) return Either.left(read.left)
  const seen = new Set<string>()
  const problems: Array<string> = []
  for (const { entry, tickerAt } of read.right) {
    const symbol = entry.ticker.toUpperCase()
    if (seen.has(symbol)) problems.push(`${path}: ${tickerAt}: ${symbol} is listed twice`)
    seen.add(symbol)
  }
  if (problems.length > 0) return Either.left(problems)
  return Either.right(read.right.map(({ entry }) => ({ ...entry, ticker: entry.ticker.toUpperCase() })))
}

/** The text of the file at `path` for `entries`, in the order given: what `watch add|remove` writes. */
export const renderWatchlist = (path: string, entries: ReadonlyArray<WatchlistEntry>): Either.Either<string, string> =>
  formatOf(path).render(entries)

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
    const text = yield* Either.mapLeft(renderWatchlist(path, next), (message) => new WatchlistEditError({ message }))
    yield* Effect.try({
      try: () => {
        const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
        writeFileSync(temporary, text)
        renameSync(temporary, path)
      },
      catch: (error) => new WatchlistEditError({ message: `can't write ${path}: ${(error as Error).message}` })
    })
    return next
  })

/** The entries of the file at `path`, or why it can't be read. */
export const listWatchlistFile = (path: string) =>
  Effect.mapError(readWatchlist(path), (lines) => new WatchlistEditError({ message: lines.join("\n") }))
