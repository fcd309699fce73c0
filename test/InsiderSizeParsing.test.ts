import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { parseOwnershipXml } from "../src/Classification/OwnershipXml.js"
import { renderCard } from "../src/Delivery/AlertSink/Stdout.js"
import { isCatalystForm, isInsiderForm } from "../src/Feeds/SecEntry.js"
import type { Alert } from "../src/Kernel/Domain.js"
import { latestFact } from "../src/MarketData/CompanySizes.js"
import { rejectOnSize } from "../src/MarketData/Filters.js"
import { ownershipXml } from "../src/World/FakeSec.js"

const concept = (units: Record<string, unknown>) => ({ cik: 1, taxonomy: "dei", tag: "X", label: "X", units })

describe("XBRL company concept", () => {
  it("takes the fact with the latest end, then the latest filed", () => {
    const facts = [
      { val: 5, end: "2025-06-30", filed: "2025-08-01" },
      { val: 7, end: "2025-09-30", filed: "2025-11-01" },
      { val: 8, end: "2025-09-30", filed: "2025-11-15" },
      { val: 6, end: "2025-03-31", filed: "2025-12-01" }
    ]
    expect(latestFact(concept({ shares: facts }), "shares")).toEqual(Either.right({ value: 8, asOf: "2025-09-30" }))
  })

  it("an unknown unit or a body that isn't a concept gives no value, saying why", () => {
    expect(latestFact(concept({ EUR: [{ val: 1, end: "2025-01-01", filed: "2025-02-01" }] }), "USD")).toEqual(
      Either.left("no facts in USD (units: EUR)")
    )
    expect(Either.isLeft(latestFact({ message: "oops" }, "shares"))).toBe(true)
    expect(latestFact(concept({ shares: [{ val: "many", end: "x" }] }), "shares")).toEqual(
      Either.left("no usable fact in shares")
    )
  })
})

describe("ownership XML", () => {
  it("reads owner, relationship, code, shares, price and holding; booleans as 1/0 or true/false", () => {
    const xml = ownershipXml({
      issuerCik: 42,
      issuerSymbol: "ABCD",
      owner: { cik: 7, name: "Roe Jane", isOfficer: true, officerTitle: "Chief Executive Officer" },
      transactions: [{ date: "2025-12-10", code: "P", shares: 1_500, price: 2.25, sharesOwnedAfter: 11_500 }]
    }).replace("<isOfficer>1</isOfficer>", "<isOfficer>true</isOfficer>")
    const document = Either.getOrThrow(parseOwnershipXml(xml))
    expect(document.issuerCik).toBe("0000000042")
    expect(document.owners[0]).toMatchObject({ name: "Roe Jane", isOfficer: true, isDirector: false })
    expect(document.transactions).toEqual([
      { date: "2025-12-10", code: "P", shares: 1_500, price: 2.25, acquiredDisposed: "A", sharesOwnedAfter: 11_500 }
    ])
  })

  it("a malformed or foreign document is refused with a reason", () => {
    expect(Either.isLeft(parseOwnershipXml("<ownershipDocument><issuer>"))).toBe(true)
    expect(parseOwnershipXml("<html><body>hi</body></html>")).toEqual(Either.left("no ownershipDocument root"))
  })
})

describe("forms and filters", () => {
  it("Form 4 is matched exactly, never by prefix", () => {
    expect(isInsiderForm("4")).toBe(true)
    expect(isInsiderForm("4/A")).toBe(true)
    expect(isInsiderForm("424B5")).toBe(false)
    expect(isInsiderForm("40-F")).toBe(false)
    expect(isCatalystForm("4")).toBe(true)
    expect(isCatalystForm("40-F")).toBe(false)
  })

  const settings = { minMarketCapUsd: 0, maxMarketCapUsd: 0, maxSharesOutstanding: 0 }
  const size = {
    sharesOutstanding: 300_000_000,
    sharesAsOf: "2025-09-30",
    publicFloatUsd: null,
    publicFloatAsOf: null,
    marketCapUsd: 600_000_000,
    volumePctOfShares: 1.5
  }
  const filters = (overrides: Partial<typeof settings>) =>
    ({ ...settings, ...overrides }) as unknown as Parameters<typeof rejectOnSize>[0]

  it("size filters name the bound and the value; unknown size passes with a note", () => {
    expect(rejectOnSize(filters({ maxMarketCapUsd: 500_000_000 }), size).reason).toBe(
      "market cap $600,000,000 above MAX_MARKET_CAP_USD $500,000,000"
    )
    expect(rejectOnSize(filters({ maxSharesOutstanding: 50_000_000 }), size).reason).toBe(
      "shares outstanding 300,000,000 above MAX_SHARES_OUTSTANDING 50,000,000"
    )
    expect(rejectOnSize(filters({ minMarketCapUsd: 1 }), undefined)).toEqual({
      reason: null,
      note: "size filter not applied: market cap unknown"
    })
    expect(rejectOnSize(filters({}), undefined)).toEqual({ reason: null, note: null })
  })
})

describe("stdout card", () => {
  it("prints the insider line and size facts, labelled for what they are", () => {
    const alert = {
      item: {
        id: "x",
        source: "SEC EDGAR",
        kind: "sec-atom",
        title: "4: ACME CORP — ROE JANE",
        summary: "",
        link: "https://www.sec.gov/x",
        published: null,
        fetchedAt: "2025-12-10T00:00:00Z",
        tickers: [{ symbol: "ACME", exchange: "NASDAQ" }]
      },
      ticker: { symbol: "ACME", exchange: "NASDAQ" },
      classification: {
        categories: [],
        score: 0,
        sentiment: 0,
        negative: false,
        matched: [],
        llm: { _tag: "Skipped", reason: "" }
      },
      market: { _tag: "PriceUnavailable", reason: "test" },
      decidedAt: "2025-12-10T00:00:00Z",
      size: {
        sharesOutstanding: 300_000_000,
        sharesAsOf: "2025-09-30",
        publicFloatUsd: null,
        publicFloatAsOf: null,
        marketCapUsd: null,
        volumePctOfShares: null
      },
      insider: {
        owner: "ROE JANE",
        relationship: "CEO",
        code: "P",
        shares: 10_000,
        price: 2.5,
        valueUsd: 25_000,
        sharesOwnedAfter: 110_000,
        clusterInsiders: 3
      }
    } satisfies Alert
    const card = renderCard(alert)
    expect(card).toContain("Insider buy: ROE JANE (CEO) bought 10,000 shares at $2.50 ($25,000), now owns 110,000")
    expect(card).toContain("Cluster buy: 3 insiders")
    expect(card).toContain("Shares outstanding 300M (as of 2025-09-30)")
    expect(card).not.toMatch(/\bfloat\b/i)
  })
})
