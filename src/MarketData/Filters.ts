import { isOtc } from "../Feeds/Tickers.js"
import type { AppConfig } from "../Kernel/AppConfig.js"
import type { ClassifiedItem, CompanySize, EnqueueResult, EnrichedItem, ItemOutcome } from "../Kernel/Domain.js"
import { isInsiderForm } from "../Feeds/SecEntry.js"

type FilterSettings = AppConfig["filters"]

/**
 * WATCHLIST_BYPASS_FILTERS: the settings a watchlist ticker's item is judged by, without MIN_SCORE,
 * PRICE_FLOOR and PRICE_CEILING (the ticker, OTC, volume and size checks still apply).
 */
export const watchlistFilters = (settings: FilterSettings): FilterSettings => ({
  ...settings,
  minScore: Number.NEGATIVE_INFINITY,
  priceFloor: 0,
  priceCeiling: 0
})

/** Cheap checks before any quote is fetched. Returns why the item can't alert, or null. */
export const rejectBeforeMarket = (
  settings: FilterSettings,
  { item, classification }: ClassifiedItem
): string | null => {
  const [primary] = item.tickers
  if (primary === undefined) return "no ticker"
  // Tickers put OTC listings last, so an OTC primary means the item has nothing else.
  if (!settings.allowOtcTickers && isOtc(primary.exchange))
    return `OTC-only ticker ${primary.symbol} (${primary.exchange}) with ALLOW_OTC_TICKERS=0`
  // A Form 4 has no text to score: the insider rule decides it once its ownership document is read.
  if (!isInsiderForm(item.sec?.formType ?? "") && classification.score < settings.minScore)
    return `score ${classification.score.toFixed(2)} below MIN_SCORE ${settings.minScore}`
  return null
}

/** Price and volume filters; 0 disables each bound. A quote without volume can't fail MIN_VOLUME. */
export const rejectOnMarket = (settings: FilterSettings, { market }: EnrichedItem): string | null => {
  if (market._tag === "UnknownSymbol") return `unknown or delisted symbol ${market.symbol}`
  if (market._tag !== "Priced") return null
  const { price, volume } = market.quote
  if (settings.priceFloor > 0 && price < settings.priceFloor)
    return `price ${price} below PRICE_FLOOR ${settings.priceFloor}`
  if (settings.priceCeiling > 0 && price > settings.priceCeiling)
    return `price ${price} above PRICE_CEILING ${settings.priceCeiling}`
  if (settings.minVolume > 0 && volume !== null && volume < settings.minVolume)
    return `volume ${volume} below MIN_VOLUME ${settings.minVolume}`
  return null
}

const usd = (value: number) => `$${Math.round(value).toLocaleString("en-US")}`

/**
 * MIN_MARKET_CAP_USD, MAX_MARKET_CAP_USD and MAX_SHARES_OUTSTANDING (0 = off). A size SEC doesn't
 * know (no XBRL facts, no price for the market cap, or not known in time) passes: `note` says which
 * configured bound went unchecked, for the item's outcome.
 */
export const rejectOnSize = (
  settings: FilterSettings,
  size: CompanySize | undefined
): { readonly reason: string | null; readonly note: string | null } => {
  const capBounds = settings.minMarketCapUsd > 0 || settings.maxMarketCapUsd > 0
  const marketCap = size?.marketCapUsd ?? null
  const shares = size?.sharesOutstanding ?? null
  if (marketCap !== null) {
    if (settings.minMarketCapUsd > 0 && marketCap < settings.minMarketCapUsd)
      return {
        reason: `market cap ${usd(marketCap)} below MIN_MARKET_CAP_USD ${usd(settings.minMarketCapUsd)}`,
        note: null
      }
    if (settings.maxMarketCapUsd > 0 && marketCap > settings.maxMarketCapUsd)
      return {
        reason: `market cap ${usd(marketCap)} above MAX_MARKET_CAP_USD ${usd(settings.maxMarketCapUsd)}`,
        note: null
      }
  }
  if (shares !== null && settings.maxSharesOutstanding > 0 && shares > settings.maxSharesOutstanding)
    return {
      reason: `shares outstanding ${shares.toLocaleString("en-US")} above MAX_SHARES_OUTSTANDING ${settings.maxSharesOutstanding.toLocaleString("en-US")}`,
      note: null
    }
  const unchecked = [
    ...(capBounds && marketCap === null ? ["market cap"] : []),
    ...(settings.maxSharesOutstanding > 0 && shares === null ? ["shares outstanding"] : [])
  ]
  return {
    reason: null,
    note: unchecked.length === 0 ? null : `size filter not applied: ${unchecked.join(" and ")} unknown`
  }
}

/**
 * The source caps (SOURCE_MAX_ALERTS_PER_POLL / _PER_MINUTE) and MAX_ALERTS_PER_CYCLE (0 = no cap)
 * are applied by the outbox inside the cycle's transaction; this turns its verdict into per-item
 * outcomes and summary notes, so no alert vanishes silently.
 */
export const applyCycleCap = (
  outcomes: ReadonlyArray<ItemOutcome>,
  queued: EnqueueResult,
  maxPerCycle: number
): { readonly outcomes: ReadonlyArray<ItemOutcome>; readonly notes: ReadonlyArray<string> } => {
  const deferred = new Set(queued.deferred)
  const dropped = new Set(queued.dropped)
  const overSourceCap = new Map((queued.overSourceCap ?? []).map(({ itemId, reason }) => [itemId, reason]))
  const unrouted = new Set(queued.unrouted ?? [])
  const notes: Array<string> = []
  const bySourceCap = new Map<string, number>()
  for (const reason of overSourceCap.values()) bySourceCap.set(reason, (bySourceCap.get(reason) ?? 0) + 1)
  for (const [reason, count] of bySourceCap) notes.push(`${count} alert(s) ${reason} dropped`)
  if (unrouted.size > 0) notes.push(`${unrouted.size} alert(s) matched no route of ROUTES_FILE`)
  if (queued.released > 0) notes.push(`${queued.released} alert(s) deferred by earlier cycles released`)
  if (deferred.size > 0) notes.push(`${deferred.size} alert(s) over MAX_ALERTS_PER_CYCLE=${maxPerCycle} deferred`)
  if (dropped.size > 0) notes.push(`${dropped.size} alert(s) over MAX_ALERTS_PER_CYCLE=${maxPerCycle} dropped`)
  return {
    outcomes: outcomes.map((entry) =>
      entry.outcome !== "alerted"
        ? entry
        : unrouted.has(entry.itemId)
          ? { ...entry, outcome: "filtered", reason: "no route of ROUTES_FILE matches it" }
          : overSourceCap.has(entry.itemId)
            ? { ...entry, outcome: "filtered", reason: `${overSourceCap.get(entry.itemId)} (dropped)` }
            : dropped.has(entry.itemId)
              ? { ...entry, outcome: "filtered", reason: `over MAX_ALERTS_PER_CYCLE=${maxPerCycle} (dropped)` }
              : deferred.has(entry.itemId)
                ? { ...entry, reason: `deferred: over MAX_ALERTS_PER_CYCLE=${maxPerCycle}` }
                : entry
    ),
    notes
  }
}

/**
 * With QUOTES_ON_OUTAGE=hold, an item whose price couldn't be fetched waits: it is not marked seen,
 * so the next cycle evaluates it again (until it goes stale). With `send` it alerts, flagged
 * "price unavailable".
 */
export const holdOnMarket = (settings: FilterSettings, { market }: EnrichedItem): string | null =>
  settings.quotesOnOutage === "hold" && market._tag === "PriceUnavailable"
    ? `held until prices are back (QUOTES_ON_OUTAGE=hold): ${market.reason}`
    : null
