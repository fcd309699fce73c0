import { Effect } from "effect"
import iconv from "iconv-lite"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A local SEC EDGAR (docs/ARCHITECTURE.md, "SEC EDGAR"): the getcurrent Atom feed in ISO-8859-1 (one entry
 * per party, same accession), company_tickers.json, company_tickers_exchange.json and filing index pages. It records each
 * request's arrival time and User-Agent, so tests can check fair access from the server's side.
 */

export interface FakeParty {
  readonly company: string
  readonly cik: number
  /** Filer, Subject, Reporting, Issuer or "Filed by". */
  readonly role: string
}

export interface FakeFiling {
  readonly form: string
  readonly accession: string
  /** ISO 8601 with the ET offset, as SEC writes `<updated>`. */
  readonly updated: string
  readonly parties: ReadonlyArray<FakeParty>
  /** `Item 8.01: Other Events`, … */
  readonly items?: ReadonlyArray<string>
  /** Text of the primary document, served as HTML (default: a short generated filing). */
  readonly documentText?: string
  /** A Form 4's ownership document, served as XML and listed in the filing's index.json. */
  readonly ownership?: FakeOwnership
  /** The ownership document's raw text instead of one generated from `ownership` (malformed-input tests). */
  readonly ownershipXml?: string
  /** The ownership document answered this much later than other requests. */
  readonly ownershipDelayMs?: number
  /** The primary document as filed (a 13D's `primary_doc.xml`, a 424B5's HTML); null body: listed, but 404. */
  readonly primaryDocument?: FakeDocument
  /** Further documents of the filing folder, listed in its index.json (an 8-K's `ex99-1.htm`). */
  readonly exhibits?: ReadonlyArray<FakeDocument>
}

/** What a Form 4 reports (EDGAR Ownership XML Technical Specification, https://www.sec.gov/info/edgar/ownershipxmltechspec). */
export interface FakeOwnership {
  readonly issuerCik: number
  readonly issuerSymbol: string
  readonly owner: {
    readonly cik: number
    readonly name: string
    readonly isDirector?: boolean
    readonly isOfficer?: boolean
    readonly isTenPercentOwner?: boolean
    readonly officerTitle?: string
  }
  readonly transactions: ReadonlyArray<{
    readonly date: string
    /** P purchase, S sale, A grant, M exercise, F tax withholding. */
    readonly code: string
    readonly shares: number
    readonly price?: number
    readonly sharesOwnedAfter: number
  }>
}

/**
 * One XBRL company concept (https://www.sec.gov/edgar/sec-api-documentation), as
 * `/api/xbrl/companyconcept/CIK##########/dei/<tag>.json` answers it: facts grouped by unit.
 */
export interface FakeConcept {
  readonly cik: number
  readonly tag: string
  /** `shares`, `USD`, … → facts; a raw string is served as the body as it is. */
  readonly units:
    Readonly<Record<string, ReadonlyArray<{ val: number; end: string; filed: string; form?: string }>>> | string
  /** Answered this much later than other requests: a slow data.sec.gov. */
  readonly delayMs?: number
}

export interface FakeDocument {
  readonly name: string
  readonly body: string | null
  /** Answered this much later than other requests: a large document on a slow archive. */
  readonly delayMs?: number
}

export interface FakeTicker {
  readonly cik: number
  readonly ticker: string
  readonly title: string
  /** As company_tickers_exchange.json spells it (`Nasdaq`, `NYSE`, `OTC`); absent: no exchange. */
  readonly exchange?: string
}

export interface SecRequest {
  readonly path: string
  readonly at: number
  readonly userAgent: string | null
}

const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const entry = (filing: FakeFiling, party: FakeParty) => {
  const cik = String(party.cik).padStart(10, "0")
  const folder = filing.accession.replace(/-/g, "")
  const summary = `<b>Filed:</b> ${filing.updated.slice(0, 10)} <b>AccNo:</b> ${filing.accession} <b>Size:</b> 260 KB${(filing.items ?? []).map((item) => `<br>${item}`).join("")}`
  return `<entry>
<title>${escapeXml(`${filing.form} - ${party.company} (${cik}) (${party.role})`)}</title>
<link rel="alternate" type="text/html" href="/Archives/edgar/data/${party.cik}/${folder}/${filing.accession}-index.htm"/>
<summary type="html"> ${escapeXml(summary)}</summary>
<updated>${filing.updated}</updated>
<category scheme="https://www.sec.gov/" label="form type" term="${escapeXml(filing.form)}"/>
<id>urn:tag:sec.gov,2008:accession-number=${filing.accession}</id>
</entry>`
}

/**
 * What getcurrent lists for these query parameters: the filings whose form starts with `type=` (all of
 * them when it is empty), newest first, one entry per party, `count=` entries (default 40) from `start=`.
 * A filing whose parties straddle the page boundary is cut, as on EDGAR.
 */
export const getcurrentPage = (
  filings: ReadonlyArray<FakeFiling>,
  params: URLSearchParams
): ReadonlyArray<FakeFiling> => {
  const type = (params.get("type") ?? "").toUpperCase()
  const start = Math.max(0, Number(params.get("start") ?? 0) || 0)
  const count = Math.max(1, Number(params.get("count") ?? 40) || 40)
  const lines = filings
    .filter((filing) => filing.form.toUpperCase().startsWith(type))
    .map((filing, index) => ({ filing, index, at: Date.parse(filing.updated) }))
    .sort((a, b) => b.at - a.at || a.index - b.index)
    .flatMap(({ filing }) => filing.parties.map((party) => ({ filing, party })))
    .slice(start, start + count)
  const page: Array<FakeFiling> = []
  for (const { filing, party } of lines) {
    const last = page[page.length - 1]
    if (last?.accession === filing.accession) page[page.length - 1] = { ...last, parties: [...last.parties, party] }
    else page.push({ ...filing, parties: [party] })
  }
  return page
}

/** The getcurrent Atom document, encoded ISO-8859-1 as SEC serves it. */
export const getcurrentAtom = (filings: ReadonlyArray<FakeFiling>): Buffer =>
  iconv.encode(
    `<?xml version="1.0" encoding="ISO-8859-1" ?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title>Latest Filings</title>
<link rel="alternate" href="/cgi-bin/browse-edgar?action=getcurrent"/>
<id>https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent</id>
<updated>${filings[0]?.updated ?? "2025-12-12T16:00:00-05:00"}</updated>
${filings.flatMap((filing) => filing.parties.map((party) => entry(filing, party))).join("\n")}
</feed>`,
    "latin1"
  )

export const companyTickersJson = (tickers: ReadonlyArray<FakeTicker>): string =>
  JSON.stringify(
    Object.fromEntries(
      tickers.map((ticker, index) => [
        String(index),
        { cik_str: ticker.cik, ticker: ticker.ticker, title: ticker.title }
      ])
    )
  )

/** company_tickers_exchange.json: `{"fields":["cik","name","ticker","exchange"],"data":[[320193,"Apple Inc.","AAPL","Nasdaq"],…]}`. */
export const companyTickersExchangeJson = (tickers: ReadonlyArray<FakeTicker>): string =>
  JSON.stringify({
    fields: ["cik", "name", "ticker", "exchange"],
    data: tickers.map((ticker) => [ticker.cik, ticker.title, ticker.ticker, ticker.exchange ?? null])
  })

/**
 * The primary document's file name, as listed in the submissions index. For structured SCHEDULE 13D/G
 * filings EDGAR lists the rendered copy, `xslSCHEDULE_13D_X01/primary_doc.xml`; the filed XML is the
 * same name at the folder's root.
 */
export const primaryDocumentName = (filing: FakeFiling): string => {
  if (filing.primaryDocument === undefined) {
    return `d${filing.accession.replace(/-/g, "").slice(-8)}${filing.form.toLowerCase().replace(/[^a-z0-9]/g, "")}.htm`
  }
  const structured = /^SCHEDULE (13[DG])/i.exec(filing.form)
  return structured === null
    ? filing.primaryDocument.name
    : `xslSCHEDULE_${structured[1]}_X01/${filing.primaryDocument.name}`
}

/**
 * A filing folder's index.json (`/Archives/edgar/data/{cik}/{accession-no-dashes}/index.json`): file
 * names only, with the icon EDGAR's directory listing shows as `type`.
 */
export const folderIndexJson = (filing: FakeFiling, cik: number): string => {
  const folder = filing.accession.replace(/-/g, "")
  const names = [
    `${filing.accession}-index-headers.html`,
    `${filing.accession}-index.htm`,
    `${filing.accession}.txt`,
    filing.primaryDocument?.name ??
      (filing.ownership !== undefined || filing.ownershipXml !== undefined
        ? ownershipDocumentName(filing)
        : primaryDocumentName(filing)),
    ...(filing.exhibits ?? []).map((document) => document.name)
  ]
  return JSON.stringify({
    directory: {
      item: names.map((name) => ({
        "last-modified": `${filing.updated.slice(0, 10)} 16:05:12`,
        name,
        type: "text.gif",
        size: ""
      })),
      name: `/Archives/edgar/data/${cik}/${folder}`,
      "parent-dir": `/Archives/edgar/data/${cik}`
    }
  })
}

/** A furnished press release (EX-99.1) as filers attach it to an 8-K. */
export const exhibitHtml = (headline: string, paragraphs: ReadonlyArray<string>): string =>
  `<html><head><title>Exhibit 99.1</title></head><body><p style="text-align:right">Exhibit 99.1</p>
<p><b>${escapeXml(headline)}</b></p>${paragraphs.map((paragraph) => `<p>${escapeXml(paragraph)}</p>`).join("\n")}</body></html>`

/**
 * The cover page of a 424B5 prospectus supplement for a registered direct offering, in the phrasing
 * Regulation S-K Item 501 cover pages use.
 */
export const offeringCoverHtml = (terms: {
  readonly company: string
  readonly shares: number
  readonly price: string
  readonly warrants?: number
  readonly outstandingBefore?: number
  readonly outstandingAfter?: number
}): string => {
  const n = (value: number) => value.toLocaleString("en-US")
  return `<html><body>
<p>Filed Pursuant to Rule 424(b)(5)<br/>Registration No. 333-270001</p>
<p>PROSPECTUS SUPPLEMENT (To Prospectus dated March 1, 2025)</p>
<p><b>${escapeXml(terms.company)}</b></p>
<p>${n(terms.shares)} Shares of Common Stock${terms.warrants === undefined ? "" : `<br/>Warrants to Purchase up to ${n(terms.warrants)} Shares of Common Stock`}</p>
<p>We are offering ${n(terms.shares)} shares of our common stock${terms.warrants === undefined ? "" : ` and warrants to purchase up to ${n(terms.warrants)} shares of common stock`} directly to certain institutional investors at a price of $${terms.price} per share, pursuant to this prospectus supplement and the accompanying prospectus.</p>
${terms.outstandingBefore === undefined ? "" : `<p>As of November 28, 2025, ${n(terms.outstandingBefore)} shares of our common stock were outstanding before this offering.</p>`}
${terms.outstandingAfter === undefined ? "" : `<p>${n(terms.outstandingAfter)} shares of common stock will be outstanding after this offering.</p>`}
<p>Our common stock is listed on The Nasdaq Capital Market. Investing in our securities involves a high degree of risk.</p>
<table><tr><td></td><td>Per Share</td><td>Total</td></tr><tr><td>Offering price</td><td>$${terms.price}</td><td>$${n(Math.round(terms.shares * Number(terms.price)))}</td></tr></table>
</body></html>`
}

/**
 * A structured Schedule 13D primary document (EDGAR Schedule 13D/G XML Technical Specification):
 * the issuer on the cover page header, one `reportingPersonInfo` per reporting person.
 */
export const schedule13dXml = (stake: {
  readonly subject: string
  readonly subjectCik: number
  readonly persons: ReadonlyArray<{ readonly name: string; readonly shares: number; readonly percent: string }>
}): string => `<?xml version="1.0" encoding="UTF-8"?>
<edgarSubmission xmlns="http://www.sec.gov/edgar/schedule13d" xmlns:com="http://www.sec.gov/edgar/common">
  <headerData>
    <submissionType>SCHEDULE 13D</submissionType>
    <filerInfo><filer><filerCredentials><cik>0001900001</cik><ccc>XXXXXXXX</ccc></filerCredentials></filer><liveTestFlag>LIVE</liveTestFlag></filerInfo>
  </headerData>
  <formData>
    <coverPageHeader>
      <securitiesClassTitle>Common Stock, par value $0.0001 per share</securitiesClassTitle>
      <dateOfEvent>11/24/2025</dateOfEvent>
      <issuerInfo>
        <issuerCIK>${String(stake.subjectCik).padStart(10, "0")}</issuerCIK>
        <issuerCUSIP>00461U105</issuerCUSIP>
        <issuerName>${escapeXml(stake.subject)}</issuerName>
        <address><com:street1>1 Main St</com:street1><com:city>Boston</com:city><com:stateOrCountry>MA</com:stateOrCountry><com:zipCode>02110</com:zipCode></address>
      </issuerInfo>
    </coverPageHeader>
    <reportingPersons>
${stake.persons
  .map(
    (person) => `      <reportingPersonInfo>
        <reportingPersonName>${escapeXml(person.name)}</reportingPersonName>
        <fundType>WC</fundType>
        <citizenshipOrOrganization>DE</citizenshipOrOrganization>
        <soleVotingPower>0</soleVotingPower>
        <sharedVotingPower>${person.shares}</sharedVotingPower>
        <soleDispositivePower>0</soleDispositivePower>
        <sharedDispositivePower>${person.shares}</sharedDispositivePower>
        <aggregateAmountOwned>${person.shares}</aggregateAmountOwned>
        <percentOfClass>${person.percent}</percentOfClass>
        <typeOfReportingPerson>PN</typeOfReportingPerson>
      </reportingPersonInfo>`
  )
  .join("\n")}
    </reportingPersons>
    <items1To7><item4><transactionPurpose>The Reporting Persons intend to engage with the Board regarding strategic alternatives.</transactionPurpose></item4></items1To7>
  </formData>
</edgarSubmission>`

/** A legacy SC 13D as plain text, with the cover page's numbered rows. */
export const legacy13dText = (stake: {
  readonly subject: string
  readonly filer: string
  readonly percent?: string
}): string => `SECURITIES AND EXCHANGE COMMISSION
Washington, D.C. 20549

SCHEDULE 13D
Under the Securities Exchange Act of 1934
(Amendment No. 2)

${stake.subject}
(Name of Issuer)

Common Stock, $0.001 par value
(Title of Class of Securities)

1  NAMES OF REPORTING PERSONS
   I.R.S. IDENTIFICATION NOS. OF ABOVE PERSONS (ENTITIES ONLY)
   ${stake.filer}
2  CHECK THE APPROPRIATE BOX IF A MEMBER OF A GROUP   (a) [ ]  (b) [X]
11 AGGREGATE AMOUNT BENEFICIALLY OWNED BY EACH REPORTING PERSON
   1,250,000
${
  stake.percent === undefined
    ? ""
    : `13 PERCENT OF CLASS REPRESENTED BY AMOUNT IN ROW (11)
   ${stake.percent}%
`
}14 TYPE OF REPORTING PERSON
   IA
`

const documentHtml = (filing: FakeFiling): string => {
  const company = filing.parties[0]?.company ?? "The Company"
  const text =
    filing.documentText ??
    `${(filing.items ?? []).join(". ")}. On ${filing.updated.slice(0, 10)}, ${company} (the "Company") announced the matters described above.`
  return `<html><head><title>${escapeXml(filing.form)}</title><style>p{margin:0}</style></head><body>
<p>UNITED STATES SECURITIES AND EXCHANGE COMMISSION</p><p>FORM ${escapeXml(filing.form)}</p>
<p>${escapeXml(company)}</p><p>${escapeXml(text)}</p></body></html>`
}

/** The ownership document's file name within the filing folder, as EDGAR's filer software names it. */
export const ownershipDocumentName = (filing: FakeFiling): string =>
  `wk-form4_${filing.accession.replace(/-/g, "")}.xml`

const flag = (value: boolean | undefined) => (value === true ? "1" : "0")

export const ownershipXml = (ownership: FakeOwnership): string => `<?xml version="1.0"?>
<ownershipDocument>
<schemaVersion>X0508</schemaVersion>
<documentType>4</documentType>
<periodOfReport>${ownership.transactions[0]?.date ?? "2025-12-10"}</periodOfReport>
<issuer><issuerCik>${String(ownership.issuerCik).padStart(10, "0")}</issuerCik><issuerName>Issuer</issuerName><issuerTradingSymbol>${escapeXml(ownership.issuerSymbol)}</issuerTradingSymbol></issuer>
<reportingOwner>
<reportingOwnerId><rptOwnerCik>${String(ownership.owner.cik).padStart(10, "0")}</rptOwnerCik><rptOwnerName>${escapeXml(ownership.owner.name)}</rptOwnerName></reportingOwnerId>
<reportingOwnerRelationship><isDirector>${flag(ownership.owner.isDirector)}</isDirector><isOfficer>${flag(ownership.owner.isOfficer)}</isOfficer><isTenPercentOwner>${flag(ownership.owner.isTenPercentOwner)}</isTenPercentOwner><isOther>0</isOther>${ownership.owner.officerTitle === undefined ? "" : `<officerTitle>${escapeXml(ownership.owner.officerTitle)}</officerTitle>`}</reportingOwnerRelationship>
</reportingOwner>
<nonDerivativeTable>
${ownership.transactions
  .map(
    (transaction) => `<nonDerivativeTransaction>
<securityTitle><value>Common Stock</value></securityTitle>
<transactionDate><value>${transaction.date}</value></transactionDate>
<transactionCoding><transactionFormType>4</transactionFormType><transactionCode>${transaction.code}</transactionCode><equitySwapInvolved>0</equitySwapInvolved></transactionCoding>
<transactionAmounts><transactionShares><value>${transaction.shares}</value></transactionShares><transactionPricePerShare>${transaction.price === undefined ? '<footnoteId id="F1"/>' : `<value>${transaction.price}</value>`}</transactionPricePerShare><transactionAcquiredDisposedCode><value>${transaction.code === "S" || transaction.code === "F" ? "D" : "A"}</value></transactionAcquiredDisposedCode></transactionAmounts>
<postTransactionAmounts><sharesOwnedFollowingTransaction><value>${transaction.sharesOwnedAfter}</value></sharesOwnedFollowingTransaction></postTransactionAmounts>
<ownershipNature><directOrIndirectOwnership><value>D</value></directOrIndirectOwnership></ownershipNature>
</nonDerivativeTransaction>`
  )
  .join("\n")}
</nonDerivativeTable>
</ownershipDocument>`

/** A filing folder's index.json: `{"directory":{"item":[{"name":…,"type":…,"size":…}],"name":…,"parent-dir":…}}`. */
/** `filings.recent` as parallel arrays, newest first, for the filings where `cik` is a party. */
export const submissionsJson = (cik: number, filings: ReadonlyArray<FakeFiling>): string | null => {
  const own = filings.filter((filing) => filing.parties.some((party) => party.cik === cik))
  if (own.length === 0) return null
  return JSON.stringify({
    cik: String(cik),
    name: own[0]?.parties.find((party) => party.cik === cik)?.company ?? "",
    filings: {
      recent: {
        accessionNumber: own.map((filing) => filing.accession),
        filingDate: own.map((filing) => filing.updated.slice(0, 10)),
        acceptanceDateTime: own.map((filing) => filing.updated),
        form: own.map((filing) => filing.form),
        items: own.map((filing) =>
          (filing.items ?? []).map((item) => item.replace(/^Item ([\d.]+).*$/, "$1")).join(",")
        ),
        primaryDocument: own.map(primaryDocumentName)
      },
      files: []
    }
  })
}

export const make = (
  options: {
    readonly filings?: ReadonlyArray<FakeFiling>
    readonly tickers?: ReadonlyArray<FakeTicker>
    readonly concepts?: ReadonlyArray<FakeConcept>
    readonly latencyMs?: number
  } = {}
) =>
  Effect.acquireRelease(
    Effect.async<{
      readonly url: string
      readonly requests: () => ReadonlyArray<SecRequest>
      /** TCP connections accepted so far: with keep-alive, one serves many requests. */
      readonly connections: () => number
      /** Serves `filings` from now on; returns that moment (epoch ms, the clock of `requests`): when new ones became visible. */
      readonly setFilings: (filings: ReadonlyArray<FakeFiling>) => number
      readonly setTickers: (tickers: ReadonlyArray<FakeTicker>) => void
      readonly setConcepts: (concepts: ReadonlyArray<FakeConcept>) => void
      /** Serves this text as company_tickers.json and company_tickers_exchange.json (null restores the tickers). */
      readonly setTickersBody: (raw: string | null) => void
      /** Answers every request with this status and SEC's HTML error page (null restores service). */
      readonly setOutage: (status: number | null) => void
      /** Forgets recorded requests, so a long run keeps constant memory. */
      readonly clearRecords: () => void
      readonly close: () => Promise<void>
    }>((resume) => {
      let filings = options.filings ?? []
      let tickers = options.tickers ?? []
      let concepts = options.concepts ?? []
      let tickersBody: string | null = null
      let outage: number | null = null
      let requests: Array<SecRequest> = []
      let connections = 0
      const later = (delayMs: number | undefined, send: () => void) => {
        if ((delayMs ?? 0) > 0) setTimeout(send, delayMs)
        else send()
      }
      const server = createServer((request, response) => {
        const at = performance.timeOrigin + performance.now()
        const url = new URL(request.url ?? "/", "http://localhost")
        requests.push({ path: url.pathname + url.search, at, userAgent: request.headers["user-agent"] ?? null })
        const answer = () => {
          if (outage !== null) {
            response.writeHead(outage, { "Content-Type": "text/html" })
            return response.end(`<html><body><h1>Request Rate Threshold Exceeded</h1></body></html>`)
          }
          if (url.pathname === "/cgi-bin/browse-edgar" && url.searchParams.get("action") === "getcurrent") {
            response.writeHead(200, { "Content-Type": "application/atom+xml" })
            return response.end(getcurrentAtom(getcurrentPage(filings, url.searchParams)))
          }
          if (url.pathname === "/files/company_tickers.json") {
            response.writeHead(200, { "Content-Type": "application/json" })
            return response.end(tickersBody ?? companyTickersJson(tickers))
          }
          if (url.pathname === "/files/company_tickers_exchange.json") {
            response.writeHead(200, { "Content-Type": "application/json" })
            return response.end(tickersBody ?? companyTickersExchangeJson(tickers))
          }
          const submissions = /^\/submissions\/CIK(\d{10})\.json$/.exec(url.pathname)
          if (submissions !== null) {
            const body = submissionsJson(Number(submissions[1]), filings)
            if (body === null) {
              response.writeHead(404, { "Content-Type": "application/xml" })
              return response.end("<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code></Error>")
            }
            response.writeHead(200, { "Content-Type": "application/json" })
            return response.end(body)
          }
          const concept = /^\/api\/xbrl\/companyconcept\/CIK(\d{10})\/dei\/(\w+)\.json$/.exec(url.pathname)
          if (concept !== null) {
            const found = concepts.find((each) => each.cik === Number(concept[1]) && each.tag === concept[2])
            if (found === undefined) {
              response.writeHead(404, { "Content-Type": "application/xml" })
              return response.end("<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code></Error>")
            }
            const body =
              typeof found.units === "string"
                ? found.units
                : JSON.stringify({
                    cik: found.cik,
                    taxonomy: "dei",
                    tag: found.tag,
                    label: found.tag,
                    units: found.units
                  })
            return later(found.delayMs, () => {
              response.writeHead(200, { "Content-Type": "application/json" })
              response.end(body)
            })
          }
          const archived = /^\/Archives\/edgar\/data\/(\d+)\/(\d{18})\/([^/]+)$/.exec(url.pathname)
          const folderOf =
            archived === null ? undefined : filings.find((f) => f.accession.replace(/-/g, "") === archived[2])
          if (archived !== null && folderOf !== undefined) {
            const name = decodeURIComponent(archived[3] ?? "")
            if (name === "index.json") {
              response.writeHead(200, { "Content-Type": "application/json" })
              return response.end(folderIndexJson(folderOf, Number(archived[1])))
            }
            if (name === ownershipDocumentName(folderOf)) {
              const xml =
                folderOf.ownershipXml ??
                (folderOf.ownership === undefined ? undefined : ownershipXml(folderOf.ownership))
              if (xml !== undefined) {
                return later(folderOf.ownershipDelayMs, () => {
                  response.writeHead(200, { "Content-Type": "text/xml" })
                  response.end(xml)
                })
              }
            }
            const own = [folderOf.primaryDocument, ...(folderOf.exhibits ?? [])].find(
              (document) => document?.name === name
            )
            if (own !== undefined) {
              if (own.body === null) {
                response.writeHead(404, { "Content-Type": "text/html" })
                return response.end("<h1>Not Found</h1>")
              }
              const body = own.body
              return later(own.delayMs, () => {
                response.writeHead(200, { "Content-Type": name.endsWith(".xml") ? "application/xml" : "text/html" })
                response.end(body)
              })
            }
          }
          if (url.pathname.startsWith("/Archives/edgar/data/")) {
            const document = url.pathname.split("/").pop() ?? ""
            const filing = filings.find((candidate) => primaryDocumentName(candidate) === document)
            response.writeHead(200, { "Content-Type": "text/html" })
            if (filing !== undefined) return response.end(documentHtml(filing))
            return response.end(`<html><body><h1>Filing index</h1><p>${escapeXml(url.pathname)}</p></body></html>`)
          }
          response.writeHead(404, { "Content-Type": "text/html" })
          response.end("<h1>Not Found</h1>")
        }
        if ((options.latencyMs ?? 0) > 0) setTimeout(answer, options.latencyMs)
        else answer()
      })
      server.on("connection", () => {
        connections += 1
      })
      server.listen(0, "127.0.0.1", () => {
        resume(
          Effect.succeed({
            url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            requests: () => requests.slice(),
            connections: () => connections,
            setFilings: (next: ReadonlyArray<FakeFiling>) => {
              filings = next
              return performance.timeOrigin + performance.now()
            },
            setTickers: (next: ReadonlyArray<FakeTicker>) => {
              tickers = next
            },
            setConcepts: (next: ReadonlyArray<FakeConcept>) => {
              concepts = next
            },
            setTickersBody: (raw: string | null) => {
              tickersBody = raw
            },
            setOutage: (status: number | null) => {
              outage = status
            },
            clearRecords: () => {
              requests = []
            },
            close: () =>
              new Promise<void>((done) => {
                server.closeAllConnections()
                server.close(() => done())
              })
          })
        )
      })
    }),
    (sec) => Effect.promise(sec.close)
  )
