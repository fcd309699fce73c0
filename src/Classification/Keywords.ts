import { Data, Effect, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { describeProblems } from "../Kernel/DecodeProblems.js"
import shippedKeywords from "./keywords.json" with { type: "json" }

/**
 * The keyword classifier: categories and weights come from a data file (shipped `keywords.json`,
 * or KEYWORDS_FILE), so traders can tune them without touching code.
 *
 * Matching is case-insensitive, on word boundaries and phrase-aware. A match is dropped when:
 * - a negation ends within the few words before it ("no going concern", "removes going concern"),
 * - it lies inside one of the category's `exclude` look-alikes ("product offering"), or
 * - the text contains one of the category's `unless` phrases ("regains compliance" for delisting).
 *
 * A filing's 8-K items (Form 8-K General Instructions, https://www.sec.gov/files/form8-k.pdf) are
 * scored by the file's `secItems` rules instead: every 8-K carries its items' standard captions
 * ("Entry into a Material Definitive Agreement"), which would otherwise read as catalysts. The
 * captions are masked before keyword matching, so only what the text adds can score.
 */

export const KeywordCategory = Schema.Struct({
  name: Schema.NonEmptyString,
  weight: Schema.Number.pipe(Schema.positive()),
  sentiment: Schema.Number.pipe(Schema.between(-1, 1)),
  negative: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  phrases: Schema.NonEmptyArray(Schema.NonEmptyString),
  exclude: Schema.optionalWith(Schema.Array(Schema.NonEmptyString), { default: () => [] }),
  unless: Schema.optionalWith(Schema.Array(Schema.NonEmptyString), { default: () => [] })
})

/** An 8-K item: its standard caption (masked before matching) and, unless the item says nothing by itself, a verdict. */
export const SecItemRule = Schema.Struct({
  caption: Schema.NonEmptyString,
  category: Schema.optional(Schema.NonEmptyString),
  /** 0 names the category without scoring it: "results filed", not yet good or bad. */
  weight: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { default: () => 0 }),
  sentiment: Schema.optionalWith(Schema.Number.pipe(Schema.between(-1, 1)), { default: () => 0 }),
  negative: Schema.optionalWith(Schema.Boolean, { default: () => false })
})

export const KeywordsFile = Schema.Struct({
  negations: Schema.Array(Schema.NonEmptyString),
  categories: Schema.NonEmptyArray(KeywordCategory),
  secItems: Schema.optionalWith(
    Schema.Record({ key: Schema.String, value: SecItemRule }).pipe(
      Schema.filter((rules) => {
        const bad = Object.keys(rules).filter((number) => !/^\d{1,2}\.\d{2}$/.test(number))
        return bad.length === 0 || `secItems: 8-K item numbers look like 1.01, not ${bad.join(", ")}`
      })
    ),
    { default: () => ({}) }
  )
})
export type KeywordsFile = typeof KeywordsFile.Type

export interface KeywordResult {
  readonly categories: ReadonlyArray<string>
  /** Sum of the matched categories' weights: how big a catalyst this is, good or bad. */
  readonly score: number
  /** Weight-averaged sentiment of the matched categories, -1..1. */
  readonly sentiment: number
  readonly negative: boolean
  readonly matched: ReadonlyArray<string>
}

/** `reason` holds one problem per line; each line of the message names the variable and the file. */
export class KeywordsFileInvalid extends Data.TaggedError("KeywordsFileInvalid")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return this.reason
      .split("\n")
      .map((problem) => `KEYWORDS_FILE ${this.path}: ${problem}`)
      .join("\n")
  }
}

/** Words that may sit between a negation and what it negates. */
const FILLER_WORDS = new Set(
  "a an the any its their further need for of to planned proposed expected expect expects plan plans intend intends immediate".split(
    " "
  )
)

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Whole words or phrases only: "uplist" must not match inside "uplisted" unless listed; spaces match any run. */
const phrasePattern = (phrases: ReadonlyArray<string>) =>
  new RegExp(
    `(?<![\\p{L}\\p{N}])(?:${[...phrases]
      .sort((a, b) => b.length - a.length)
      .map((phrase) => escapeRegExp(phrase.trim()).replace(/\s+/g, "\\s+"))
      .join("|")})(?![\\p{L}\\p{N}])`,
    "giu"
  )

interface Span {
  readonly start: number
  readonly end: number
  readonly text: string
}

const spans = (pattern: RegExp, text: string): Array<Span> =>
  Array.from(text.matchAll(pattern), (match) => ({
    start: match.index,
    end: match.index + match[0].length,
    text: match[0]
  }))

interface CompiledCategory {
  readonly name: string
  readonly weight: number
  readonly sentiment: number
  readonly negative: boolean
  readonly phrases: RegExp
  readonly exclude: RegExp | null
  readonly unless: RegExp | null
}

/** What the classifier knows of a filing: its 8-K items ("1.01" or SEC's "Item 1.01: …" lines). */
export interface FilingContext {
  readonly items: ReadonlyArray<string>
}

export interface KeywordEngine {
  /** With a filing, its items are scored by their rules and SEC's item lines are masked. */
  readonly classify: (text: string, filing?: FilingContext) => KeywordResult
}

/** On SEC's getcurrent lines an item's caption runs from its number to the next item or the line's end. */
const itemLine = /\bItem\s+\d{1,2}\.\d{2}\b[^\n]*?(?=\bItem\s+\d{1,2}\.\d{2}\b|\n|$)/gi

/** "1.01", "Item 1.01" or "Item 1.01: Entry into …" → "1.01", once each. */
export const itemNumbers = (items: ReadonlyArray<string>): ReadonlyArray<string> =>
  Array.from(new Set(items.flatMap((item) => /\b(\d{1,2}\.\d{2})\b/.exec(item)?.[1] ?? [])))

export const compile = (file: KeywordsFile): KeywordEngine => {
  const negation =
    file.negations.length > 0
      ? new RegExp(
          `(?:^|\\s)(?:${file.negations.map((phrase) => escapeRegExp(phrase.trim().toLowerCase()).replace(/\s+/g, "\\s+")).join("|")})$`,
          "u"
        )
      : null
  const categories: ReadonlyArray<CompiledCategory> = file.categories.map((category) => ({
    name: category.name,
    weight: category.weight,
    sentiment: category.sentiment,
    negative: category.negative,
    phrases: phrasePattern(category.phrases),
    exclude: category.exclude.length > 0 ? phrasePattern(category.exclude) : null,
    unless: category.unless.length > 0 ? phrasePattern(category.unless) : null
  }))
  const itemRules = new Map(Object.entries(file.secItems))
  const captions = itemRules.size > 0 ? phrasePattern(Array.from(itemRules.values(), (rule) => rule.caption)) : null

  /** Captions and item lines become line breaks, so they neither match nor join the clauses around them. */
  const mask = (text: string, filing: FilingContext | undefined) => {
    const lines = filing === undefined ? text : text.replace(itemLine, "\n")
    return captions === null ? lines : lines.replace(captions, "\n")
  }

  /**
   * True when a negation precedes `start` in the same clause, separated from it only by filler
   * words: "no going concern", "not a going concern", "no need for a reverse split", but not
   * "with no debt announces public offering".
   */
  const isNegated = (text: string, start: number) => {
    if (negation === null) return false
    const clause =
      text
        .slice(0, start)
        .split(/[.;:!?()\n]/)
        .pop() ?? ""
    const words = clause
      .trim()
      .toLowerCase()
      .split(/\s+/)
      .filter((word) => word !== "")
    let k = words.length
    while (true) {
      if (negation.test(words.slice(0, k).join(" "))) return true
      const previous = words[k - 1]
      if (k === 0 || previous === undefined || !FILLER_WORDS.has(previous)) return false
      k -= 1
    }
  }

  const classify = (raw: string, filing?: FilingContext): KeywordResult => {
    const text = mask(raw, filing)
    const matchedCategories: Array<Pick<CompiledCategory, "name" | "weight" | "sentiment" | "negative">> = []
    const matched: Array<string> = []
    for (const category of categories) {
      if (category.unless !== null && spans(category.unless, text).length > 0) continue
      const lookAlikes = category.exclude === null ? [] : spans(category.exclude, text)
      const hits = spans(category.phrases, text).filter(
        (hit) =>
          !lookAlikes.some((lookAlike) => lookAlike.start < hit.end && hit.start < lookAlike.end) &&
          !isNegated(text, hit.start)
      )
      if (hits.length === 0) continue
      matchedCategories.push(category)
      for (const hit of hits) {
        const phrase = hit.text.toLowerCase().replace(/\s+/g, " ")
        if (!matched.includes(phrase)) matched.push(phrase)
      }
    }
    // An item and a keyword naming the same category count once, at the larger weight.
    for (const number of filing === undefined ? [] : itemNumbers(filing.items)) {
      const rule = itemRules.get(number)
      if (rule?.category === undefined) continue
      const verdict = { name: rule.category, weight: rule.weight, sentiment: rule.sentiment, negative: rule.negative }
      const known = matchedCategories.findIndex((category) => category.name === verdict.name)
      if (known < 0) matchedCategories.push(verdict)
      else if ((matchedCategories[known]?.weight ?? 0) < verdict.weight) matchedCategories[known] = verdict
      matched.push(`item ${number}`)
    }
    const score = matchedCategories.reduce((sum, category) => sum + category.weight, 0)
    const sentiment = score === 0 ? 0 : matchedCategories.reduce((sum, c) => sum + c.weight * c.sentiment, 0) / score
    return {
      categories: matchedCategories.map((category) => category.name),
      score: Math.round(score * 100) / 100,
      sentiment: Math.round(sentiment * 100) / 100,
      negative: matchedCategories.some((category) => category.negative) && sentiment < 0,
      matched
    }
  }

  return { classify }
}

const decodeKeywords = Schema.decodeUnknown(KeywordsFile, { errors: "all" })

export const shipped: Effect.Effect<KeywordsFile> = decodeKeywords(shippedKeywords).pipe(Effect.orDie)

/** Reads and validates a replacement keywords file; the error names the file and what is wrong. */
export const loadFile = (path: string): Effect.Effect<KeywordsFile, KeywordsFileInvalid> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) => new KeywordsFileInvalid({ path, reason: cause instanceof Error ? cause.message : String(cause) })
  }).pipe(
    Effect.flatMap((text) =>
      Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: (cause) =>
          new KeywordsFileInvalid({
            path,
            reason: `not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`
          })
      })
    ),
    Effect.flatMap((json) =>
      decodeKeywords(json).pipe(
        Effect.mapError((error) => new KeywordsFileInvalid({ path, reason: describeProblems(error, json).join("\n") }))
      )
    )
  )
