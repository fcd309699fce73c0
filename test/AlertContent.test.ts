import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option } from "effect"
import { readFileSync } from "node:fs"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import { RenderPool } from "../src/Charts/RenderPool.js"
import { alertMessage } from "../src/Delivery/Discord/Embed.js"
import { decodeBody } from "../src/Feeds/Charset.js"
import { normalizeFeed } from "../src/Feeds/Normalize.js"
import { parseDocument } from "../src/Feeds/Parser.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { Breakers } from "../src/Kernel/Breakers.js"
import type { Alert } from "../src/Kernel/Domain.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { MarketData } from "../src/MarketData/MarketData.js"
import * as FakeQuotes from "../src/World/FakeQuotes.js"
import { alertFixture } from "./support/Alerts.js"
import { makeTestLayer } from "../src/Kernel/TestLayer.js"
import { configLayer } from "./support/TestLayers.js"

const fieldsOf = (alert: Alert, chart: Parameters<typeof alertMessage>[1]) =>
  Object.fromEntries(alertMessage(alert, chart).payload.embeds![0]!.fields!.map((field) => [field.name, field.value]))

/** Discord shows `\_` as `_`. */
const shown = (text: string | undefined) => text?.replace(/\\([!-/:-@[-`{-~])/g, "$1")

describe("the Category field", () => {
  it("names each category once, the LLM's first", () => {
    const base = alertFixture(1)
    const alert: Alert = {
      ...base,
      classification: {
        ...base.classification,
        categories: ["fda_approval", "partnership", "FDA_Approval"],
        llm: {
          _tag: "Analysed",
          cached: false,
          analysis: {
            category: "fda_approval",
            sentiment: 0.8,
            confidence: 0.9,
            summary: "approved",
            key_facts: [],
            is_material: true
          }
        }
      }
    }
    expect(shown(fieldsOf(alert, { _tag: "NoBars" })["Category"])).toBe("fda_approval, partnership")
  })
})

/** MarketData over the fake quote server (Yahoo), with the chart renderer's pool replaced by a stub. */
const chartsOver = (url: string) =>
  ChartRenderer.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(MarketData.Default),
    Layer.provide(makeTestLayer(RenderPool)({ draw: () => Effect.succeed(new Uint8Array([137, 80, 78, 71])) })),
    Layer.provide(Layer.mergeAll(AppConfig.Default, Breakers.Default, StatusBoard.Default)),
    Layer.provide(NodeHttpClient.layerUndici),
    Layer.provide(configLayer({ MARKET_DATA_PROVIDER: "yahoo", YAHOO_BASE_URL: url, QUOTE_RETRIES: 0 }))
  )

const withCharts = <A, E>(url: string, body: Effect.Effect<A, E, ChartRenderer | MarketData>) =>
  Effect.flatMap(Layer.build(chartsOver(url)), (context) => Effect.provide(body, context))

describe("a chart missing after a quote outage", () => {
  it.scopedLive("bars: a provider failure is an error, not 'no bars', and isn't cached", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      fake.script("GONE", { mode: "delisted" })
      yield* withCharts(
        fake.url,
        Effect.gen(function* () {
          const market = yield* MarketData
          fake.setOutage(503)
          const failed = yield* Effect.either(market.bars("ABCD", "5m"))
          expect(Either.isLeft(failed) && failed.left).toMatchObject({ _tag: "BarsUnavailable" })
          expect(Either.isLeft(failed) && failed.left.reason).toContain("503")
          fake.setOutage(null)
          const recovered = yield* market.bars("ABCD", "5m")
          expect(Option.getOrThrow(recovered).bars.length).toBeGreaterThan(0)
          expect(Option.isNone(yield* market.bars("GONE", "5m"))).toBe(true)
          expect(fake.requestTimes("ABCD")).toHaveLength(2)
        })
      )
    })
  )

  it.scopedLive("the alert says why the chart is missing, and the chart is back as soon as the API is", () =>
    Effect.gen(function* () {
      const fake = yield* FakeQuotes.make()
      const alert: Alert = {
        ...alertFixture(1, { market: { _tag: "PriceUnavailable", reason: "yahoo: HTTP 503" } }),
        ticker: { symbol: "ABCD", exchange: "NASDAQ" }
      }
      yield* withCharts(
        fake.url,
        Effect.gen(function* () {
          const charts = yield* ChartRenderer
          fake.setOutage(503)
          const during = yield* charts.forAlert(alert)
          expect(during._tag).toBe("Failed")
          expect(shown(fieldsOf(alert, during)["Chart"])).toMatch(/^⚠️ chart unavailable: price API down \(.*503.*\)$/)
          fake.setOutage(null)
          const after = yield* charts.forAlert(alert)
          expect(after._tag).toBe("Rendered")
        })
      )
    })
  )
})

describe("SEC alert titles", () => {
  const items = (() => {
    const raw = readFileSync(new URL("./fixtures/feeds/sec-getcurrent.atom", import.meta.url))
    const parsed = parseDocument(decodeBody(raw), "sec-atom")
    if (Either.isLeft(parsed)) throw new Error(parsed.left.message)
    return normalizeFeed(parsed.right, {
      source: { name: "SEC 8-K", kind: "sec-atom", url: "https://www.sec.gov/cgi-bin/browse-edgar" },
      fetchedAt: "2025-12-12T21:10:00.000Z",
      allowOtc: false,
      dollarTickers: false,
      tickersForCik: () => []
    })
  })()

  it("read `FORM: COMPANY — Items …` in words, without the CIK or the party's role, which stay in `sec`", () => {
    const byCik = (cik: string) => items.find((item) => item.sec?.cik === cik)
    expect(byCik("0000789019")?.title).toBe(
      "8-K: MICROSOFT CORP — Items 8.01 Other Events, 9.01 Financial Statements and Exhibits"
    )
    expect(byCik("0000732717")?.title).toBe(
      "8-K: AT&T INC. — Items 1.01 Entry into a Material Definitive Agreement, 2.03 Creation of a Direct Financial Obligation"
    )
    expect(byCik("0001067983")?.title).toBe("424B5 (prospectus): BERKSHIRE HATHAWAY INC")
    expect(byCik("0001800001")?.title).toBe("Schedule 13D/A (activist stake, amendment): ACME THERAPEUTICS, INC.")
    expect(byCik("0000789019")?.sec).toMatchObject({
      cik: "0000789019",
      formType: "8-K",
      companyName: "MICROSOFT CORP"
    })
    for (const item of items) expect(item.title).not.toMatch(/\(\d{10}\)|\((Filer|Subject|Reporting|Issuer)\)/)
  })
})
