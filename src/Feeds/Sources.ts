import { ConfigError, Effect, Either, Schema } from "effect"
import { readFileSync } from "node:fs"
import { isHttpUrl, pollFloorSeconds } from "../Kernel/AppConfig.js"
import { describeProblems } from "../Kernel/DecodeProblems.js"
import { FeedKind } from "../Kernel/Domain.js"

const PollSeconds = Schema.Int.pipe(
  Schema.greaterThanOrEqualTo(pollFloorSeconds, {
    message: () => `expected a whole number of seconds >= ${pollFloorSeconds}`
  })
)

export const FeedSource = Schema.Struct({
  name: Schema.NonEmptyTrimmedString,
  url: Schema.String,
  kind: FeedKind,
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** Per-feed overrides of POLL_SECONDS / POLL_SECONDS_CLOSED (SEC_POLL_SECONDS for SEC feeds). */
  pollSeconds: Schema.optionalWith(PollSeconds, { exact: true }),
  pollSecondsClosed: Schema.optionalWith(PollSeconds, { exact: true })
})
export type FeedSource = typeof FeedSource.Type

/**
 * A bare array replaces the defaults; `{ "mode": "extend", "feeds": [...] }` adds to them (same name = override).
 * The shape is chosen before decoding, so that a bad entry is reported once, not once per shape of a union.
 */
const decodeFeedList = Schema.decodeUnknownEither(Schema.Array(FeedSource), { errors: "all" })
const decodeFeedsObject = Schema.decodeUnknownEither(
  Schema.Struct({
    mode: Schema.optionalWith(Schema.Literal("replace", "extend"), { default: () => "extend" as const }),
    feeds: Schema.Array(FeedSource)
  }),
  { errors: "all" }
)

/** The one default SEC feed: every form on EDGAR's live feed, filtered locally to the catalyst forms. */
export const secFeedName = "SEC EDGAR"

/** Entries per getcurrent page; EDGAR accepts 10, 20, 40, 80 or 100. */
const secPageSize = 100

/**
 * SEC's live filings feed; documented at https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent.
 * `type` matches form types by prefix; empty lists every form, newest first. `start=` pages (PageTurnover).
 */
export const secCurrentFeedUrl = (baseUrl: string, form = ""): string => {
  const url = new URL("/cgi-bin/browse-edgar", baseUrl)
  url.search = new URLSearchParams({
    action: "getcurrent",
    type: form,
    company: "",
    dateb: "",
    owner: "include",
    start: "0",
    count: String(secPageSize),
    output: "atom"
  }).toString()
  return url.toString()
}

/** The per-form SEC feeds of earlier defaults ("SEC 8-K", …), which a FEEDS_FILE may still name. */
const legacySecFeedNames = new Set(
  ["8-K", "6-K", "424B5", "S-1", "S-3", "FWP", "SC 13D", "SC 13G"].map((form) => `SEC ${form}`)
)

export const defaultSources = (secBaseUrl: string): ReadonlyArray<FeedSource> => [
  {
    name: "GlobeNewswire",
    url: "https://www.globenewswire.com/RssFeed/orgclass/1/feedTitle/GlobeNewswire%20-%20News%20about%20Public%20Companies",
    kind: "rss",
    enabled: true
  },
  { name: "PR Newswire", url: "https://www.prnewswire.com/rss/news-releases-list.rss", kind: "rss", enabled: true },
  {
    name: "Business Wire",
    url: "https://feed.businesswire.com/rss/home/?rss=G1QFDERJXkJeEFpQWQ==",
    kind: "rss",
    enabled: true
  },
  { name: "AccessWire", url: "https://www.accesswire.com/rss/newsroom", kind: "rss", enabled: true },
  { name: secFeedName, url: secCurrentFeedUrl(secBaseUrl), kind: "sec-atom", enabled: true }
]

const invalid = (message: string) => ConfigError.InvalidData(["FEEDS_FILE"], message)

/** Every problem at once, one per line of the start-up report. */
const allInvalid = (messages: ReadonlyArray<string>): ConfigError.ConfigError =>
  messages.map(invalid).reduce((left, right) => ConfigError.And(left, right))

/**
 * The feeds to poll: the defaults, replaced or extended by FEEDS_FILE. Any problem (unreadable file,
 * bad JSON, a bad entry, a feed whose URL isn't http(s), duplicate names) is a config error naming
 * FEEDS_FILE, the file and, for an entry, its index, name and field.
 */
export const loadSources = (options: {
  readonly feedsFile: string | undefined
  readonly secBaseUrl: string
}): Effect.Effect<ReadonlyArray<FeedSource>, ConfigError.ConfigError> =>
  Effect.gen(function* () {
    const defaults = defaultSources(options.secBaseUrl)
    let sources: ReadonlyArray<FeedSource> = defaults
    const where = options.feedsFile === undefined ? "" : `${options.feedsFile}: `
    if (options.feedsFile !== undefined) {
      const path = options.feedsFile
      const text = yield* Effect.try({
        try: () => readFileSync(path, "utf8"),
        catch: (error) => invalid(`can't read ${path}: ${(error as Error).message}`)
      })
      const json = yield* Effect.try({
        try: (): unknown => JSON.parse(text),
        catch: (error) => invalid(`${path} is not valid JSON: ${(error as Error).message}`)
      })
      if (typeof json !== "object" || json === null) {
        return yield* Effect.fail(invalid(`${where}expected an array of feeds or { "feeds": [...] }`))
      }
      const decoded = Array.isArray(json)
        ? Either.map(decodeFeedList(json), (feeds) => ({ mode: "replace" as const, feeds }))
        : decodeFeedsObject(json)
      const { mode, feeds } = yield* Either.mapLeft(decoded, (error) =>
        allInvalid(describeProblems(error, json).map((problem) => `${where}${problem}`))
      )
      const legacy = mode === "extend" ? feeds.filter((feed) => legacySecFeedNames.has(feed.name)) : []
      for (const feed of legacy) {
        yield* Effect.logWarning(
          `${where}feed "${feed.name}" is no longer a default to override: the defaults poll every form in one feed, "${secFeedName}"; "${feed.name}" is polled as a feed of its own${feed.enabled ? "" : " (disabled)"}`
        )
      }
      const overrides = new Map(feeds.map((feed) => [feed.name, feed]))
      sources =
        mode === "replace"
          ? feeds
          : [
              ...defaults.map((feed) => overrides.get(feed.name) ?? feed),
              ...feeds.filter((feed) => !defaults.some((known) => known.name === feed.name))
            ]
    }
    const problems: Array<string> = []
    const names = new Set<string>()
    for (const source of sources) {
      if (!isHttpUrl(source.url)) problems.push(`${where}feed "${source.name}": url must be http(s), got ${source.url}`)
      if (names.has(source.name)) problems.push(`${where}feed name "${source.name}" appears twice`)
      names.add(source.name)
    }
    if (problems.length > 0) return yield* Effect.fail(allInvalid(problems))
    return sources
  })
