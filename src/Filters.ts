import type { AppConfig } from "./Config.js"
import type { ClassifiedItem, EnrichedItem } from "./Domain.js"

type FilterSettings = AppConfig["filters"]

/** Cheap checks before any quote is fetched. Returns why the item can't alert, or null. */
export const rejectBeforeMarket = (
  settings: FilterSettings,
  { item, classification }: ClassifiedItem
): string | null => {
  if (item.tickers.length === 0) return "no ticker"
  if (classification.score < settings.minScore)
    return `score ${classification.score.toFixed(2)} below MIN_SCORE ${settings.minScore}`
  return null
}

/** Price filters; 0 disables each bound. */
export const rejectOnMarket = (settings: FilterSettings, { market }: EnrichedItem): string | null => {
  if (market._tag === "UnknownSymbol") return `unknown or delisted symbol ${market.symbol}`
  if (market._tag !== "Priced") return null
  const { price } = market.quote
  if (settings.priceFloor > 0 && price < settings.priceFloor)
    return `price ${price} below PRICE_FLOOR ${settings.priceFloor}`
  if (settings.priceCeiling > 0 && price > settings.priceCeiling)
    return `price ${price} above PRICE_CEILING ${settings.priceCeiling}`
  return null
}
