import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Classifier } from "../src/Classification/Classifier.js"
import { FilingDetails } from "../src/Classification/FilingDetails.js"
import { compile, loadFile, shipped } from "../src/Classification/Keywords.js"
import { LlmAnalyst } from "../src/Classification/LlmAnalyst.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { makeTestLayer } from "../src/Kernel/TestLayer.js"
import { newsItem } from "./support/Alerts.js"
import { configLayer } from "./support/TestLayers.js"

const shippedFile = Effect.runSync(shipped)
const engine = compile(shippedFile)

/** What the classifier sees for an SEC item: the headline, then SEC's getcurrent summary with one line per item. */
const secText = (items: ReadonlyArray<readonly [number: string, caption: string]>) =>
  `8-K: ACME CORP — Items ${items.map(([number]) => number).join(", ")}\n` +
  `Filed: 2025-12-12 AccNo: 0001171843-25-007909 Size: 260 KB ` +
  items.map(([number, caption]) => `Item ${number}: ${caption}`).join(" ")

const caption = (number: string) => shippedFile.secItems[number]?.caption ?? ""

/** Each item alone, as a trader would read it: its category, and whether it reads good (+), bad (-) or neutral (0). */
const verdicts: ReadonlyArray<readonly [string, string | null, "+" | "-" | "0"]> = [
  ["1.01", "material_agreement", "+"],
  ["1.02", "agreement_terminated", "-"],
  ["1.03", "bankruptcy", "-"],
  ["1.04", "mine_safety", "-"],
  ["1.05", "cybersecurity_incident", "-"],
  ["2.01", "acquisition_completed", "+"],
  ["2.02", "results", "0"],
  ["2.03", "debt_financing", "-"],
  ["2.04", "debt_acceleration", "-"],
  ["2.05", "restructuring", "-"],
  ["2.06", "impairment", "-"],
  ["3.01", "delisting", "-"],
  ["3.02", "offering", "-"],
  ["3.03", "holder_rights_change", "-"],
  ["4.01", "auditor_change", "-"],
  ["4.02", "restatement", "-"],
  ["5.01", "change_in_control", "+"],
  ["5.02", "management_change", "0"],
  ["5.03", null, "0"],
  ["5.04", null, "0"],
  ["5.05", null, "0"],
  ["5.06", "shell_status_change", "+"],
  ["5.07", null, "0"],
  ["5.08", null, "0"],
  ["6.01", null, "0"],
  ["6.02", null, "0"],
  ["6.03", null, "0"],
  ["6.04", null, "0"],
  ["6.05", null, "0"],
  ["7.01", null, "0"],
  ["8.01", null, "0"],
  ["9.01", null, "0"]
]

describe("8-K items", () => {
  it("the table covers every shipped item rule", () => {
    expect(verdicts.map(([number]) => number)).toEqual(Object.keys(shippedFile.secItems))
  })

  for (const [number, category, sign] of verdicts) {
    it(`Item ${number} → ${category ?? "nothing by itself"} (${sign})`, () => {
      const result = engine.classify(secText([[number, caption(number)]]), { items: [number] })
      expect(result.categories).toEqual(category === null ? [] : [category])
      if (sign === "+") expect(result.sentiment).toBeGreaterThan(0)
      if (sign === "-") expect(result.sentiment).toBeLessThan(0)
      if (sign === "0") expect(result.sentiment).toBe(0)
    })
  }

  it("the strongly negative items outweigh the merely negative ones", () => {
    const score = (number: string) => engine.classify(secText([[number, caption(number)]]), { items: [number] }).score
    for (const strong of ["1.03", "4.02"]) {
      for (const weaker of ["3.01", "3.02"]) expect(score(strong)).toBeGreaterThan(score(weaker))
      expect(score(strong)).toBeGreaterThan(3)
    }
    expect(score("2.02")).toBe(0)
    expect(score("9.01")).toBe(0)
  })

  it("no caption ever scores as a keyword, on SEC's lines or quoted in prose", () => {
    for (const [number, rule] of Object.entries(shippedFile.secItems)) {
      expect(engine.classify(`Acme Corp: ${rule.caption}.`).categories, number).toEqual([])
      const line = engine.classify(secText([[number, rule.caption]]), { items: ["9.01"] })
      expect(line.categories, number).toEqual([])
    }
    // SEC shortens long captions on its getcurrent lines; the whole line is still the caption.
    expect(
      engine.classify(secText([["2.03", "Creation of a Direct Financial Obligation, Acquisition Financing"]]), {
        items: []
      }).categories
    ).toEqual([])
  })

  it("without the masking the captions would score: the masking is what keeps them out", () => {
    const unmasked = compile({ ...shippedFile, secItems: {} })
    expect(unmasked.classify(`Acme Corp: ${caption("1.01")}`).categories).toContain("acquisition")
    expect(unmasked.classify(`Acme Corp: ${caption("3.01")}`).categories).toContain("delisting")
  })

  it("text beyond the captions still scores, and an item and a keyword on one category count once", () => {
    const filing = { items: ["8.01", "9.01"] }
    const text = `Acme Receives FDA Approval for Widget\n${secText([
      ["8.01", caption("8.01")],
      ["9.01", caption("9.01")]
    ])}`
    expect(engine.classify(text, filing).categories).toEqual(["fda_approval"])
    const bankrupt = engine.classify(`Acme Files for Chapter 11\n${secText([["1.03", caption("1.03")]])}`, {
      items: ["Item 1.03: Bankruptcy or Receivership"]
    })
    expect(bankrupt.categories).toEqual(["bankruptcy"])
    expect(bankrupt.score).toBe(3.5)
    expect(bankrupt.matched).toContain("chapter 11")
    expect(bankrupt.matched).toContain("item 1.03")
  })

  it.effect("users tune item rules in KEYWORDS_FILE like keywords, and a bad item number is named", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "keywords-"))
      const good = join(dir, "good.json")
      writeFileSync(
        good,
        JSON.stringify({
          negations: [],
          categories: [{ name: "moon", weight: 5, sentiment: 1, phrases: ["to the moon"] }],
          secItems: {
            "1.01": { caption: "Entry into a Material Definitive Agreement", category: "deal", weight: 4, sentiment: 1 }
          }
        })
      )
      const custom = compile(yield* loadFile(good))
      expect(custom.classify(secText([["1.01", caption("1.01")]]), { items: ["1.01"] })).toMatchObject({
        categories: ["deal"],
        score: 4
      })
      const bad = join(dir, "bad.json")
      writeFileSync(
        bad,
        JSON.stringify({
          negations: [],
          categories: [{ name: "moon", weight: 5, sentiment: 1, phrases: ["to the moon"] }],
          secItems: { "1.1": { caption: "Entry" } }
        })
      )
      const error = yield* Effect.flip(loadFile(bad))
      expect(error.message).toContain(`KEYWORDS_FILE ${bad}`)
      expect(error.message).toContain("1.01")
    })
  )

  it.effect("the Classifier scores an SEC item by its items, not by the captions in its summary", () =>
    Effect.gen(function* () {
      const filing = {
        formType: "8-K",
        cik: "0000123456",
        accession: "0000123456-25-000001",
        items: ["1.01", "9.01"],
        companyName: "ACME CORP"
      }
      const item = {
        ...newsItem("sec-1", "8-K: ACME CORP — Items 1.01, 9.01", filing),
        summary: `Filed: 2025-12-12 AccNo: 0000123456-25-000001 Size: 260 KB Item 1.01: ${caption("1.01")} Item 9.01: ${caption("9.01")}`
      }
      const classifier = yield* Classifier
      const [classified] = yield* classifier.classify([item])
      expect(classified?.classification.categories).toEqual(["material_agreement"])
      expect(classified?.classification.score).toBe(1)
    }).pipe(
      Effect.provide(
        Classifier.DefaultWithoutDependencies.pipe(
          Layer.provide(
            makeTestLayer(LlmAnalyst)({
              analyse: (requests) =>
                Effect.succeed({
                  verdicts: requests.map(() => ({ _tag: "Skipped" as const, reason: "test" })),
                  notes: []
                })
            })
          ),
          Layer.provide(FilingDetails.Test({})),
          Layer.provide(AppConfig.Default),
          Layer.provide(configLayer({}))
        )
      )
    )
  )
})
