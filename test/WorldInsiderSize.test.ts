import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { Delivery } from "../src/Delivery/Delivery.js"
import { secFeedName } from "../src/Feeds/Sources.js"
import type { ItemOutcome } from "../src/Kernel/Domain.js"
import { Runner } from "../src/Runner/Runner.js"
import type { FakeConcept, FakeFiling, FakeOwnership } from "../src/World/FakeSec.js"
import * as World from "../src/World/World.js"
import { databases, freshPgDatabase, type DatabaseKind } from "./support/Databases.js"
import { worldBot } from "./support/WorldBot.js"

const [buyer, seller, smallBuyer, garbled, noFacts] = World.companies as [
  World.Company,
  World.Company,
  World.Company,
  World.Company,
  World.Company
]

/** EDGAR's `<updated>`: now, in ET (-05:00), as getcurrent prints it. */
const updatedNow = () => new Date(Date.now() - 5 * 3_600_000).toISOString().slice(0, 19) + "-05:00"
const today = new Date().toISOString().slice(0, 10)

let serial = 0
const form4 = (issuer: World.Company, owner: FakeOwnership["owner"], transactions: FakeOwnership["transactions"]) => {
  serial += 1
  const filing: FakeFiling = {
    form: "4",
    accession: `0001209191-26-${String(serial).padStart(6, "0")}`,
    updated: updatedNow(),
    parties: [
      { company: owner.name, cik: owner.cik, role: "Reporting" },
      { company: issuer.name.toUpperCase(), cik: issuer.cik, role: "Issuer" }
    ],
    ownership: { issuerCik: issuer.cik, issuerSymbol: issuer.ticker, owner, transactions }
  }
  return filing
}

const eightK = (company: World.Company): FakeFiling => {
  serial += 1
  return {
    form: "8-K",
    accession: `000${company.cik}-26-${String(serial).padStart(6, "0")}`,
    updated: updatedNow(),
    items: ["Item 1.01: Entry into a Material Definitive Agreement", "Item 9.01: Financial Statements and Exhibits"],
    parties: [{ company: company.name.toUpperCase(), cik: company.cik, role: "Filer" }],
    documentText: `${company.name} Enters Definitive Agreement to Be Acquired for $4.10 Per Share in Cash, a 62% premium.`
  }
}

/** Two shares facts share the latest end: the later-filed one wins; an older period's larger value loses. */
const sizeOf = (company: World.Company): ReadonlyArray<FakeConcept> => [
  {
    cik: company.cik,
    tag: "EntityCommonStockSharesOutstanding",
    units: {
      shares: [
        { val: 90_000_000, end: "2025-04-30", filed: "2025-05-10", form: "10-Q" },
        { val: 11_000_000, end: "2025-10-31", filed: "2025-11-05", form: "10-Q" },
        { val: 12_000_000, end: "2025-10-31", filed: "2025-11-20", form: "10-Q/A" },
        { val: 10_000_000, end: "2025-07-31", filed: "2025-08-08", form: "10-Q" }
      ]
    }
  },
  {
    cik: company.cik,
    tag: "EntityPublicFloat",
    units: { USD: [{ val: 45_000_000, end: "2025-06-30", filed: "2025-09-15", form: "10-K" }] }
  }
]

const runOnce = (world: World.World, overrides: Record<string, string | number> = {}) =>
  Effect.gen(function* () {
    const result = yield* (yield* Runner).runCycle
    yield* (yield* Delivery).awaitSettled(0, Duration.seconds(30))
    if (result._tag !== "Completed") throw new Error(`cycle did not complete: ${JSON.stringify(result)}`)
    return result.summary.outcomes.filter((outcome) => outcome.source === secFeedName)
  }).pipe(Effect.provide(Layer.fresh(worldBot(world, { LLM_PROVIDER: "none", ...overrides }))))

const outcomeFor = (outcomes: ReadonlyArray<ItemOutcome>, company: World.Company, form: string) =>
  outcomes.find((outcome) => outcome.title.startsWith(`${form}: ${company.name.toUpperCase()}`))

interface Field {
  readonly name: string
  readonly value: string
}
const embedsOf = (world: World.World) =>
  world.alerts().map((message) => (message.payload["embeds"] as Array<{ title: string; fields: Array<Field> }>)[0]!)

const ceo = { cik: 1_800_001, name: "ROE JANE", isOfficer: true, isDirector: true, officerTitle: "CEO" }

/** Nothing on SQLite (the world's DATA_DIR); a fresh database's DATABASE_URL on PostgreSQL. */
const databaseFor = (kind: DatabaseKind) =>
  kind === "pg" ? Effect.map(freshPgDatabase, (url) => ({ DATABASE_URL: url })) : Effect.succeed({})

describe.each(databases)("Form 4 insider transactions and company size from SEC XBRL on %s", (kind) => {
  it.live(
    "a purchase alerts with owner, shares, price, value, holding and size; a sale, a small buy and a malformed document do not",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        const database = yield* databaseFor(kind)
        world.sec.setConcepts([...sizeOf(buyer), ...sizeOf(seller), ...sizeOf(smallBuyer)])
        world.sec.setFilings([
          form4(buyer, ceo, [{ date: today, code: "P", shares: 20_000, price: 3, sharesOwnedAfter: 120_000 }]),
          form4(seller, { cik: 1_800_002, name: "DOE JOHN", isDirector: true }, [
            { date: today, code: "S", shares: 50_000, price: 4, sharesOwnedAfter: 10_000 }
          ]),
          form4(smallBuyer, { cik: 1_800_003, name: "POE ANN", isOfficer: true, officerTitle: "CFO" }, [
            { date: today, code: "P", shares: 1_000, price: 2, sharesOwnedAfter: 5_000 }
          ]),
          { ...form4(garbled, ceo, []), ownershipXml: "<ownershipDocument><issuer><issuerCik>1</issuerCik>" },
          eightK(noFacts)
        ])
        const outcomes = yield* runOnce(world, database)

        expect(outcomeFor(outcomes, buyer, "4")).toMatchObject({ outcome: "alerted" })
        expect(outcomeFor(outcomes, seller, "4")).toMatchObject({
          outcome: "filtered",
          reason: expect.stringContaining("S (open-market sale)")
        })
        expect(outcomeFor(outcomes, smallBuyer, "4")).toMatchObject({
          outcome: "filtered",
          reason: "insider open-market purchase of $2,000 below INSIDER_MIN_VALUE_USD $25,000"
        })
        expect(outcomeFor(outcomes, garbled, "4")).toMatchObject({
          outcome: "filtered",
          reason: "Form 4 ownership document unreadable"
        })
        // No XBRL facts (404) for this issuer: the 8-K still alerts, without size fields.
        expect(outcomeFor(outcomes, noFacts, "8-K")).toMatchObject({ outcome: "alerted" })

        const embeds = embedsOf(world)
        expect(embeds).toHaveLength(2)
        const insider = embeds.find((embed) => embed.title.includes(buyer.ticker))!
        const field = (name: string) => insider.fields.find((each) => each.name === name)?.value
        expect(field("Insider")).toBe(
          "Insider buy: ROE JANE (CEO, Director) bought 20,000 shares at $3.00 ($60,000), now owns 120,000"
        )
        expect(field("Shares outstanding")).toBe("12M (as of 2025-10-31)")
        expect(field("Public float")).toBe("$45M (as of 2025-06-30)")
        expect(field("Market cap")).toMatch(/^\$\d+(\.\d)?M$/)
        expect(insider.fields.some((each) => /^float$/i.test(each.name))).toBe(false)
        const plain = embeds.find((embed) => embed.title.includes(noFacts.ticker))!
        expect(plain.fields.map((each) => each.name)).not.toContain("Market cap")
        expect(plain.fields.map((each) => each.name)).not.toContain("Shares outstanding")
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "two insiders buying one issuer within INSIDER_CLUSTER_DAYS are marked a cluster buy",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        const database = yield* databaseFor(kind)
        world.sec.setFilings([
          form4(buyer, ceo, [{ date: today, code: "P", shares: 20_000, price: 3, sharesOwnedAfter: 120_000 }])
        ])
        yield* runOnce(world, database)
        world.sec.setFilings([
          form4(buyer, { cik: 1_800_009, name: "ZOE MAX", isDirector: true }, [
            { date: today, code: "P", shares: 30_000, price: 3.1, sharesOwnedAfter: 30_000 }
          ])
        ])
        yield* runOnce(world, database)
        const insiderFields = embedsOf(world).map(
          (embed) => embed.fields.find((each) => each.name === "Insider")!.value
        )
        expect(insiderFields).toHaveLength(2)
        expect(insiderFields[0]).not.toContain("Cluster buy")
        expect(insiderFields[1]).toContain("Cluster buy: 2 insiders")
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "MIN_MARKET_CAP_USD filters with the market cap in the reason, before any Form 4 document is fetched; sizes come from the cache the next time",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        const database = yield* databaseFor(kind)
        world.sec.setConcepts(sizeOf(buyer))
        const purchase = form4(buyer, ceo, [
          { date: today, code: "P", shares: 20_000, price: 3, sharesOwnedAfter: 120_000 }
        ])
        world.sec.setFilings([purchase, eightK(buyer)])
        const outcomes = yield* runOnce(world, { ...database, MIN_MARKET_CAP_USD: 1_000_000_000 })
        for (const form of ["4", "8-K"]) {
          expect(outcomeFor(outcomes, buyer, form)).toMatchObject({
            outcome: "filtered",
            reason: expect.stringMatching(/^market cap \$[\d,]+ below MIN_MARKET_CAP_USD \$1,000,000,000$/)
          })
        }
        const folder = purchase.accession.replace(/-/g, "")
        expect(world.sec.requests().filter((request) => request.path.includes(folder))).toEqual([])
        const conceptRequests = () =>
          world.sec.requests().filter((request) => request.path.startsWith("/api/xbrl/companyconcept/")).length
        expect(conceptRequests()).toBe(2)

        // A restart: the day-old cache in the database answers, SEC is not asked again.
        world.sec.setFilings([
          form4(buyer, { cik: 1_800_009, name: "ZOE MAX", isDirector: true }, [
            { date: today, code: "P", shares: 30_000, price: 3.1, sharesOwnedAfter: 30_000 }
          ])
        ])
        const again = yield* runOnce(world, database)
        expect(outcomeFor(again, buyer, "4")).toMatchObject({ outcome: "alerted" })
        expect(conceptRequests()).toBe(2)
        const field = embedsOf(world)[0]!.fields.find((each) => each.name === "Shares outstanding")
        expect(field?.value).toBe("12M (as of 2025-10-31)")
      }).pipe(Effect.scoped),
    120_000
  )
})
