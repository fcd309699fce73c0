import { Effect, Option } from "effect"
import type { BarInterval, BarSeries, ClassifiedItem, EnrichedItem } from "./Domain.js"

/** Attaches price and volume to candidate items, and serves bars for charts. */
export class MarketData extends Effect.Service<MarketData>()("MarketData/MarketData", {
  succeed: {
    enrich: Effect.fn("MarketData.enrich")(function* (items: ReadonlyArray<ClassifiedItem>) {
      return items.map((item): EnrichedItem => ({
        ...item,
        market: { _tag: "PriceUnavailable", reason: "no market data provider" }
      }))
    }),
    bars: Effect.fn("MarketData.bars")(function* (_symbol: string, _interval: BarInterval) {
      return Option.none<BarSeries>()
    })
  }
}) {}
