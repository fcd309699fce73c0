import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { readFileSync } from "node:fs"
import type { NormalizedItem, Ticker } from "../src/Kernel/Domain.js"
import { decodeBody } from "../src/Feeds/Charset.js"
import { partitionFresh } from "../src/Feeds/Freshness.js"
import { normalizeFeed, type NormalizeContext } from "../src/Feeds/Normalize.js"
import { type ParseKind, parseDocument } from "../src/Feeds/Parser.js"
import { isCatalystForm } from "../src/Feeds/SecEntry.js"
import { secCurrentFeedUrl } from "../src/Feeds/Sources.js"
import * as FakeSec from "../src/World/FakeSec.js"
import { exchangeAliases, preferTickers, tickersInText } from "../src/Feeds/Tickers.js"
import { itemFixture } from "./support/Alerts.js"

const fixture = (name: string) => readFileSync(new URL(`./fixtures/feeds/${name}`, import.meta.url))

const context = (overrides: Partial<NormalizeContext> = {}): NormalizeContext => ({
  source: { name: "wire", kind: "rss", url: "https://feeds.example.com/feed.xml" },
  fetchedAt: "2025-12-12T21:10:00.000Z",
  allowOtc: false,
  dollarTickers: false,
  tickersForCik: () => [],
  ...overrides
})

const itemsOf = (name: string, kind: ParseKind = "auto", overrides: Partial<NormalizeContext> = {}) => {
  const parsed = parseDocument(decodeBody(fixture(name)), kind)
  if (Either.isLeft(parsed)) throw new Error(`${name}: ${parsed.left.message}`)
  return normalizeFeed(parsed.right, context(overrides))
}

describe("feed corpus", () => {
  it("reads GlobeNewswire stock tags (several per item, old http:// domains) and strips tracking parameters", () => {
    const [pegasus, acme, bluegrass] = itemsOf("globenewswire.rss", "auto", { allowOtc: true })
    expect(pegasus?.tickers).toEqual([
      { symbol: "PGZFF", exchange: "OTC" },
      { symbol: "PGZ", exchange: "TSXV" },
      { symbol: "2EU", exchange: "FRA" }
    ])
    expect(pegasus?.link).toBe(
      "https://www.globenewswire.com/news-release/2025/12/12/3001234/0/en/Pegasus-Resources-Announces-Drill-Results.html"
    )
    expect(pegasus?.published).toBe("2025-12-12T14:05:00.000Z")
    expect(acme?.tickers[0]).toEqual({ symbol: "ACMT", exchange: "NASDAQ" })
    expect(acme?.tickers).toContainEqual({ symbol: "A1B", exchange: "FRA" })
    expect(bluegrass?.tickers).toEqual([{ symbol: "BGE", exchange: "NYSE American" }])
  })

  it("recovers PR Newswire feeds that use dc:/media:/prn: without declaring them", () => {
    const items = itemsOf("prnewswire-undeclared-prefixes.rss")
    expect(items.map((item) => item.tickers[0]?.symbol)).toEqual(["CYRX", "HII"])
    expect(items[0]?.published).toBe("2025-12-12T13:00:00.000Z")
  })

  it("recovers every item of a malformed document", () => {
    const items = itemsOf("malformed.rss")
    expect(items.map((item) => item.title)).toEqual([
      "Zeta Labs Announces Merger Agreement with Omega Corp & Partners",
      "Second Story Still Recoverable"
    ])
    expect(items[0]?.tickers).toEqual([{ symbol: "ZETA", exchange: "NASDAQ" }])
  })

  it("turns HTML, entities and CDATA into plain text and drops scripts", () => {
    const [smith, cafe] = itemsOf("entities-cdata.rss")
    expect(smith?.title).toBe("Smith & Wesson’s Q2 Beats — Shares Up")
    expect(smith?.summary).toBe(
      "SPRINGFIELD, Mass. — Smith & Wesson Brands, Inc. (NASDAQ: SWBI) reported record results."
    )
    expect(cafe?.title).toBe("Café Holdings Signs Deal")
  })

  it("decodes BOMs, windows-1252 and ISO-8859-1 from the XML declaration, and a header charset wins", () => {
    expect(itemsOf("bom-utf8.rss")[0]?.title).toBe("Ærø Shipping Signs Charter — Nasdaq Listing")
    expect(itemsOf("windows-1252.rss")[0]?.title).toBe("Müller’s “Bold” Move — Société Générale Deal")
    expect(
      itemsOf("sec-getcurrent.atom", "sec-atom", {
        source: { name: "SEC", kind: "sec-atom", url: "https://www.sec.gov/x" }
      }).map((i) => i.sec?.companyName)
    ).toContain("SOCIÉTÉ MINIÈRE DU NORD S.A.")
    const latin1 = Buffer.from("<?xml version='1.0' encoding='utf-8'?><x>caf\xe9</x>", "latin1")
    expect(decodeBody(latin1, "text/xml; charset=ISO-8859-1")).toContain("café")
  })

  it.each([
    ["rss091.xml", "Legacy Corp Declares Special Dividend"],
    ["rss092.xml", "Orbit Mining Expands Resource Estimate"],
    ["rdf-rss10.xml", "Nova Biotech Completes Phase 2 Enrollment"],
    ["atom03.xml", "Quasar Semiconductor Raises Guidance"],
    ["atom10-relative-links.xml", "Helix Robotics Wins Contract"]
  ])("parses %s", (name, title) => {
    expect(itemsOf(name)[0]?.title).toBe(title)
  })

  it("keeps missing dates as null, resolves relative links against the feed's link", () => {
    const [uplisting, garbage] = itemsOf("missing-dates-relative-links.rss")
    expect(uplisting?.published).toBeNull()
    expect(uplisting?.link).toBe("https://www.accesswire.com/newsroom/en/tiny-cap-uplisting")
    expect(garbage?.published).toBeNull()
    const atom = itemsOf("atom10-relative-links.xml")
    expect(atom.map((item) => item.link)).toEqual([
      "https://atom.example.com/news/helix-contract",
      "https://atom.example.com/news/undated"
    ])
    expect(atom[1]?.published).toBeNull()
  })

  it("refuses entity declarations (billion laughs) without expanding them", () => {
    const before = process.memoryUsage().heapUsed
    const result = parseDocument(decodeBody(fixture("billion-laughs.xml")))
    expect(Either.isLeft(result) && result.left.reason).toMatch(/declares XML entities/)
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(50_000_000)
  })

  it("says an HTML page is not a feed", () => {
    const result = parseDocument(decodeBody(fixture("not-a-feed.html")))
    expect(Either.isLeft(result) && result.left.message).toMatch(/^not a feed/)
    expect(Either.isLeft(parseDocument(decodeBody(fixture("globenewswire.rss")), "atom"))).toBe(true)
  })
})

describe("SEC getcurrent entries", () => {
  const tickers: Record<string, ReadonlyArray<Ticker>> = {
    "0000789019": [{ symbol: "MSFT", exchange: null }],
    "0001800001": [{ symbol: "ACMT", exchange: null }],
    "0001900002": [{ symbol: "BFPX", exchange: null }],
    "0001067983": [
      { symbol: "BRK-B", exchange: null },
      { symbol: "BRK-A", exchange: null }
    ]
  }
  const items = itemsOf("sec-getcurrent.atom", "sec-atom", {
    source: { name: "SEC 8-K", kind: "sec-atom", url: "https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent" },
    tickersForCik: (cik) => tickers[cik] ?? []
  })

  it("parses form, company, CIK, accession, filed date and Item numbers", () => {
    const msft = items.find((item) => item.sec?.cik === "0000789019")
    expect(msft).toMatchObject({
      id: "sec:0001193125-25-300001",
      kind: "sec-atom",
      published: "2025-12-12T21:04:01.000Z",
      tickers: [{ symbol: "MSFT", exchange: null }],
      sec: {
        formType: "8-K",
        cik: "0000789019",
        accession: "0001193125-25-300001",
        items: ["8.01", "9.01"],
        companyName: "MICROSOFT CORP"
      }
    })
    expect(items.find((item) => item.sec?.companyName === "AT&T INC.")?.sec?.items).toEqual(["1.01", "2.03"])
  })

  it("collapses the per-party lines of one filing into one item about the subject company", () => {
    const thirteenD = items.filter((item) => item.sec?.accession === "0001171843-25-007909")
    expect(thirteenD).toHaveLength(1)
    expect(thirteenD[0]?.sec?.companyName).toBe("ACME THERAPEUTICS, INC.")
    expect(thirteenD[0]?.tickers).toEqual([{ symbol: "ACMT", exchange: null }])
    expect(items).toHaveLength(5)
  })

  it("keys a filing by its accession number, whichever SEC feed carried it", () => {
    const viaOtherFeed = itemsOf("sec-getcurrent.atom", "sec-atom", {
      source: { name: "SEC all forms", kind: "sec-atom", url: "https://www.sec.gov/cgi-bin/browse-edgar" }
    })
    expect(viaOtherFeed.map((item) => item.id)).toEqual(items.map((item) => item.id))
    expect(items.find((item) => item.sec?.accession === "0001171843-25-007909")?.id).toBe("sec:0001171843-25-007909")
  })

  it("keeps every share class of a CIK, in the map's order", () => {
    expect(items.find((item) => item.sec?.cik === "0001067983")?.tickers.map((t) => t.symbol)).toEqual([
      "BRK-B",
      "BRK-A"
    ])
  })
})

describe("freshness", () => {
  const at = (published: string | null): NormalizedItem =>
    itemFixture(published ?? "undated", {
      source: "wire",
      title: "t",
      link: "",
      published,
      fetchedAt: "2025-12-12T12:00:00.000Z"
    })
  it("drops items older than the limit, keeps undated ones, and 0 turns the check off", () => {
    const now = Date.parse("2025-12-12T12:00:00.000Z")
    const items = [at("2025-12-12T11:30:00.000Z"), at("2025-12-12T08:00:00.000Z"), at(null)]
    const split = partitionFresh(items, { now, maxAgeMinutes: 60 })
    expect(split.fresh.map((item) => item.id)).toEqual(["2025-12-12T11:30:00.000Z", "undated"])
    expect(split.stale.map((item) => item.id)).toEqual(["2025-12-12T08:00:00.000Z"])
    expect(partitionFresh(items, { now, maxAgeMinutes: 0 }).stale).toHaveLength(0)
  })
})

const t = (symbol: string, exchange: string | null): Ticker => ({ symbol, exchange })

/** Real-style lines from wire releases, and the tickers the bot must alert on, best first. */
const tickerTable: ReadonlyArray<readonly [string, ReadonlyArray<Ticker>, { otc?: boolean; dollar?: boolean }?]> = [
  ["Ebix, Inc. (NASDAQ: EBIX) announced results", [t("EBIX", "NASDAQ")]],
  ["Consumer Portfolio Services, Inc. (Nasdaq:CPSS) today", [t("CPSS", "NASDAQ")]],
  ["Huntington Ingalls Industries (NYSE:HII) was awarded", [t("HII", "NYSE")]],
  ["Bluegrass Energy Corp. (NYSE American: XYZ) priced", [t("XYZ", "NYSE American")]],
  // OTC-only: the ticker stays, so the filter can name it (MarketFilters.test.ts).
  ["Tiny Cap Inc. (OTCQB: ABCD) announces", [t("ABCD", "OTCQB")], { otc: false }],
  ["Tiny Cap Inc. (OTCQB: ABCD) announces", [t("ABCD", "OTCQB")], { otc: true }],
  ["Pegasus (TSXV: PGZ; OTCQB: PGZFF; FRA: 2EU) reports", [t("PGZ", "TSXV"), t("2EU", "FRA")]],
  [
    "Pegasus (TSXV: PGZ; OTCQB: PGZFF; FRA: 2EU) reports",
    [t("PGZFF", "OTCQB"), t("PGZ", "TSXV"), t("2EU", "FRA")],
    { otc: true }
  ],
  ["Penny Corp (OTC Pink: ABCD) signs", [t("ABCD", "OTC Pink")], { otc: true }],
  ["Big Co (OTCQX: BIGCF) and (TSX: BIG)", [t("BIG", "TSX")]],
  ["Big Co (OTCQX: BIGCF) and (TSX: BIG)", [t("BIGCF", "OTCQX"), t("BIG", "TSX")], { otc: true }],
  ["Grey Market Co (OTC Markets: GRMK) files", [t("GRMK", "OTC")], { otc: true }],
  ["Northern Tech (Cboe Canada: NTEC) lists", [t("NTEC", "NEO")]],
  ["Outback Lithium (ASX: OBL) drills", [t("OBL", "ASX")]],
  ["Berkshire Hathaway Inc. (NYSE: BRK.B) reported", [t("BRK-B", "NYSE")]],
  ["Berkshire Hathaway Inc. (NYSE: BRK-B) reported", [t("BRK-B", "NYSE")]],
  ["Berkshire Hathaway Inc. (NYSE: BRK/A) reported", [t("BRK-A", "NYSE")]],
  ["Acme Corp. (NASDAQ: ACME) (TSX: ACM) cross-listed", [t("ACME", "NASDAQ"), t("ACM", "TSX")]],
  ["Maple Leaf Mining (TSX: MLM) (NYSE: MLM) dual-listed", [t("MLM", "NYSE")]],
  ["Canadian Co (CSE: CANN) (OTCQB: CANNF)", [t("CANN", "CSE")]],
  ["Nova Bio (Nasdaq GS: NOVB) completes", [t("NOVB", "NASDAQ")]],
  ["Nova Bio (NasdaqCM: NOVB) completes", [t("NOVB", "NASDAQ")]],
  ["Arca Fund (NYSE Arca: ARKX) launches", [t("ARKX", "NYSE Arca")]],
  ["Old Listing (NYSE MKT: OLD) updates", [t("OLD", "NYSE American")]],
  ["Old Listing (AMEX: OLD) updates", [t("OLD", "NYSE American")]],
  ["Venture Co (TSX-V: VEN) drills", [t("VEN", "TSXV")]],
  ["Venture Co (TSX Venture: VEN) drills", [t("VEN", "TSXV")]],
  ["Frankfurt only (Frankfurt: 2EU)", [t("2EU", "FRA")]],
  ["Sentence end NASDAQ: ABCD.", [t("ABCD", "NASDAQ")]],
  ["Listed on the Nasdaq: the company said", []],
  ["Ratio 3:1 stock split (no ticker)", []],
  ["Priced $15 million offering of common stock", []],
  ["Tesla $TSLA rallies", [], { dollar: false }],
  ["Tesla $TSLA rallies after $15 million deal", [t("TSLA", null)], { dollar: true }],
  ["Warrants (NASDAQ: ABCD, ABCDW) begin trading", [t("ABCD", "NASDAQ")]],
  ["Two exchanges (NASDAQ: ABCD) (NYSE: WXYZ)", [t("ABCD", "NASDAQ"), t("WXYZ", "NYSE")]],
  ["Cboe listed (Cboe BZX: CBOE) news", [t("CBOE", "Cboe")]],
  ["London (AIM: LND; OTCQX: LNDNF)", [t("LND", "LSE")]],
  ["lower case (nyse: abc) is not a ticker", []]
]

describe("ticker extraction", () => {
  it.each(tickerTable.map(([line, expected, options]) => ({ line, expected, options: options ?? {} })))(
    "$line",
    ({ line, expected, options }) => {
      const found = preferTickers(tickersInText(line, { dollarTickers: options.dollar ?? false }), {
        allowOtc: options.otc ?? false
      })
      expect(found).toEqual(expected)
    }
  )

  it("the table reaches every exchange the extractor knows", () => {
    const reached = new Set(tickerTable.flatMap(([, expected]) => expected.map((ticker) => ticker.exchange)))
    expect(exchangeAliases.map(([exchange]) => exchange).filter((exchange) => !reached.has(exchange))).toEqual([])
  })

  it.each(exchangeAliases.flatMap(([exchange, aliases]) => aliases.map((alias) => ({ alias, exchange }))))(
    "reads ($alias: ABCD) as $exchange, in any case",
    ({ alias, exchange }) => {
      for (const written of [alias, alias.toUpperCase()]) {
        const found = tickersInText(`Acme Corp. (${written}: ABCD) announces`, { dollarTickers: false })
        expect(found).toEqual([t("ABCD", exchange)])
      }
    }
  )
})

describe("the SEC feed of every form", () => {
  const filing = (form: string, accession: string): FakeSec.FakeFiling => ({
    form,
    accession,
    updated: "2025-12-12T16:00:00-05:00",
    parties: [{ company: `${form} FILER INC`, cik: 1800001, role: "Filer" }]
  })
  const forms = [
    "8-K",
    "8-K/A",
    "4",
    "SCHEDULE 13D",
    "SCHEDULE 13D/A",
    "SCHEDULE 13G",
    "SCHEDULE 13G/A",
    "SC 13D/A",
    "SC 13G",
    "10-Q",
    "424B5",
    "S-3ASR",
    "FWP",
    "6-K",
    "D"
  ]
  const atom = FakeSec.getcurrentAtom(
    forms.map((form, index) => filing(form, `0001800001-25-${String(index).padStart(6, "0")}`))
  )
  const formsOf = (url: string) => {
    const parsed = parseDocument(decodeBody(atom, "application/atom+xml"), "sec-atom")
    if (Either.isLeft(parsed)) throw new Error(parsed.left.message)
    return normalizeFeed(parsed.right, context({ source: { name: "SEC EDGAR", kind: "sec-atom", url } })).map(
      (item) => item.sec?.formType
    )
  }

  it("keeps the catalyst forms and their amendments, structured SCHEDULE 13D/13G and Form 4 included, and drops the rest", () => {
    expect(isCatalystForm("SCHEDULE 13D/A")).toBe(true)
    expect(isCatalystForm("4")).toBe(true)
    expect(isCatalystForm("40-F")).toBe(false)
    expect(formsOf(secCurrentFeedUrl("https://www.sec.gov"))).toEqual([
      "8-K",
      "8-K/A",
      "4",
      "SCHEDULE 13D",
      "SCHEDULE 13D/A",
      "SCHEDULE 13G",
      "SCHEDULE 13G/A",
      "SC 13D/A",
      "SC 13G",
      "424B5",
      "S-3ASR",
      "FWP",
      "6-K"
    ])
  })

  it("leaves a feed that chose its forms with type= as it is (a FEEDS_FILE feed of Form 4s stays one)", () => {
    expect(formsOf(secCurrentFeedUrl("https://www.sec.gov", "4"))).toEqual(forms)
  })
})
