import type { CompanySize, InsiderTrade, WatchlistMark } from "../Kernel/Domain.js"

/** Wording shared by the Discord embed and the stdout card for the size and insider parts of an alert. */

const dollars = (value: number) =>
  `$${new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 }).format(value)}`

const count = (value: number) => Math.round(value).toLocaleString("en-US")

const price = (value: number) => `$${value.toFixed(value < 1 ? 4 : 2)}`

const verbs: Record<string, { readonly title: string; readonly verb: string }> = {
  P: { title: "Insider buy", verb: "bought" },
  S: { title: "Insider sale", verb: "sold" }
}

/**
 * "Insider buy: Jane Doe (CEO, Director) bought 10,000 shares at $2.50 ($25,000), now owns 110,000".
 * `escape` makes feed-derived text (the owner's name and title) safe for the target.
 */
export const insiderSentence = (trade: InsiderTrade, escape: (text: string) => string = (text) => text): string => {
  const { title, verb } = verbs[trade.code] ?? { title: `Insider ${trade.code}`, verb: "reported" }
  const who = `${escape(trade.owner)}${trade.relationship === "" ? "" : ` (${escape(trade.relationship)})`}`
  const at = trade.price === null ? "" : ` at ${price(trade.price)}`
  const value = trade.valueUsd === null ? "" : ` ($${count(trade.valueUsd)})`
  const after = trade.sharesOwnedAfter === null ? "" : `, now owns ${count(trade.sharesOwnedAfter)}`
  return `${title}: ${who} ${verb} ${count(trade.shares)} shares${at}${value}${after}`
}

/** Set when other insiders of the issuer bought within INSIDER_CLUSTER_DAYS. */
export const clusterNote = (trade: InsiderTrade): string | null =>
  trade.clusterInsiders === null ? null : `Cluster buy: ${trade.clusterInsiders} insiders bought within days`

/** Name and value of each size fact that is known, labelled for what it is (shares outstanding is not float). */
export const sizeFacts = (size: CompanySize): ReadonlyArray<{ readonly name: string; readonly value: string }> => [
  ...(size.marketCapUsd === null ? [] : [{ name: "Market cap", value: dollars(size.marketCapUsd) }]),
  ...(size.sharesOutstanding === null
    ? []
    : [
        {
          name: "Shares outstanding",
          value: `${dollars(size.sharesOutstanding).slice(1)}${size.sharesAsOf === null ? "" : ` (as of ${size.sharesAsOf})`}`
        }
      ]),
  ...(size.publicFloatUsd === null
    ? []
    : [
        {
          name: "Public float",
          value: `${dollars(size.publicFloatUsd)}${size.publicFloatAsOf === null ? "" : ` (as of ${size.publicFloatAsOf})`}`
        }
      ]),
  ...(size.volumePctOfShares === null
    ? []
    : [
        { name: "Volume / shares out", value: `${size.volumePctOfShares.toFixed(size.volumePctOfShares < 1 ? 2 : 1)}%` }
      ])
]

/**
 * "ACME · tags biotech, swing · note: earnings 12/04": why the alert carries the watchlist marker.
 * The note and tags are the operator's words, escaped all the same (`escape`) like feed text.
 */
export const watchlistLine = (mark: WatchlistMark, escape: (text: string) => string = (text) => text): string =>
  [
    escape(mark.ticker),
    ...(mark.tags.length === 0 ? [] : [`tags ${mark.tags.map(escape).join(", ")}`]),
    ...(mark.note === undefined || mark.note === "" ? [] : [`note: ${escape(mark.note)}`])
  ].join(" · ")
