import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, LogLevel } from "effect"
import { Classifier } from "../src/Classification/Classifier.js"
import { FilingDetails } from "../src/Classification/FilingDetails.js"
import { LlmAnalyst } from "../src/Classification/LlmAnalyst.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { makeTestLayer } from "../src/Kernel/TestLayer.js"
import { newsItem } from "./support/Alerts.js"
import { configLayer } from "./support/TestLayers.js"
import { filingText } from "../src/Classification/SecExcerpt.js"
import { knowsAnyTerm, parseOfferingTerms } from "../src/Classification/OfferingTerms.js"
import { parseLegacyOwnership, parseOwnershipXml } from "../src/Classification/Ownership.js"
import { renderCard } from "../src/Delivery/AlertSink/Stdout.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import { formInWords, secTitle } from "../src/Feeds/SecEntry.js"
import { Runner } from "../src/Runner/Runner.js"
import type { Alert } from "../src/Kernel/Domain.js"
import * as FakeSec from "../src/World/FakeSec.js"
import * as World from "../src/World/World.js"
import { worldBot } from "./support/WorldBot.js"

const cover = (terms: Parameters<typeof FakeSec.offeringCoverHtml>[0]) =>
  parseOfferingTerms(filingText(FakeSec.offeringCoverHtml(terms)))

describe("offering terms from a prospectus cover page", () => {
  it("reads shares, price, warrants and the dilution against shares outstanding before the offering", () => {
    expect(
      cover({
        company: "Acme Therapeutics, Inc.",
        shares: 4_000_000,
        price: "1.25",
        warrants: 4_000_000,
        outstandingBefore: 20_000_000
      })
    ).toEqual({
      sizeUsd: null,
      pricePerShare: 1.25,
      shares: 4_000_000,
      warrants: 4_000_000,
      sharesOutstanding: 20_000_000,
      dilutionPct: 20
    })
  })

  it("takes shares outstanding before the offering from the count after it, less the shares offered", () => {
    const terms = cover({ company: "Acme", shares: 2_500_000, price: "3.00", outstandingAfter: 12_500_000 })
    expect(terms).toMatchObject({ shares: 2_500_000, sharesOutstanding: 10_000_000, dilutionPct: 25, warrants: null })
  })

  it("reads an ATM's dollar size", () => {
    const terms = parseOfferingTerms(
      "PROSPECTUS SUPPLEMENT Up to $50,000,000 Common Stock We have entered into an At The Market Offering Agreement"
    )
    expect(terms).toMatchObject({ sizeUsd: 50_000_000, shares: null, pricePerShare: null, dilutionPct: null })
  })

  it("leaves every term unknown when the cover page states none", () => {
    const terms = parseOfferingTerms(
      "PROSPECTUS We may offer from time to time common stock, preferred stock and warrants."
    )
    expect(Object.values(terms).every((value) => value === null)).toBe(true)
    expect(knowsAnyTerm(terms)).toBe(false)
  })
})

describe("13D/13G stakes", () => {
  it("reads filer, subject and percent of class from a structured SCHEDULE 13D; joint filers count once", () => {
    const xml = FakeSec.schedule13dXml({
      subject: "Acme Therapeutics, Inc.",
      subjectCik: 1800001,
      persons: [
        { name: "Raider Capital LP", shares: 1_500_000, percent: "9.8" },
        { name: "Raider Capital GP LLC", shares: 1_500_000, percent: "9.8" }
      ]
    })
    expect(parseOwnershipXml(xml)).toEqual({
      filer: "Raider Capital LP and 1 other",
      subject: "Acme Therapeutics, Inc.",
      percentOfClass: 9.8,
      shares: 1_500_000
    })
  })

  it("gives nothing for a malformed or foreign XML document", () => {
    expect(parseOwnershipXml("<edgarSubmission><formData><coverPage")).toBeNull()
    expect(parseOwnershipXml("<ownershipDocument><issuer/></ownershipDocument>")).toBeNull()
  })

  it("reads a legacy SC 13D's percent of class line, and leaves it unknown when absent", () => {
    const text = (percent?: string) =>
      filingText(
        FakeSec.legacy13dText({
          subject: "ACME THERAPEUTICS, INC.",
          filer: "Raider Capital LP",
          ...(percent && { percent })
        })
      )
    expect(parseLegacyOwnership(text("7.4"), "ACME")).toEqual({
      filer: "Raider Capital LP",
      subject: "ACME THERAPEUTICS, INC.",
      percentOfClass: 7.4,
      shares: null
    })
    expect(parseLegacyOwnership(text(), "ACME").percentOfClass).toBeNull()
  })
})

describe("SEC titles in words", () => {
  const entry = {
    companyName: "ACME CORP",
    cik: "0000882796",
    role: "Filer",
    accession: "0000882796-25-000001",
    filed: null
  }

  it("name the items by their Form 8-K captions and drop the CIK and role", () => {
    const title = secTitle({ ...entry, formType: "8-K", items: ["1.01", "9.01"] })
    expect(title).toBe(
      "8-K: ACME CORP — Items 1.01 Entry into a Material Definitive Agreement, 9.01 Financial Statements and Exhibits"
    )
    expect(title).not.toMatch(/0000882796|Filer/)
  })

  it("say what a form is", () => {
    expect(formInWords("SCHEDULE 13D")).toBe("Schedule 13D (activist stake)")
    expect(formInWords("SC 13G/A")).toBe("Schedule 13G/A (passive stake, amendment)")
    expect(formInWords("424B5")).toBe("424B5 (prospectus)")
    expect(formInWords("8-K/A")).toBe("8-K/A (amendment)")
    expect(secTitle({ ...entry, formType: "SCHEDULE 13D", items: [] })).toBe("Schedule 13D (activist stake): ACME CORP")
  })
})

describe("words the bot writes into SEC titles", () => {
  const keywordsOnly = Classifier.DefaultWithoutDependencies.pipe(
    Layer.provide(makeTestLayer(LlmAnalyst)({})),
    Layer.provide(FilingDetails.Test({})),
    Layer.provide(AppConfig.Default),
    Layer.provide(configLayer({}))
  )
  const titled = (formType: string, items: ReadonlyArray<string>) => {
    const filing = { formType, cik: "0000123456", accession: "0000123456-25-000001", items, companyName: "ACME CORP" }
    return {
      ...newsItem("sec-1", secTitle({ ...filing, role: "Filer", filed: null }), filing),
      summary: "Filed: 2025-12-12 AccNo: 0000123456-25-000001 Size: 260 KB"
    }
  }

  it.effect(
    "never score: a 13D's \"(activist stake)\" and the items' captions in words leave only the item rules",
    () =>
      Effect.gen(function* () {
        const classifier = yield* Classifier
        // The form's own name scores as it always did; the bot's "(activist stake)" adds nothing.
        expect(classifier.keywords(titled("SCHEDULE 13D", [])).matched).toEqual(["schedule 13d"])
        expect(classifier.keywords(titled("8-K", ["1.03", "3.01"])).matched).toEqual(["item 1.03", "item 3.01"])
      }).pipe(Effect.provide(keywordsOnly))
  )
})

/** One poll of the world's SEC feed over `filings`, and what it did with each. */
const pollFilings = (
  build: (companies: ReadonlyArray<World.Company>) => ReadonlyArray<FakeSec.FakeFiling>,
  overrides: Record<string, string | number> = {}
) =>
  Effect.gen(function* () {
    const world = yield* World.make()
    const updated = new Date(Date.now() - 5 * 3_600_000 - 60_000).toISOString().slice(0, 19) + "-05:00"
    const filings = build(World.companies).map((filing) => ({ ...filing, updated }))
    world.sec.setFilings(filings)
    const debug: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      if (logLevel === LogLevel.Debug) debug.push(String(Array.isArray(message) ? message.join(" ") : message))
    })
    const result = yield* Effect.gen(function* () {
      const result = yield* (yield* Runner).runCycle
      yield* (yield* Delivery).awaitSettled(0, Duration.seconds(30))
      return result
    }).pipe(
      Effect.provide(worldBot(world, overrides)),
      Effect.provide(Logger.add(logger)),
      Logger.withMinimumLogLevel(LogLevel.Debug)
    )
    if (result._tag !== "Completed") throw new Error(`cycle did not complete: ${JSON.stringify(result)}`)
    const embeds = world
      .alerts()
      .map(
        (message) =>
          (message.payload["embeds"] as Array<{ title: string; fields: Array<{ name: string; value: string }> }>)[0]!
      )
    return { outcomes: result.summary.outcomes, embeds, debug }
  })

const embedOf = (
  embeds: ReadonlyArray<{ title: string; fields: ReadonlyArray<{ name: string; value: string }> }>,
  ticker: string
) => embeds.find((embed) => embed.title.includes(`${ticker} `))

const fieldOf = (embed: { fields: ReadonlyArray<{ name: string; value: string }> } | undefined, name: string) =>
  embed?.fields.find((field) => field.name === name)?.value

describe("a filing's documents in the pipeline", () => {
  it.live(
    "an 8.01 alerts on its EX-99.1 text; one without a readable exhibit is decided on its neutral item rule and filtered",
    () =>
      Effect.gen(function* () {
        const { outcomes, embeds, debug } = yield* pollFilings((companies) => [
          {
            form: "8-K",
            accession: "0001800001-26-000101",
            updated: "",
            items: ["Item 8.01: Other Events", "Item 9.01: Financial Statements and Exhibits"],
            parties: [{ company: companies[1]!.name.toUpperCase(), cik: companies[1]!.cik, role: "Filer" }],
            exhibits: [
              {
                name: "ex99-1.htm",
                body: FakeSec.exhibitHtml(`${companies[1]!.name} Receives FDA Approval`, [
                  `${companies[1]!.name} today announced FDA approval of its lead candidate.`
                ])
              }
            ]
          },
          {
            form: "8-K",
            accession: "0001800002-26-000102",
            updated: "",
            items: ["Item 8.01: Other Events"],
            parties: [{ company: companies[2]!.name.toUpperCase(), cik: companies[2]!.cik, role: "Filer" }],
            exhibits: [{ name: "ex99-1.htm", body: null }]
          }
        ])
        const approved = embedOf(embeds, World.companies[1]!.ticker)
        expect(fieldOf(approved, "Category")).toContain("fda\\_approval")
        expect(fieldOf(approved, "Press release (EX-99.1)")).toBe("ex99-1.htm: matched fda approval")
        expect(approved?.title).toContain("Items 8.01 Other Events, 9.01 Financial Statements and Exhibits")
        expect(approved?.title).not.toMatch(/\(\d{10}\)|\(Filer\)/)
        const silent = outcomes.find((outcome) => outcome.title.includes(World.companies[2]!.name.toUpperCase()))
        expect(silent).toMatchObject({ outcome: "filtered" })
        expect(debug.filter((line) => line.includes("0001800002-26-000102"))).toHaveLength(1)
        expect(debug.find((line) => line.includes("0001800002-26-000102"))).toMatch(/EX-99.1 text left empty/)
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a 13D carries its stake, a 424B5 its terms; a cover page without numbers or a 404 leaves the fields empty and still alerts",
    () =>
      Effect.gen(function* () {
        const [_, holder, offerer, vague, missing] = World.companies
        const party = (company: World.Company, role = "Filer") => ({
          company: company.name.toUpperCase(),
          cik: company.cik,
          role
        })
        const { outcomes, embeds, debug } = yield* pollFilings(
          () => [
            {
              form: "SCHEDULE 13D",
              accession: "0001900001-26-000201",
              updated: "",
              parties: [party(holder!, "Subject"), { company: "RAIDER CAPITAL LP", cik: 1900001, role: "Filed by" }],
              primaryDocument: {
                name: "primary_doc.xml",
                body: FakeSec.schedule13dXml({
                  subject: holder!.name,
                  subjectCik: holder!.cik,
                  persons: [{ name: "Raider Capital LP", shares: 2_000_000, percent: "8.2" }]
                })
              }
            },
            {
              form: "424B5",
              accession: "0001800003-26-000202",
              updated: "",
              parties: [party(offerer!)],
              primaryDocument: {
                name: "d424b5.htm",
                body: FakeSec.offeringCoverHtml({
                  company: offerer!.name,
                  shares: 3_000_000,
                  price: "2.00",
                  warrants: 3_000_000,
                  outstandingBefore: 15_000_000
                })
              }
            },
            {
              form: "424B5",
              accession: "0001800004-26-000203",
              updated: "",
              parties: [party(vague!)],
              primaryDocument: {
                name: "d424b5.htm",
                body: "<html><body><p>PROSPECTUS SUPPLEMENT</p><p>Registered direct offering of common stock.</p></body></html>"
              }
            },
            {
              form: "SCHEDULE 13D",
              accession: "0001900002-26-000204",
              updated: "",
              parties: [party(missing!, "Subject")],
              primaryDocument: { name: "primary_doc.xml", body: null }
            }
          ],
          { MIN_SCORE: 0 }
        )
        expect(fieldOf(embedOf(embeds, holder!.ticker), "Stake")).toBe(
          `Raider Capital LP in ${holder!.name}: 8.2% of class (2,000,000 shares)`
        )
        expect(embedOf(embeds, holder!.ticker)?.title).toContain("Schedule 13D (activist stake)")
        expect(fieldOf(embedOf(embeds, offerer!.ticker), "Offering")).toBe(
          "size unknown · price $2/share · shares 3,000,000 · warrants for 3,000,000 shares · dilution 20% of 15,000,000 outstanding"
        )
        expect(embedOf(embeds, vague!.ticker)).toBeDefined()
        expect(fieldOf(embedOf(embeds, vague!.ticker), "Offering")).toBeUndefined()
        expect(debug.filter((line) => line.includes("0001800004-26-000203"))).toEqual([
          expect.stringContaining("cover page states no terms")
        ])
        expect(embedOf(embeds, missing!.ticker)).toBeDefined()
        expect(fieldOf(embedOf(embeds, missing!.ticker), "Stake")).toBeUndefined()
        expect(outcomes.filter((outcome) => outcome.outcome === "failed")).toEqual([])
      }).pipe(Effect.scoped),
    120_000
  )
})

describe("stdout cards", () => {
  it("show the stake, the offering terms and the exhibit read", () => {
    const alert = {
      item: { title: "Schedule 13D (activist stake): ACME", source: "SEC", published: null, link: "" },
      ticker: { symbol: "ACME", exchange: null },
      classification: {
        categories: [],
        score: 1,
        sentiment: 0,
        negative: false,
        matched: [],
        llm: { _tag: "Skipped", reason: "" }
      },
      market: { _tag: "UnknownSymbol", symbol: "ACME" },
      ownership: { filer: "Raider Capital LP", subject: "Acme", percentOfClass: null, shares: null },
      offering: {
        sizeUsd: 25_000_000,
        pricePerShare: null,
        shares: null,
        warrants: null,
        sharesOutstanding: null,
        dilutionPct: null
      },
      exhibit: { document: "ex99-1.htm", matched: [] }
    } as unknown as Alert
    const card = renderCard(alert)
    expect(card).toContain("stake: Raider Capital LP in Acme: percent of class unknown")
    expect(card).toContain("offering: size $25.0M · price unknown · shares unknown · dilution unknown")
    expect(card).toContain("EX-99.1 ex99-1.htm: nothing more scored")
  })
})
