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

/** The primary document's file name, as listed in the submissions index. */
export const primaryDocumentName = (filing: FakeFiling): string =>
  `d${filing.accession.replace(/-/g, "").slice(-8)}${filing.form.toLowerCase().replace(/[^a-z0-9]/g, "")}.htm`

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
export const filingIndexJson = (filing: FakeFiling, cik: number): string =>
  JSON.stringify({
    directory: {
      item: [
        { "last-modified": filing.updated, name: `${filing.accession}-index.htm`, type: "text.gif", size: "" },
        ...(filing.ownership !== undefined || filing.ownershipXml !== undefined
          ? [{ "last-modified": filing.updated, name: ownershipDocumentName(filing), type: "text.gif", size: "4 KB" }]
          : [{ "last-modified": filing.updated, name: primaryDocumentName(filing), type: "text.gif", size: "20 KB" }])
      ],
      name: `/Archives/edgar/data/${cik}/${filing.accession.replace(/-/g, "")}`,
      "parent-dir": `/Archives/edgar/data/${cik}`
    }
  })

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
            response.writeHead(200, { "Content-Type": "application/json" })
            if (typeof found.units === "string") return response.end(found.units)
            return response.end(
              JSON.stringify({ cik: found.cik, taxonomy: "dei", tag: found.tag, label: found.tag, units: found.units })
            )
          }
          const folder = /^\/Archives\/edgar\/data\/(\d+)\/(\d{18})\/(.+)$/.exec(url.pathname)
          const inFolder =
            folder === null ? undefined : filings.find((each) => each.accession.replace(/-/g, "") === folder[2])
          if (folder !== null && inFolder !== undefined && folder[3] === "index.json") {
            response.writeHead(200, { "Content-Type": "application/json" })
            return response.end(filingIndexJson(inFolder, Number(folder[1])))
          }
          if (folder !== null && inFolder !== undefined && folder[3] === ownershipDocumentName(inFolder)) {
            response.writeHead(200, { "Content-Type": "text/xml" })
            if (inFolder.ownershipXml !== undefined) return response.end(inFolder.ownershipXml)
            if (inFolder.ownership !== undefined) return response.end(ownershipXml(inFolder.ownership))
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
