import { describe, expect, it } from "@effect/vitest"
import { Array as Arr, Effect, Exit } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { compile, type KeywordEngine, loadFile, shipped } from "../src/Classification/Keywords.js"

const shippedFile = Effect.runSync(shipped)
type Category = (typeof shippedFile.categories)[number]
const engine = compile(shippedFile)

/** Real-style headlines with the categories a trader would file them under; [] means "no catalyst". */
const table: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["Acme Therapeutics Receives FDA Approval for ACM-101 in Rare Epilepsy", ["fda_approval"]],
  ["Beta Medical Announces FDA 510(k) Clearance of Its Wearable Glucose Monitor", ["fda_approval"]],
  ["Gamma Bio Granted FDA Breakthrough Therapy Designation for GB-7", ["fda_approval"]],
  ["Delta Pharma Receives Complete Response Letter from FDA for DP-3", ["fda_setback"]],
  ["Epsilon Announces Positive Topline Results from Phase 3 Trial of EPS-2", ["clinical_results"]],
  ["Zeta Oncology Phase 2 Trial Met Its Primary Endpoint With Statistical Significance", ["clinical_results"]],
  ["Eta Bio Phase 2 Study Did Not Meet Its Primary Endpoint", ["clinical_failure"]],
  ["Theta Robotics Announces Strategic Partnership with Global Logistics Leader", ["partnership"]],
  ["Iota Systems Signs Multi-Year Supply Agreement with Tier-1 Automaker", ["partnership"]],
  ["Kappa Defense Awarded $12.5 Million Contract by the U.S. Army", ["government_contract"]],
  ["Lambda Space Wins NASA Contract for Lunar Lander Components", ["government_contract"]],
  ["Mu Corp Enters into Definitive Agreement to Be Acquired by Nu Holdings for $4.20 per Share", ["acquisition"]],
  ["Xi Energy Completes Acquisition of Omicron Solar Assets", ["acquisition"]],
  ["Pi Imaging Launches Next-Generation Data Acquisition System", []],
  ["Rho Software Cuts Customer Acquisition Cost by 30% With New Platform", []],
  ["Sigma Mining Approved for Listing on the Nasdaq Capital Market", ["uplisting"]],
  ["Tau Holdings Announces Uplisting to NYSE American", ["uplisting"]],
  ["Upsilon Inc. Regains Compliance with Nasdaq Minimum Bid Price Requirement", ["compliance_regained"]],
  ["Phi Biotech Receives Nasdaq Deficiency Notice Regarding Minimum Bid Price Requirement", ["delisting"]],
  ["Chi Retail Receives Notice of Delisting from NYSE", ["delisting"]],
  ["Psi Semiconductor Reports Record Revenue and Raises Full-Year Guidance", ["earnings_beat", "guidance_raise"]],
  ["Omega Foods Third Quarter EPS Beats Estimates", ["earnings_beat"]],
  ["Alpha Apparel Lowers Guidance Amid Weak Demand", ["guidance_cut"]],
  ["Bravo Devices Granted U.S. Patent for Solid-State Battery Design", ["patent"]],
  ["Charlie Tech Files Patent Infringement Lawsuit Against Rival", []],
  ["Delta Air Taxi Board Authorizes $50 Million Share Repurchase Program", ["buyback"]],
  ["Echo Bio Announces Pricing of $15 Million Underwritten Public Offering", ["offering"]],
  ["Foxtrot Labs Announces $5 Million Registered Direct Offering Priced At-the-Market", ["offering"]],
  ["Golf Cloud Expands Product Offering With AI Analytics Suite", []],
  ["Hotel Networks Launches New Managed Service Offering for Mid-Market Banks", []],
  ["India Therapeutics Secures $20 Million Non-Dilutive Funding From BARDA", ["government_contract"]],
  ["Juliet Pharma Announces Exercise of Warrants for $6 Million Gross Proceeds", ["warrants"]],
  ["Kilo Minerals Announces 1-for-20 Reverse Stock Split", ["reverse_split"]],
  ["Lima Energy Says It Does Not Expect a Reverse Split This Year", []],
  ["Mike Retail Auditor Raises Substantial Doubt About Ability to Continue as a Going Concern", ["going_concern"]],
  ["November Corp 10-K Contains No Going Concern Qualification for the First Time in Three Years", []],
  ["Oscar Bio Removes Going Concern Warning After $40 Million Financing", []],
  ["Papa Airlines Files Voluntary Petition for Chapter 11 Bankruptcy Protection", ["bankruptcy"]],
  ["Quebec Shipping Emerges from Chapter 11 With Strengthened Balance Sheet", ["emergence"]],
  ["Romeo Foods Reports Quarterly Results in Line With Expectations", []],
  ["Sierra Gold Announces Management Changes", []],
  ["Tango Limited Partnership Units Begin Trading", []],
  ["Uniform Health Company With No Debt Announces $10 Million Public Offering", ["offering"]],
  ["Victor Bio: FDA Approves Label Expansion; Company Avoids Dilution", ["fda_approval"]],
  ["Whiskey Bio Receives Fast Track Designation for WB-1 in ALS", ["fda_approval"]],
  ["X-Ray Bancorp Declares Special Dividend of $0.50 per Share", ["dividend"]],
  ["Yankee Gold Intersects 12.4 g/t Gold Over 8.0 Meters in New Discovery Hole", ["resource_discovery"]],
  ["Zulu Lithium Reports Drill Results Including 42 m of High-Grade Mineralization", ["resource_discovery"]],
  ["Alpha Bio Expands Its AI Drug Discovery Platform", ["artificial_intelligence"]],
  ["Bravo Holdings Adopts Bitcoin Treasury Strategy", ["crypto_treasury"]],
  ["Charlie Mining Purchases Bitcoin Worth $20 Million as Treasury Reserve Asset", ["crypto_treasury"]],
  ["Delta Software Launches AI Agents for Insurance Claims", ["artificial_intelligence"]],
  ["Echo Capital, an Activist Investor, Takes Stake in Foxtrot Foods and Seeks Board Seats", ["activist_stake"]],
  ["Golf Industries Announces Review of Strategic Alternatives", ["strategic_review"]],
  ["Hotel Group Concludes Strategic Review and Remains Independent", []],
  ["India Corp Board Approves Spin-Off of Its Medical Devices Unit", ["spin_off"]],
  ["Juliet Retail Will Restate Financial Statements for Fiscal 2024", ["restatement"]],
  ["Kilo Holdings Files Amended and Restated Bylaws", []],
  ["Lima Pharma Receives Wells Notice From SEC Staff", ["sec_investigation"]],
  ["Mike Energy Discloses SEC Investigation Into Revenue Recognition", ["sec_investigation"]],
  ["November Foods Unveils Holiday Offering of Seasonal Treats", []],
  ["Oscar Telecom Broadens Its Product and Service Offerings for Small Business", []],
  ["Papa Restaurants Now Offering Free Delivery Nationwide", []]
]

const verdicts = (keywords: KeywordEngine) => table.map(([headline]) => keywords.classify(headline).categories)

describe("keyword classifier", () => {
  it("the table reaches every shipped category", () => {
    const reached = new Set(verdicts(engine).flat())
    expect(shippedFile.categories.map((category) => category.name).filter((name) => !reached.has(name))).toEqual([])
  })

  it("the table depends on every rule: without negations, look-alikes or unless phrases some headline changes", () => {
    const verdictsWith = (negations: ReadonlyArray<string>, rules: Partial<Pick<Category, "exclude" | "unless">>) =>
      verdicts(
        compile({
          ...shippedFile,
          negations,
          categories: Arr.map(shippedFile.categories, (category) => ({ ...category, ...rules }))
        })
      )
    const expected = verdicts(engine)
    expect(verdictsWith([], {})).not.toEqual(expected)
    expect(verdictsWith(shippedFile.negations, { exclude: [] })).not.toEqual(expected)
    expect(verdictsWith(shippedFile.negations, { unless: [] })).not.toEqual(expected)
  })

  for (const [headline, expected] of table) {
    it(`${headline} → ${expected.join(", ") || "no catalyst"}`, () => {
      const result = engine.classify(headline)
      expect([...result.categories].sort()).toEqual([...expected].sort())
      expect(result.score > 0).toBe(expected.length > 0)
    })
  }

  it("reports score, sentiment in -1..1, the negative flag and the matched phrases", () => {
    const good = engine.classify("Acme Receives FDA Approval for Widget")
    expect(good).toEqual({
      categories: ["fda_approval"],
      score: 3,
      sentiment: 0.9,
      negative: false,
      matched: ["fda approval"]
    })
    const bad = engine.classify("Acme Announces Public Offering and 1-for-10 Reverse Stock Split")
    expect(bad.negative).toBe(true)
    expect(bad.sentiment).toBeLessThan(0)
    expect(bad.sentiment).toBeGreaterThanOrEqual(-1)
    expect(bad.score).toBe(4)
    expect(bad.matched).toEqual(["public offering", "reverse stock split"])
  })

  it("matches whole words only, case-insensitively", () => {
    expect(engine.classify("PARTNERSHIP with acme").categories).toEqual(["partnership"])
    expect(engine.classify("Acme unveils its Partnerships page").categories).toEqual([])
    expect(engine.classify("Warrantsville mayor visits plant").categories).toEqual([])
  })

  it.effect("reads a replacement KEYWORDS_FILE and names a bad one", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "keywords-"))
      const good = join(dir, "good.json")
      writeFileSync(
        good,
        JSON.stringify({
          negations: [],
          categories: [{ name: "moon", weight: 5, sentiment: 1, phrases: ["to the moon"] }]
        })
      )
      const custom = compile(yield* loadFile(good))
      expect(custom.classify("Stock Goes To The Moon").categories).toEqual(["moon"])
      expect(custom.classify("Acme Receives FDA Approval").categories).toEqual([])

      const bad = join(dir, "bad.json")
      writeFileSync(
        bad,
        JSON.stringify({ negations: [], categories: [{ name: "x", weight: -1, sentiment: 3, phrases: [] }] })
      )
      const exit = yield* Effect.exit(loadFile(bad))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) expect(String(exit.cause)).toContain(`KEYWORDS_FILE ${bad}`)
      const missing = yield* Effect.flip(loadFile(join(dir, "missing.json")))
      expect(missing.message).toContain("missing.json")
    })
  )
})
