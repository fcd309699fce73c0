import type { Alert, NormalizedItem, SecFiling } from "../../src/Kernel/Domain.js"

/** An alert as the cycle would enqueue it; `n` makes id, ticker and headline unique. */
export const alertFixture = (n: number, overrides: Partial<Alert> = {}): Alert => ({
  item: {
    id: `item-${n}`,
    source: "GlobeNewswire",
    kind: "rss",
    title: `Headline ${n}`,
    summary: `Summary of item ${n}.`,
    link: `https://example.com/news/${n}`,
    published: "2026-11-28T14:30:00.000Z",
    fetchedAt: "2026-11-28T14:30:05.000Z",
    tickers: [{ symbol: `T${n}`, exchange: "NASDAQ" }]
  },
  ticker: { symbol: `T${n}`, exchange: "NASDAQ" },
  classification: {
    categories: ["fda"],
    score: 3.5,
    sentiment: 0.6,
    negative: false,
    matched: ["fda approval"],
    llm: { _tag: "Skipped", reason: "off" }
  },
  market: {
    _tag: "Priced",
    quote: { symbol: `T${n}`, price: 2.5, previousClose: 2, changePct: 25, volume: 1_200_000, relativeVolume: 4.2 }
  },
  decidedAt: "2026-11-28T14:30:12.000Z",
  ...overrides
})

/** A wire item for ACME, or an SEC filing when `sec` is given. */
export const newsItem = (id: string, title: string, sec?: SecFiling): NormalizedItem => ({
  id,
  source: sec ? "SEC" : "GlobeNewswire",
  kind: sec ? "sec-atom" : "rss",
  title,
  summary: "",
  link: `https://example.com/${id}`,
  published: null,
  fetchedAt: "2026-11-28T12:00:00.000Z",
  tickers: [{ symbol: "ACME", exchange: "NASDAQ" }],
  ...(sec ? { sec } : {})
})
