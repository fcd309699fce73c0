import { Console, Effect, Layer } from "effect"
import { AlertSink } from "../AlertSink.js"
import type { Alert, ChartOutcome } from "../../Kernel/Domain.js"
import { filingLabel, isUpdated } from "../AlertLinks.js"
import { clusterNote, insiderSentence, sizeFacts, watchlistLine } from "../AlertFacts.js"
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

/** "also filed 8-K Items 8.01, 9.01 · <link>": what was edited into the alert later. */
const linkedLines = (alert: Alert): Array<string> =>
  (alert.linked ?? []).map((linked) => {
    switch (linked.relation) {
      case "filing":
        return `also filed ${filingLabel(linked)} · ${linked.link}`
      case "press-release":
        return `press release: ${linked.title} · ${linked.link}`
      case "update":
        return `updated: ${linked.formType === undefined ? linked.title : filingLabel(linked)} · ${linked.link}`
    }
  })

export const renderCard = (alert: Alert): string => {
  const { item, classification } = alert
  const warning = `${isUpdated(alert) ? "UPDATED  " : ""}${alert.watchlist === undefined ? "" : "WATCHLIST  "}${classification.negative ? "⚠ NEGATIVE  " : ""}`
  return [
    `━━ ${warning}${alert.ticker.symbol}${alert.ticker.exchange ? ` (${alert.ticker.exchange})` : ""} — ${item.title}`,
    `   ${formatPrice(alert)} | score ${classification.score.toFixed(1)} | sentiment ${classification.sentiment.toFixed(2)} | ${classification.categories.join(", ") || "uncategorised"}`,
    ...(alert.watchlist === undefined ? [] : [`   watchlist: ${watchlistLine(alert.watchlist)}`]),
    ...(alert.insider === undefined
      ? []
      : [
          `   ${insiderSentence(alert.insider)}`,
          ...(clusterNote(alert.insider) === null ? [] : [`   ${clusterNote(alert.insider)}`])
        ]),
    ...(alert.size === undefined || sizeFacts(alert.size).length === 0
      ? []
      : [
          `   ${sizeFacts(alert.size)
            .map(({ name, value }) => `${name} ${value}`)
            .join(" | ")}`
        ]),
    ...(alert.ownership === undefined ? [] : [`   stake: ${ownershipLine(alert.ownership)}`]),
    ...(alert.offering === undefined ? [] : [`   offering: ${offeringLine(alert.offering)}`]),
    ...(alert.exhibit === undefined ? [] : [`   EX-99.1 ${exhibitLine(alert.exhibit)}`]),
    `   ${item.source} · published ${item.published ?? "unknown"} · ${item.link}`,
    ...linkedLines(alert).map((line) => `   ${line}`)
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
    ...(chart._tag === "Rendered" ? [`chart ${chart.chart.filename}`] : []),
    ...linkedLines(alert)
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
