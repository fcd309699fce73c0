import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, LogLevel } from "effect"
import { Delivery } from "../src/Delivery/Delivery.js"
import { Runner } from "../src/Runner/Runner.js"
import type { FakeConcept, FakeFiling } from "../src/World/FakeSec.js"
import * as FakeWire from "../src/World/FakeWire.js"
import * as World from "../src/World/World.js"
import { worldBot } from "./support/WorldBot.js"

type Embed = {
  readonly title: string
  readonly fields: ReadonlyArray<{ readonly name: string; readonly value: string }>
}

const [wired, euros, noFacts, garbled] = [
  World.companies[1]!,
  World.companies[2]!,
  World.companies[3]!,
  World.companies[4]!
]

const updatedNow = () => new Date(Date.now() - 5 * 3_600_000).toISOString().slice(0, 19) + "-05:00"

const eightK = (company: World.Company, serial: number): FakeFiling => ({
  form: "8-K",
  accession: `000${company.cik}-26-${String(800 + serial).padStart(6, "0")}`,
  updated: updatedNow(),
  items: ["Item 1.01: Entry into a Material Definitive Agreement", "Item 9.01: Financial Statements and Exhibits"],
  parties: [{ company: company.name.toUpperCase(), cik: company.cik, role: "Filer" }],
  documentText: `${company.name} Enters Definitive Agreement to Be Acquired for $4.10 Per Share in Cash.`
})

const shares = (company: World.Company): FakeConcept => ({
  cik: company.cik,
  tag: "EntityCommonStockSharesOutstanding",
  units: { shares: [{ val: 12_000_000, end: "2025-10-31", filed: "2025-11-05", form: "10-Q" }] }
})

describe("company size from SEC XBRL, for wire items too, and when the answer is bad", () => {
  it.live(
    "a wire story gets its size through ticker → CIK; an unknown unit, a 404 or a garbled answer leaves the field empty with one debug line, and the alert goes out",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        world.sec.setConcepts([
          shares(wired),
          shares(euros),
          // dei:EntityPublicFloat is in dollars; a unit the code doesn't know gives no value.
          {
            cik: euros.cik,
            tag: "EntityPublicFloat",
            units: { EUR: [{ val: 40_000_000, end: "2025-06-30", filed: "2025-09-15" }] }
          },
          { cik: garbled.cik, tag: "EntityCommonStockSharesOutstanding", units: "{not json" },
          { cik: garbled.cik, tag: "EntityPublicFloat", units: '{"facts": []}' }
        ])
        world.sec.setFilings([eightK(euros, 1), eightK(noFacts, 2), eightK(garbled, 3)])
        world.wire.setFeed("GlobeNewswire", {
          body: FakeWire.globeNewswireRss([
            {
              title: `${wired.name} Wins $45 Million Department of Defense Contract`,
              link: "https://www.globenewswire.com/news-release/2026/12/02/3299001/contract.html",
              description: `${wired.name}, Inc. (${wired.exchange}: ${wired.ticker}) won a multi-year production award.`,
              pubDate: new Date().toUTCString(),
              stocks: [`${wired.exchange}:${wired.ticker}`]
            }
          ]),
          etag: '"size-bad-input"'
        })
        const debug: Array<string> = []
        const logger = Logger.make(({ logLevel, message }) => {
          if (logLevel === LogLevel.Debug) debug.push(String(Array.isArray(message) ? message.join(" ") : message))
        })
        const result = yield* Effect.gen(function* () {
          const result = yield* (yield* Runner).runCycle
          yield* (yield* Delivery).awaitSettled(0, Duration.seconds(30))
          return result
        }).pipe(
          Effect.provide(Layer.fresh(worldBot(world, { LLM_PROVIDER: "none", CHART_TIMEOUT_MS: 100 }))),
          Effect.provide(Logger.add(logger)),
          Logger.withMinimumLogLevel(LogLevel.Debug)
        )
        if (result._tag !== "Completed") throw new Error(`cycle did not complete: ${JSON.stringify(result)}`)
        expect(result.summary.outcomes.filter((outcome) => outcome.outcome === "failed")).toEqual([])

        const embeds = world.alerts().map((message) => (message.payload["embeds"] as ReadonlyArray<Embed>)[0]!)
        const embedOf = (company: World.Company) => embeds.find((embed) => embed.title.includes(company.ticker))
        const fieldOf = (company: World.Company, name: string) =>
          embedOf(company)?.fields.find((field) => field.name === name)?.value
        const about = (company: World.Company) =>
          debug.filter((line) => line.includes(`CIK ${String(company.cik).padStart(10, "0")}`))

        expect(fieldOf(wired, "Shares outstanding")).toBe("12M (as of 2025-10-31)")
        expect(fieldOf(wired, "Market cap")).toMatch(/^\$\d+(\.\d)?M$/)

        expect(fieldOf(euros, "Shares outstanding")).toBe("12M (as of 2025-10-31)")
        expect(fieldOf(euros, "Public float")).toBeUndefined()
        expect(about(euros)).toEqual([expect.stringContaining("no facts in USD (units: EUR)")])

        expect(embedOf(noFacts)).toBeDefined()
        expect(fieldOf(noFacts, "Shares outstanding")).toBeUndefined()
        expect(about(noFacts)).toHaveLength(2)
        expect(about(noFacts).every((line) => line.includes("no facts (HTTP 404)"))).toBe(true)

        expect(embedOf(garbled)).toBeDefined()
        expect(fieldOf(garbled, "Shares outstanding")).toBeUndefined()
        expect(fieldOf(garbled, "Public float")).toBeUndefined()
        expect(about(garbled)).toEqual([
          expect.stringContaining("dei:EntityCommonStockSharesOutstanding"),
          expect.stringContaining("dei:EntityPublicFloat")
        ])
      }).pipe(Effect.scoped),
    120_000
  )
})
