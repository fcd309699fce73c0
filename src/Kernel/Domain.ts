// The module, not the `effect` index: the chart worker imports this file (Charts/Protocol), and each worker
// thread keeps everything it imports resident.
import * as Schema from "effect/Schema"

/** The data that flows between stages. Every stage speaks these shapes; the outbox stores them as JSON. */

export const FeedKind = Schema.Literal("rss", "atom", "sec-atom")
export type FeedKind = typeof FeedKind.Type

export const Ticker = Schema.Struct({
  symbol: Schema.String,
  exchange: Schema.NullOr(Schema.String)
})
export type Ticker = typeof Ticker.Type

export const SecFiling = Schema.Struct({
  formType: Schema.String,
  cik: Schema.String,
  accession: Schema.String,
  items: Schema.Array(Schema.String),
  companyName: Schema.String
})
export type SecFiling = typeof SecFiling.Type

export const NormalizedItem = Schema.Struct({
  id: Schema.String,
  source: Schema.String,
  kind: FeedKind,
  title: Schema.String,
  summary: Schema.String,
  link: Schema.String,
  published: Schema.NullOr(Schema.String),
  fetchedAt: Schema.String,
  tickers: Schema.Array(Ticker),
  sec: Schema.optionalWith(SecFiling, { exact: true })
})
export type NormalizedItem = typeof NormalizedItem.Type

export const LlmAnalysis = Schema.Struct({
  category: Schema.String,
  sentiment: Schema.Number,
  confidence: Schema.Number,
  summary: Schema.String,
  key_facts: Schema.Array(Schema.String),
  is_material: Schema.Boolean
})
export type LlmAnalysis = typeof LlmAnalysis.Type

/**
 * `unavailable` means the LLM was configured but failed, timed out or ran out of budget for this item.
 * `Pending` (LLM_MODE=enrich): the alert goes out on keywords, and the verdict is edited in when it arrives.
 */
export const LlmVerdict = Schema.Union(
  Schema.TaggedStruct("Skipped", { reason: Schema.String }),
  Schema.TaggedStruct("Pending", { reason: Schema.String }),
  Schema.TaggedStruct("Unavailable", { reason: Schema.String }),
  Schema.TaggedStruct("Analysed", { analysis: LlmAnalysis, cached: Schema.Boolean })
)
export type LlmVerdict = typeof LlmVerdict.Type

export const Classification = Schema.Struct({
  categories: Schema.Array(Schema.String),
  score: Schema.Number,
  sentiment: Schema.Number,
  negative: Schema.Boolean,
  matched: Schema.Array(Schema.String),
  llm: LlmVerdict
})
export type Classification = typeof Classification.Type

export const Quote = Schema.Struct({
  symbol: Schema.String,
  price: Schema.Number,
  previousClose: Schema.NullOr(Schema.Number),
  changePct: Schema.NullOr(Schema.Number),
  volume: Schema.NullOr(Schema.Number),
  relativeVolume: Schema.NullOr(Schema.Number)
})
export type Quote = typeof Quote.Type

/** What the market-data stage learned about an item's primary ticker. */
export const MarketSnapshot = Schema.Union(
  Schema.TaggedStruct("Priced", { quote: Quote }),
  Schema.TaggedStruct("UnknownSymbol", { symbol: Schema.String }),
  Schema.TaggedStruct("PriceUnavailable", { reason: Schema.String })
)
export type MarketSnapshot = typeof MarketSnapshot.Type

export interface ClassifiedItem {
  readonly item: NormalizedItem
  readonly classification: Classification
  readonly filing?: FilingDocuments
}

export interface EnrichedItem extends ClassifiedItem {
  readonly market: MarketSnapshot
}

/**
 * A later item edited into an alert instead of posted on its own: the other half of the same event
 * (the 8-K or 6-K of a wire story, or the press release of a filing), or an update of the story (an
 * amendment, a wire correction). `cik`, `formType` and `items` are set for SEC items.
 */
export const LinkedItem = Schema.Struct({
  relation: Schema.Literal("filing", "press-release", "update"),
  itemId: Schema.String,
  source: Schema.String,
  title: Schema.String,
  link: Schema.String,
  linkedAt: Schema.String,
  cik: Schema.optional(Schema.String),
  formType: Schema.optional(Schema.String),
  items: Schema.optional(Schema.Array(Schema.String))
})
export type LinkedItem = typeof LinkedItem.Type

/**
 * Company size from SEC XBRL (https://www.sec.gov/edgar/sec-api-documentation): shares outstanding
 * (dei:EntityCommonStockSharesOutstanding) and public float in dollars (dei:EntityPublicFloat), each
 * with the period-end date it was reported for. Shares outstanding is not the trader's "float".
 */
export const CompanySize = Schema.Struct({
  sharesOutstanding: Schema.NullOr(Schema.Number),
  sharesAsOf: Schema.NullOr(Schema.String),
  publicFloatUsd: Schema.NullOr(Schema.Number),
  publicFloatAsOf: Schema.NullOr(Schema.String),
  /** Price × shares outstanding. */
  marketCapUsd: Schema.NullOr(Schema.Number),
  /** Today's volume as a percentage of shares outstanding. */
  volumePctOfShares: Schema.NullOr(Schema.Number)
})
export type CompanySize = typeof CompanySize.Type

/**
 * One Form 4's transactions of one code, summed (EDGAR Ownership XML Technical Specification):
 * `code` P is an open-market purchase, S a sale, A a grant, M an option exercise, F tax withholding.
 */
export const InsiderTrade = Schema.Struct({
  owner: Schema.String,
  /** "Director", "Officer (CEO)", "10% owner", joined with ", "; empty when the filing says none. */
  relationship: Schema.String,
  code: Schema.String,
  shares: Schema.Number,
  /** Share-weighted average price; null when no transaction gave one. */
  price: Schema.NullOr(Schema.Number),
  valueUsd: Schema.NullOr(Schema.Number),
  sharesOwnedAfter: Schema.NullOr(Schema.Number),
  /** Distinct insiders buying this issuer within INSIDER_CLUSTER_DAYS, when there are two or more. */
  clusterInsiders: Schema.NullOr(Schema.Number)
})
export type InsiderTrade = typeof InsiderTrade.Type

/** A 13D/13G's cover page: who reports a stake in whom, and how big (null: the document does not say). */
export const Ownership = Schema.Struct({
  filer: Schema.NullOr(Schema.String),
  subject: Schema.String,
  percentOfClass: Schema.NullOr(Schema.Number),
  shares: Schema.NullOr(Schema.Number)
})
export type Ownership = typeof Ownership.Type

/**
 * An offering's terms from its prospectus cover page; null where the cover page does not state them.
 * `dilutionPct` is shares offered over shares outstanding before the offering, only when both are stated.
 */
export const OfferingTerms = Schema.Struct({
  sizeUsd: Schema.NullOr(Schema.Number),
  pricePerShare: Schema.NullOr(Schema.Number),
  shares: Schema.NullOr(Schema.Number),
  warrants: Schema.NullOr(Schema.Number),
  sharesOutstanding: Schema.NullOr(Schema.Number),
  dilutionPct: Schema.NullOr(Schema.Number)
})
export type OfferingTerms = typeof OfferingTerms.Type

/** The furnished press release (EX-99.1) whose text the classification read, and what it matched there. */
export const ExhibitRead = Schema.Struct({
  document: Schema.String,
  matched: Schema.Array(Schema.String)
})
export type ExhibitRead = typeof ExhibitRead.Type

/** What a filing's documents added to its item, when they could be read in time. */
export interface FilingDocuments {
  readonly ownership?: Ownership
  readonly offering?: OfferingTerms
  readonly exhibit?: ExhibitRead
}

/** WATCHLIST_FILE: the alert's ticker is on the watchlist, with that entry's note and tags. */
export const WatchlistMark = Schema.Struct({
  ticker: Schema.String,
  note: Schema.optional(Schema.String),
  tags: Schema.Array(Schema.String)
})
export type WatchlistMark = typeof WatchlistMark.Type

/** What goes into the outbox: everything the sink needs to render the message, frozen at decision time. */
export const Alert = Schema.Struct({
  item: NormalizedItem,
  ticker: Ticker,
  classification: Classification,
  market: MarketSnapshot,
  decidedAt: Schema.String,
  /** LLM_MODE=enrich: the filter the LLM verdict would have failed (gate mode would not have sent it). */
  llmVeto: Schema.optional(Schema.String),
  /** Later items edited into this alert (EVENT_WINDOW_MINUTES, ALERT_UPDATE_LOOKBACK_HOURS), oldest first. */
  linked: Schema.optional(Schema.Array(LinkedItem)),
  size: Schema.optional(CompanySize),
  insider: Schema.optional(InsiderTrade),
  ownership: Schema.optional(Ownership),
  offering: Schema.optional(OfferingTerms),
  exhibit: Schema.optional(ExhibitRead),
  watchlist: Schema.optional(WatchlistMark)
})
export type Alert = typeof Alert.Type

/** `held`: not decided this cycle (e.g. prices unavailable with QUOTES_ON_OUTAGE=hold); not marked seen. */
export const ItemOutcomeKind = Schema.Literal("duplicate", "stale", "filtered", "held", "alerted", "failed")
export type ItemOutcomeKind = typeof ItemOutcomeKind.Type

export interface ItemOutcome {
  readonly itemId: string
  readonly source: string
  readonly title: string
  readonly outcome: ItemOutcomeKind
  readonly reason: string | null
}

export type FeedStatus =
  | { readonly _tag: "Ok"; readonly items: number; readonly fresh: number }
  | { readonly _tag: "NotModified" }
  | { readonly _tag: "Failed"; readonly reason: string }
  /** Switched off by configuration (e.g. SEC feeds without SEC_USER_AGENT): reported, never a failure. */
  | { readonly _tag: "Disabled"; readonly reason: string }

export interface FeedReport {
  readonly name: string
  readonly url: string
  readonly status: FeedStatus
}

export interface CycleSummary {
  readonly startedAt: string
  readonly durationMs: number
  readonly feeds: ReadonlyArray<FeedReport>
  readonly fetched: number
  readonly new: number
  readonly alerted: number
  readonly outcomes: ReadonlyArray<ItemOutcome>
  readonly notes: ReadonlyArray<string>
  /** Epoch ms before which the polled source asked not to be polled again. */
  readonly retryAt?: number
}

/** One OHLCV bar; `time` is the bar's start in epoch milliseconds. */
export const Bar = Schema.Struct({
  time: Schema.Number,
  open: Schema.Number,
  high: Schema.Number,
  low: Schema.Number,
  close: Schema.Number,
  volume: Schema.Number
})
export type Bar = typeof Bar.Type

export const BarInterval = Schema.Literal("5m", "1d")
export type BarInterval = typeof BarInterval.Type

/** Bars for charts: today's 5-minute bars (with pre/post market), or daily bars over a lookback. */
export const BarSeries = Schema.Struct({
  symbol: Schema.String,
  interval: BarInterval,
  bars: Schema.Array(Bar),
  previousClose: Schema.NullOr(Schema.Number),
  /** Regular session bounds in epoch ms, for shading pre- and post-market. */
  regularStart: Schema.NullOr(Schema.Number),
  regularEnd: Schema.NullOr(Schema.Number)
})
export type BarSeries = typeof BarSeries.Type

/** A rendered chart, attached to a Discord message as `attachment://{filename}`. */
export interface Chart {
  readonly filename: string
  readonly png: Uint8Array
}

/** `Failed` is flagged on the alert ("chart unavailable"); the alert itself always goes out. */
export type ChartOutcome =
  | { readonly _tag: "Rendered"; readonly chart: Chart }
  | { readonly _tag: "NoBars" }
  | { readonly _tag: "Failed"; readonly reason: string }

/** What the outbox did with a cycle's alerts. */
export interface EnqueueResult {
  /** Item ids held back by the cycle cap; deferred ones are released by later cycles. */
  readonly deferred: ReadonlyArray<string>
  readonly dropped: ReadonlyArray<string>
  /** Rows deferred by earlier cycles that this cycle released. */
  readonly released: number
  /**
   * Alerts not enqueued because their source went over SOURCE_MAX_ALERTS_PER_POLL or
   * SOURCE_MAX_ALERTS_PER_MINUTE, with the cap they broke; present only when some were.
   */
  readonly overSourceCap?: ReadonlyArray<{ readonly itemId: string; readonly reason: string }>
  /** Item ids of alerts no route of ROUTES_FILE takes: not enqueued; present only when some were. */
  readonly unrouted?: ReadonlyArray<string>
}
