import { ConfigError, Effect, Either, Option, Ref, Schema } from "effect"
import { readFileSync, statSync } from "node:fs"
import { AdminChannel } from "../Kernel/AdminChannel.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { decodeJsonFile } from "../Kernel/DecodeProblems.js"
import type { NormalizedItem } from "../Kernel/Domain.js"

/**
 * MUTE_FILE: tickers and phrases whose items are dropped before classification, each until an
 * optional expiry. A dropped item's outcome is `filtered`, with the mute entry as the reason. The
 * file is read again when it changes; an edit that doesn't parse keeps the previous list, and admin
 * is told.
 */

const Expiry = Schema.optional(Schema.DateTimeUtc)

const MuteFile = Schema.Struct({
  tickers: Schema.optionalWith(
    Schema.Array(
      Schema.Struct({
        ticker: Schema.String.pipe(Schema.pattern(/^[A-Za-z][A-Za-z0-9.-]{0,9}$/)),
        until: Expiry,
        note: Schema.optional(Schema.String)
      })
    ),
    { default: () => [] }
  ),
  phrases: Schema.optionalWith(
    Schema.Array(
      Schema.Struct({
        phrase: Schema.String.pipe(Schema.minLength(2)),
        until: Expiry,
        note: Schema.optional(Schema.String)
      })
    ),
    { default: () => [] }
  )
})

interface MuteEntry {
  readonly what: string
  /** Epoch ms; null never expires. */
  readonly until: number | null
  readonly test: (item: NormalizedItem) => boolean
}

const decodeMuteFile = Schema.decodeUnknownEither(MuteFile, { errors: "all", onExcessProperty: "error" })

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Parses a mute file's text; every problem at once, one line each naming the file and the entry's field. */
export const parseMuteFile = (
  path: string,
  text: string
): Either.Either<ReadonlyArray<MuteEntry>, ReadonlyArray<string>> => {
  const decoded = decodeJsonFile(path, text, decodeMuteFile)
  if (Either.isLeft(decoded)) return Either.left(decoded.left)
  const until = (expiry: { readonly epochMillis: number } | undefined) => expiry?.epochMillis ?? null
  return Either.right([
    ...decoded.right.tickers.map((entry): MuteEntry => {
      const symbol = entry.ticker.toUpperCase()
      return {
        what: `ticker ${symbol}`,
        until: until(entry.until),
        test: (item) => item.tickers.some((ticker) => ticker.symbol.toUpperCase() === symbol)
      }
    }),
    ...decoded.right.phrases.map((entry): MuteEntry => {
      const pattern = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(entry.phrase)}(?![\\p{L}\\p{N}])`, "iu")
      return {
        what: `phrase ${JSON.stringify(entry.phrase)}`,
        until: until(entry.until),
        test: (item) => pattern.test(item.title) || pattern.test(item.summary)
      }
    })
  ])
}

/** Why `item` is muted at `now` (the first live entry that matches), or null. */
export const muteReason = (entries: ReadonlyArray<MuteEntry>, item: NormalizedItem, now: number): string | null => {
  for (const entry of entries) {
    if (entry.until !== null && now >= entry.until) continue
    if (entry.test(item))
      return `muted ${entry.what} (MUTE_FILE${entry.until === null ? "" : `, until ${new Date(entry.until).toISOString()}`})`
  }
  return null
}

const invalid = (lines: ReadonlyArray<string>): ConfigError.ConfigError =>
  lines
    .map((line) => ConfigError.InvalidData(["MUTE_FILE"], line))
    .reduce((left, right) => ConfigError.And(left, right))

const mtimeOf = (path: string): number | null => {
  try {
    return statSync(path).mtimeMs
  } catch {
    return null
  }
}

export class MuteList extends Effect.Service<MuteList>()("MarketData/MuteList", {
  effect: Effect.gen(function* () {
    const { routing } = yield* AppConfig
    const admin = yield* AdminChannel
    const path = Option.getOrUndefined(routing.muteFile)
    const read = (file: string) =>
      Effect.try({
        try: () => readFileSync(file, "utf8"),
        catch: (error) => [`can't read ${file}: ${(error as Error).message}`] as ReadonlyArray<string>
      }).pipe(Effect.flatMap((text) => parseMuteFile(file, text)))
    const initial = path === undefined ? [] : yield* Effect.mapError(read(path), invalid)
    const state = yield* Ref.make({ entries: initial, mtime: path === undefined ? null : mtimeOf(path) })

    /** Reads the file again if it changed since; a bad edit keeps the list in force. */
    const refresh = Effect.fn("MuteList.refresh")(function* (file: string) {
      const current = yield* Ref.get(state)
      const mtime = mtimeOf(file)
      if (mtime === current.mtime) return current.entries
      const next = yield* Effect.either(read(file))
      yield* Ref.set(state, { entries: Either.getOrElse(next, () => current.entries), mtime })
      if (Either.isLeft(next)) {
        yield* Effect.logWarning(`MUTE_FILE edit not applied, the previous list stays: ${next.left.join("; ")}`)
        yield* admin.notify({
          key: `mute-file-invalid:${mtime}`,
          title: "MUTE_FILE edit not applied",
          detail: `The previous mute list stays in force until the file is fixed:\n${next.left.join("\n")}`
        })
        return current.entries
      }
      yield* Effect.logInfo(`MUTE_FILE re-read: ${next.right.length} entr${next.right.length === 1 ? "y" : "ies"}`)
      return next.right
    })

    /** Items kept, and the muted ones with their reason. */
    const partition = Effect.fn("MuteList.partition")(function* (items: ReadonlyArray<NormalizedItem>, now: number) {
      if (path === undefined || items.length === 0) return { kept: items, muted: [] }
      const entries = yield* refresh(path)
      const kept: Array<NormalizedItem> = []
      const muted: Array<{ readonly item: NormalizedItem; readonly reason: string }> = []
      for (const item of items) {
        const reason = muteReason(entries, item, now)
        if (reason === null) kept.push(item)
        else muted.push({ item, reason })
      }
      return { kept, muted }
    })

    return { partition } as const
  }),
  dependencies: [AppConfig.Default, AdminChannel.Default]
}) {}
