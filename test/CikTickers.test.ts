import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import { tickerRows } from "../src/Feeds/CikTickers.js"
import { companyTickersExchangeJson, companyTickersJson } from "../src/World/FakeSec.js"

describe("SEC ticker files", () => {
  it("company_tickers_exchange.json gives each listing's exchange, spelled as the wires' are; none stays null", () => {
    const body = companyTickersExchangeJson([
      { cik: 320193, ticker: "AAPL", title: "Apple Inc.", exchange: "Nasdaq" },
      { cik: 1800001, ticker: "TINYF", title: "Tiny Cap Corp", exchange: "OTC" },
      { cik: 1800002, ticker: "BIG", title: "Big Co", exchange: "NYSE" },
      { cik: 1800003, ticker: "NOEX", title: "No Exchange Inc" }
    ])
    expect(Option.getOrThrow(tickerRows(JSON.parse(body)))).toEqual([
      { cik: 320193, ticker: "AAPL", title: "Apple Inc.", exchange: "NASDAQ" },
      { cik: 1800001, ticker: "TINYF", title: "Tiny Cap Corp", exchange: "OTC" },
      { cik: 1800002, ticker: "BIG", title: "Big Co", exchange: "NYSE" },
      { cik: 1800003, ticker: "NOEX", title: "No Exchange Inc", exchange: null }
    ])
  })

  it("reads the columns by their names, and skips rows without a numeric CIK or a ticker", () => {
    const json = {
      fields: ["ticker", "exchange", "cik", "name"],
      data: [
        ["AAPL", "Nasdaq", 320193, "Apple Inc."],
        ["BAD", "Nasdaq", "not a number", "Bad"],
        [null, "NYSE", 1, "No Ticker"]
      ]
    }
    expect(Option.getOrThrow(tickerRows(json))).toEqual([
      { cik: 320193, ticker: "AAPL", title: "Apple Inc.", exchange: "NASDAQ" }
    ])
  })

  it("the older company_tickers.json still works, without exchanges; anything else is None", () => {
    const body = companyTickersJson([{ cik: 320193, ticker: "AAPL", title: "Apple Inc." }])
    expect(Option.getOrThrow(tickerRows(JSON.parse(body)))).toEqual([
      { cik: 320193, ticker: "AAPL", title: "Apple Inc.", exchange: null }
    ])
    expect(Option.isNone(tickerRows({ "0": { cik_str: "x", ticker: 7 } }))).toBe(true)
    expect(Option.isNone(tickerRows("nope"))).toBe(true)
  })
})
