import type { Alert, Classification, ClassifiedItem, NormalizedItem, SecFiling } from "../../src/Kernel/Domain.js"

/** A wire item with no ticker; tests override what they care about. */
export const itemFixture = (id: string, overrides: Partial<NormalizedItem> = {}): NormalizedItem => ({
  id,
  source: "GlobeNewswire",
  kind: "rss",
  title: `Headline ${id}`,
  summary: "",
  link: `https://example.com/${id}`,
  published: null,
  fetchedAt: "2026-11-28T12:00:00.000Z",
  tickers: [],
  ...overrides
})

/** A keyword classification that passes MIN_SCORE, LLM skipped. */
export const classificationFixture = (overrides: Partial<Classification> = {}): Classification => ({
  categories: [],
  score: 3,
  sentiment: 0,
  negative: false,
  matched: [],
  llm: { _tag: "Skipped", reason: "test" },
  ...overrides
})

export const classifiedFixture = (
  item: NormalizedItem,
  classification: Partial<Classification> = {}
): ClassifiedItem => ({ item, classification: classificationFixture(classification) })

/** An alert for `item`, on its first ticker (ACME when it has none), unpriced, decided when it was fetched. */
export const makeAlert = (item: NormalizedItem, overrides: Partial<Alert> = {}): Alert => ({
  item,
  ticker: item.tickers[0] ?? { symbol: "ACME", exchange: null },
  classification: classificationFixture(),
  market: { _tag: "PriceUnavailable", reason: "test" },
  decidedAt: item.fetchedAt,
  ...overrides
})

/** An alert as the cycle would enqueue it; `n` makes id, ticker and headline unique. */
export const alertFixture = (n: number, overrides: Partial<Alert> = {}): Alert =>
  makeAlert(
    itemFixture(`item-${n}`, {
      title: `Headline ${n}`,
      summary: `Summary of item ${n}.`,
      link: `https://example.com/news/${n}`,
      published: "2026-11-28T14:30:00.000Z",
      fetchedAt: "2026-11-28T14:30:05.000Z",
      tickers: [{ symbol: `T${n}`, exchange: "NASDAQ" }]
    }),
    {
      classification: classificationFixture({
        categories: ["fda"],
        score: 3.5,
        sentiment: 0.6,
        matched: ["fda approval"],
        llm: { _tag: "Skipped", reason: "off" }
      }),
      market: {
        _tag: "Priced",
        quote: { symbol: `T${n}`, price: 2.5, previousClose: 2, changePct: 25, volume: 1_200_000, relativeVolume: 4.2 }
      },
      decidedAt: "2026-11-28T14:30:12.000Z",
      ...overrides
    }
  )

/** A wire item for ACME, or an SEC filing when `sec` is given. */
export const newsItem = (id: string, title: string, sec?: SecFiling): NormalizedItem =>
  itemFixture(id, {
    title,
    tickers: [{ symbol: "ACME", exchange: "NASDAQ" }],
    ...(sec ? { source: "SEC", kind: "sec-atom", sec } : {})
  })
