import { Effect } from "effect"
import { compile, type FilingContext, shipped } from "../src/Classification/Keywords.js"
import { type BenchReport, isMain, publish } from "./lib.js"

/**
 * Keyword classification with the 8-K Item rules (captions masked, Items scored), then with the
 * EX-99.1 text an 8-K 7.01/8.01 is read with, against the plain keyword pass without either, on the same mix of wire headlines and getcurrent 8-K lines. A full
 * getcurrent page is 100 entries a poll and a busy wire a few items a second; the floor is far above both.
 */

const ROUNDS = 200
const FLOOR_PER_SECOND = 1_000

const file = Effect.runSync(shipped)
const captions = Object.entries(file.secItems)

const wire = [
  "Acme Therapeutics Receives FDA Approval for ACM-101 in Rare Epilepsy",
  "Kappa Defense Awarded $12.5 Million Contract by the U.S. Army",
  "Yankee Gold Intersects 12.4 g/t Gold Over 8.0 Meters in New Discovery Hole",
  "Golf Cloud Expands Product Offering With AI Analytics Suite",
  "Echo Bio Announces Pricing of $15 Million Underwritten Public Offering",
  "Romeo Foods Reports Quarterly Results in Line With Expectations"
]

const corpus: ReadonlyArray<readonly [string, FilingContext | undefined]> = [
  ...wire.map(
    (title) => [`${title}\nNEW YORK (GLOBE NEWSWIRE) -- ${title}. The company said more.`, undefined] as const
  ),
  ...captions.map(([number, rule], i) => {
    const other = captions[(i + 7) % captions.length]!
    return [
      `8-K: ACME CORP ${i} — Items ${number}, ${other[0]}\nFiled: 2025-12-12 AccNo: 0001171843-25-00${1000 + i} Size: 260 KB Item ${number}: ${rule.caption} Item ${other[0]}: ${other[1].caption}`,
      { items: [number, other[0]] }
    ] as const
  })
]

/** A furnished press release (EX-99.1) of the length they usually run, read for 8-K items 7.01 and 8.01. */
const exhibit = [
  "Acme Corp Announces Strategic Collaboration With Beta Pharma to Develop Next-Generation Therapies.",
  "BOSTON, Dec. 12, 2025 -- Acme Corp today announced a strategic collaboration and license agreement with",
  "Beta Pharma under which Beta will receive exclusive worldwide rights. Under the terms of the agreement,",
  "Acme will receive an upfront payment of $25 million and is eligible for milestone payments.",
  "About Acme Corp: Acme is a clinical-stage company focused on rare diseases.",
  "Forward-Looking Statements: This press release contains forward-looking statements within the meaning of",
  "the Private Securities Litigation Reform Act of 1995, which involve risks and uncertainties."
]
  .join(" ")
  .repeat(3)

const captionless = new Set(["7.01", "8.01"])
const withExhibits = corpus.map(
  ([text, filing]) =>
    [filing?.items.some((item) => captionless.has(item)) === true ? `${text}\n${exhibit}` : text, filing] as const
)

const perSecond = (
  classify: (text: string, filing: FilingContext | undefined) => unknown,
  texts: ReadonlyArray<readonly [string, FilingContext | undefined]> = corpus
) => {
  for (const [text, filing] of texts) classify(text, filing)
  const started = performance.now()
  for (let round = 0; round < ROUNDS; round++) for (const [text, filing] of texts) classify(text, filing)
  return (ROUNDS * texts.length) / ((performance.now() - started) / 1000)
}

export const run = async (): Promise<BenchReport> => {
  const plain = compile({ ...file, secItems: {} })
  const withItems = compile(file)
  const baseline = perSecond((text) => plain.classify(text))
  const value = perSecond((text, filing) => withItems.classify(text, filing))
  const ratio = value / baseline
  const withExhibit = perSecond((text, filing) => withItems.classify(text, filing), withExhibits)
  const exhibitRatio = withExhibit / baseline
  return {
    name: "classify",
    figures: [
      {
        label: `keywords with 8-K Item rules, ${corpus.length} wire and 8-K texts`,
        value,
        unit: "items/s",
        baseline: { label: "keyword pass without Item rules", value: baseline },
        ratio,
        target: `>= 0.5x and >= ${FLOOR_PER_SECOND} items/s`,
        pass: ratio >= 0.5 && value >= FLOOR_PER_SECOND
      },
      {
        label: `keywords with 8-K Item rules and the EX-99.1 text of items 7.01/8.01 (${exhibit.length} chars)`,
        value: withExhibit,
        unit: "items/s",
        baseline: { label: "keyword pass without Item rules or exhibits", value: baseline },
        ratio: exhibitRatio,
        target: `>= 0.5x and >= ${FLOOR_PER_SECOND} items/s`,
        pass: exhibitRatio >= 0.5 && withExhibit >= FLOOR_PER_SECOND
      }
    ]
  }
}

if (isMain(import.meta.url)) publish(await run())
