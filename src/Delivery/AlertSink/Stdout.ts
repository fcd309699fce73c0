import { Console, Effect, Layer } from "effect"
import { AlertSink } from "../AlertSink.js"
import type { Alert, ChartOutcome } from "../../Kernel/Domain.js"
import { exhibitLine, offeringLine, ownershipLine } from "../FilingFacts.js"

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
    ...(alert.ownership === undefined ? [] : [`   stake: ${ownershipLine(alert.ownership)}`]),
    ...(alert.offering === undefined ? [] : [`   offering: ${offeringLine(alert.offering)}`]),
    ...(alert.exhibit === undefined ? [] : [`   EX-99.1 ${exhibitLine(alert.exhibit)}`]),
    `   ${item.source} · published ${item.published ?? "unknown"} · ${item.link}`
  ].join("\n")
}

/** The follow-up line of an edited alert: what its message would now say. */
export const renderFollowUp = (alert: Alert, chart: ChartOutcome): string => {
  const { classification } = alert
  const llm = classification.llm._tag === "Analysed" ? classification.llm.analysis : null
  return [
    `   ↳ update ${alert.ticker.symbol}: score ${classification.score.toFixed(1)} | ${classification.categories.join(", ") || "uncategorised"}`,
    ...(llm === null ? [] : [`LLM ${llm.is_material ? "material" : "not material"}: ${llm.summary}`]),
    ...(alert.llmVeto === undefined ? [] : [`LLM_MODE=gate would not have sent this: ${alert.llmVeto}`]),
    ...(chart._tag === "Rendered" ? [`chart ${chart.chart.filename}`] : [])
  ].join(" | ")
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
        ).pipe(Effect.as({ messageId: null }), Effect.withSpan("AlertSink.stdout.send")),
      edit: (_messageId, entries) =>
        Effect.forEach(
          entries,
          ({ alert, chart }) =>
            Console.log(
              format === "json"
                ? JSON.stringify({
                    update: alert.item.id,
                    ...alert,
                    chart: chart._tag === "Rendered" ? chart.chart.filename : null
                  })
                : renderFollowUp(alert, chart)
            ),
          { discard: true }
        ).pipe(Effect.withSpan("AlertSink.stdout.edit"))
    })
  )
