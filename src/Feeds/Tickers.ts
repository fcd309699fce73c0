import type { Ticker } from "../Kernel/Domain.js"

/**
 * Ticker extraction from wire items: GlobeNewswire stock category tags and `(EXCHANGE: SYMBOL)`
 * patterns in the text (docs/ARCHITECTURE.md, "Press-release wires"). Exchanges get one canonical spelling each, so
 * filtering and ordering can rely on them.
 */

export const exchangeAliases: ReadonlyArray<readonly [canonical: string, aliases: ReadonlyArray<string>]> = [
  [
    "NASDAQ",
    ["nasdaq", "nasdaq gs", "nasdaq gm", "nasdaq cm", "nasdaqgs", "nasdaqgm", "nasdaqcm", "nasdaq capital market"]
  ],
  ["NYSE American", ["nyse american", "nyse mkt", "nysemkt", "nyse amex", "amex"]],
  ["NYSE Arca", ["nyse arca", "nysearca"]],
  ["NYSE", ["nyse", "new york stock exchange"]],
  ["Cboe", ["cboe", "bats", "cboe bzx"]],
  ["OTCQX", ["otcqx"]],
  ["OTCQB", ["otcqb"]],
  ["OTC Pink", ["otc pink", "otcpink", "pink", "pink sheets"]],
  ["OTC", ["otc markets", "otc", "otcbb", "otc bb", "otcmkts"]],
  ["TSXV", ["tsx-v", "tsxv", "tsx venture", "tsx venture exchange", "tsx-venture"]],
  ["TSX", ["tsx", "toronto stock exchange"]],
  ["CSE", ["cse", "canadian securities exchange"]],
  ["NEO", ["neo", "cboe canada"]],
  ["FRA", ["fra", "frankfurt", "fse", "xetra"]],
  ["LSE", ["lse", "aim"]],
  ["ASX", ["asx"]]
]

const canonicalExchange = new Map(
  exchangeAliases.flatMap(([canonical, aliases]) => aliases.map((alias) => [alias, canonical] as const))
)

const usExchanges = new Set(["NASDAQ", "NYSE", "NYSE American", "NYSE Arca", "Cboe"])

export const isOtc = (exchange: string | null): boolean => exchange !== null && exchange.startsWith("OTC")

export const normalizeExchange = (raw: string): string | null =>
  canonicalExchange.get(raw.trim().toLowerCase().replace(/\s+/g, " ")) ?? null

/** BRK.B, BRK/B and BRK-B are one share class; SEC and quote providers spell it BRK-B. */
export const normalizeSymbol = (raw: string): string | null => {
  const symbol = raw.trim().toUpperCase().replace(/[./]/g, "-").replace(/-+$/, "")
  return /^[A-Z0-9]{1,6}(?:-[A-Z0-9]{1,3})?$/.test(symbol) && /[A-Z]/.test(symbol) ? symbol : null
}

const aliasPattern = Array.from(canonicalExchange.keys())
  .sort((a, b) => b.length - a.length)
  .map((alias) => alias.replace(/[-\s]/g, (c) => (c === "-" ? "-" : "\\s+")))
  .join("|")

/** `EXCHANGE: SYMBOL`, as in `(NASDAQ: ABCD)`, `(Nasdaq:CPSS)` or `(TSXV: PGZ; OTCQB: PGZFF)`. */
const exchangePattern = new RegExp(`(?<![\\w-])(${aliasPattern})\\s*:\\s*([A-Za-z0-9][A-Za-z0-9./-]{0,9})`, "gi")

/** `$TSLA`, but not `$15 million`. */
const dollarPattern = /(?<![\w$])\$([A-Z]{1,5}(?:\.[A-Z])?)(?![\w])/g

export const tickersInText = (text: string, options: { readonly dollarTickers: boolean }): ReadonlyArray<Ticker> => {
  const found: Array<Ticker> = []
  for (const match of text.matchAll(exchangePattern)) {
    const [, rawExchange = "", rawSymbol = ""] = match
    const exchange = normalizeExchange(rawExchange)
    // Symbols are written in capitals; "(Nasdaq: the company)" is prose, not a ticker.
    if (rawSymbol !== rawSymbol.toUpperCase()) continue
    const symbol = normalizeSymbol(rawSymbol)
    if (exchange !== null && symbol !== null) found.push({ symbol, exchange })
  }
  if (options.dollarTickers) {
    for (const match of text.matchAll(dollarPattern)) {
      const symbol = normalizeSymbol(match[1] ?? "")
      if (symbol !== null) found.push({ symbol, exchange: null })
    }
  }
  return found
}

const stockCategory = /globenewswire\.com\/rss\/stock/i

/** GlobeNewswire `<category domain=".../rss/stock">TSX-V:PGZ</category>`: split on the first colon. */
export const tickersInCategories = (
  categories: ReadonlyArray<{ readonly term: string; readonly scheme: string | null }>
): ReadonlyArray<Ticker> =>
  categories.flatMap((category) => {
    if (category.scheme === null || !stockCategory.test(category.scheme)) return []
    const colon = category.term.indexOf(":")
    if (colon < 0) return []
    const symbol = normalizeSymbol(category.term.slice(colon + 1))
    if (symbol === null) return []
    return [
      { symbol, exchange: normalizeExchange(category.term.slice(0, colon)) ?? category.term.slice(0, colon).trim() }
    ]
  })

const rank = (ticker: Ticker): number =>
  ticker.exchange !== null && usExchanges.has(ticker.exchange)
    ? 0
    : ticker.exchange === null
      ? 1
      : isOtc(ticker.exchange)
        ? 2
        : 3

/**
 * One entry per symbol, US listings first (the cycle alerts on the first ticker), then unlabelled
 * ($TSLA, SEC map), then OTC, then foreign venues. Without ALLOW_OTC_TICKERS, OTC listings are
 * dropped when there is another; an OTC-only item keeps them, so the filter can say why it stops.
 */
export const preferTickers = (
  tickers: ReadonlyArray<Ticker>,
  options: { readonly allowOtc: boolean }
): ReadonlyArray<Ticker> => {
  const otcOnly = tickers.every((ticker) => isOtc(ticker.exchange))
  const bySymbol = new Map<string, Ticker>()
  for (const ticker of tickers) {
    if (!options.allowOtc && !otcOnly && isOtc(ticker.exchange)) continue
    const known = bySymbol.get(ticker.symbol)
    if (known === undefined || rank(ticker) < rank(known)) bySymbol.set(ticker.symbol, ticker)
  }
  return Array.from(bySymbol.values()).sort((a, b) => rank(a) - rank(b))
}
