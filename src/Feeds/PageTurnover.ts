import { Effect, Either, Metric } from "effect"
import type { FeedFetchError } from "./FeedFetcher.js"
import type { ParsedFeed, RawEntry } from "./Parser.js"
import type { FeedSource } from "./Sources.js"

export const feedGaps = Metric.counter("feed_gaps_total", {
  description: "Polls whose full page held nothing from the previous page: stories may have been missed between them"
})

/** Beyond the first page, at most this many more are fetched after a gap. */
const maxExtraPages = 3

/** One line of a feed; SEC lists a filing once per party, under one id, so the title tells them apart. */
const entryKey = (entry: RawEntry): string => `${entry.guid ?? entry.link ?? ""}\u0000${entry.title}`

/**
 * getcurrent pages with `start=` and `count=` (EDGAR's default count is 40); other feeds don't page.
 * https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent
 */
export const getcurrentPaging = (
  url: string
): { readonly count: number; readonly pageUrl: (page: number) => string } | null => {
  const parsed = URL.canParse(url) ? new URL(url) : null
  if (parsed?.searchParams.get("action") !== "getcurrent") return null
  const count = Number(parsed.searchParams.get("count")) || 40
  const start = Number(parsed.searchParams.get("start")) || 0
  return {
    count,
    pageUrl: (page) => {
      const next = new URL(parsed)
      next.searchParams.set("start", String(start + page * count))
      return next.toString()
    }
  }
}

/**
 * Page turnover, per feed: a poll whose page is full (SEC's `count`, or as long as the longest page
 * the feed has served) and shares no entry with the previous poll's page may have missed stories
 * between the two. It is counted in `feed_gaps_total{source}`; a feed that pages (SEC's `start=`)
 * has its next pages fetched, until one reaches back to the previous page, and their entries added.
 */
export const makePageTurnover = () => {
  const previous = new Map<string, { readonly keys: ReadonlySet<string>; readonly longest: number }>()

  return (
    source: FeedSource,
    page: ParsedFeed,
    fetchPage: (url: string) => Effect.Effect<ParsedFeed, FeedFetchError>
  ): Effect.Effect<ParsedFeed> =>
    Effect.gen(function* () {
      const keys = page.entries.map(entryKey)
      const before = previous.get(source.name)
      const paging = getcurrentPaging(source.url)
      previous.set(source.name, { keys: new Set(keys), longest: Math.max(before?.longest ?? 0, keys.length) })
      const full = keys.length > 0 && keys.length >= (paging?.count ?? before?.longest ?? Infinity)
      if (before === undefined || !full || keys.some((key) => before.keys.has(key))) return page
      yield* Metric.increment(Metric.tagged(feedGaps, "source", source.name))
      if (paging === null) {
        yield* Effect.logWarning(`feed ${source.name}: a full page of new entries; stories may have been missed`)
        return page
      }
      const entries = [...page.entries]
      const seen = new Set(keys)
      let pages = 0
      for (let next = 1; next <= maxExtraPages; next++) {
        const fetched = yield* Effect.either(fetchPage(paging.pageUrl(next)))
        if (Either.isLeft(fetched)) {
          yield* Effect.logWarning(`feed ${source.name}: page ${next + 1} failed: ${fetched.left.reason}`)
          break
        }
        pages += 1
        for (const entry of fetched.right.entries) {
          const key = entryKey(entry)
          if (!seen.has(key)) entries.push(entry)
          seen.add(key)
        }
        const reachedBack = fetched.right.entries.some((entry) => before.keys.has(entryKey(entry)))
        if (reachedBack || fetched.right.entries.length < paging.count) break
      }
      yield* Effect.logWarning(
        `feed ${source.name}: a full page of new entries; read ${pages} more page${pages === 1 ? "" : "s"} (${entries.length - page.entries.length} entries)`
      )
      return { ...page, entries }
    })
}
