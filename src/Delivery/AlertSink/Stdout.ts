import { Console, Effect, Layer } from "effect"
import { AlertSink } from "../AlertSink.js"
import type { Alert } from "../../Kernel/Domain.js"

const formatPrice = (alert: Alert): string => {
  switch (alert.market._tag) {
    case "Priced": {
      const { price, changePct, volume } = alert.market.quote
      const change = changePct === null ? "" : ` (${changePct >= 0 ? "+" : ""}${changePct.toFixed(1)}%)`
      const vol = volume === null ? "" : `  vol ${volume.toLocaleString("en-US")}`
      return `$${price.toFixed(price < 1 ? 4 : 2)}${change}${vol}`
    }
    case "UnknownSymbol":
      return "unknown symbol"
    case "PriceUnavailable":
      return "price unavailable"
  }
}

export const renderCard = (alert: Alert): string => {
  const { item, classification } = alert
  const warning = classification.negative ? "⚠ NEGATIVE  " : ""
  return [
    `━━ ${warning}${alert.ticker.symbol}${alert.ticker.exchange ? ` (${alert.ticker.exchange})` : ""} — ${item.title}`,
    `   ${formatPrice(alert)} | score ${classification.score.toFixed(1)} | sentiment ${classification.sentiment.toFixed(2)} | ${classification.categories.join(", ") || "uncategorised"}`,
    `   ${item.source} · published ${item.published ?? "unknown"} · ${item.link}`
  ].join("\n")
}

/** The default sink: readable cards, or JSON lines with ALERTS_STDOUT_FORMAT=json. */
export const layer = (format: "card" | "json") =>
  Layer.succeed(
    AlertSink,
    AlertSink.of({
      name: "stdout",
      send: (alert, chart, beforeSend = Effect.void) =>
        Effect.zipRight(
          beforeSend,
          Console.log(
            format === "json"
              ? JSON.stringify({ ...alert, chart: chart._tag === "Rendered" ? chart.chart.filename : null })
              : renderCard(alert)
          )
        ).pipe(Effect.as({ messageId: null }), Effect.withSpan("AlertSink.stdout.send"))
    })
  )
