import { Effect, type Fiber, Option } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import { formInWords, itemInWords } from "../Feeds/SecEntry.js"
import { compile, itemNumbers, type KeywordResult, loadFile, shipped } from "./Keywords.js"
import { FilingDetails, type Rescore } from "./FilingDetails.js"
import { LlmAnalyst } from "./LlmAnalyst.js"
import type { Classification, ClassifiedItem, LlmVerdict, NormalizedItem } from "../Kernel/Domain.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

/**
 * A filing's title names its form and items in words ("Schedule 13D (activist stake)", "1.01 Entry into
 * a Material Definitive Agreement"), words the bot wrote, not the filer: they never score.
 */
const titleText = (item: NormalizedItem): string => {
  if (item.sec === undefined) return item.title
  let title = item.title.replace(formInWords(item.sec.formType), item.sec.formType)
  for (const number of itemNumbers(item.sec.items)) title = title.replace(itemInWords(number), number)
  return title
}

/**
 * The LLM refines the keyword result rather than replacing it: a material verdict adds its
 * confidence to the score and its category; an immaterial one, given with confidence, halves it.
 * Sentiment is the mean of both opinions.
 */
export const combine = (keywords: KeywordResult, llm: LlmVerdict): Classification => {
  if (llm._tag !== "Analysed") return { ...keywords, llm }
  const { analysis } = llm
  const score = analysis.is_material
    ? keywords.score + analysis.confidence
    : analysis.confidence >= 0.7
      ? keywords.score / 2
      : keywords.score
  const sentiment = (keywords.sentiment + analysis.sentiment) / 2
  return {
    categories:
      analysis.is_material && !keywords.categories.includes(analysis.category)
        ? [...keywords.categories, analysis.category]
        : keywords.categories,
    score: Math.round(score * 100) / 100,
    sentiment: Math.round(sentiment * 100) / 100,
    negative: keywords.negative || (analysis.is_material && analysis.sentiment < 0),
    matched: keywords.matched,
    llm
  }
}

export interface ClassifiedBatch {
  readonly items: ReadonlyArray<ClassifiedItem>
  /** Operator-facing lines for the cycle summary: LLM budget, fallbacks, breaker. */
  readonly notes: ReadonlyArray<string>
  /**
   * With `postFirst`: the reads of filings' documents still running, by item id; each fiber ends with
   * the item as its documents make it. Absent otherwise: `items` already carry what was read in time.
   */
  readonly documents?: ReadonlyMap<string, Fiber.Fiber<ClassifiedItem>>
}

/** Decides which items are catalysts, and of what kind: keywords first, then the optional LLM. */
export class Classifier extends Effect.Service<Classifier>()("Classification/Classifier", {
  effect: Effect.gen(function* () {
    const { classify: settings } = yield* AppConfig
    const keywordsFile = yield* Option.match(settings.keywordsFile, { onNone: () => shipped, onSome: loadFile })
    const engine = compile(keywordsFile)
    const analyst = yield* LlmAnalyst
    const filingDetails = yield* FilingDetails

    const keywordsOf = (item: NormalizedItem, documentText = "") =>
      engine.classify(`${titleText(item)}\n${item.summary}${documentText === "" ? "" : `\n${documentText}`}`, item.sec)

    /** LLM_MODE=enrich: the alert goes out on keywords now; Delivery's follow-up runs the LLM and edits it. */
    const deferToFollowUp = (
      requests: ReadonlyArray<{ readonly item: NormalizedItem; readonly keywords: KeywordResult }>
    ) => {
      const verdicts = requests.map(({ keywords }): LlmVerdict =>
        keywords.score >= settings.llmMinKeywordScore
          ? { _tag: "Pending", reason: "LLM_MODE=enrich: the verdict is edited in when it arrives" }
          : {
              _tag: "Skipped",
              reason: `keyword score ${keywords.score} below LLM_MIN_KEYWORD_SCORE ${settings.llmMinKeywordScore}`
            }
      )
      const pending = verdicts.filter((verdict) => verdict._tag === "Pending").length
      return {
        verdicts,
        notes: [`LLM_MODE=enrich: ${pending} item(s) go out on keywords, their LLM verdict follows as an edit`]
      }
    }

    const classifyWith = (items: ReadonlyArray<NormalizedItem>, deferLlm: boolean) =>
      Effect.gen(function* () {
        const requests = items.map((item) => ({ item, keywords: keywordsOf(item) }))
        const { verdicts, notes } =
          deferLlm && analyst.enabled ? deferToFollowUp(requests) : yield* analyst.analyse(requests)
        const classified = requests.map(({ item, keywords }, index): ClassifiedItem => ({
          item,
          classification: combine(keywords, verdicts[index] ?? { _tag: "Skipped", reason: "not analysed" })
        }))
        return { items: classified, notes } satisfies ClassifiedBatch
      })

    /** The verdict again with a document's text read too (an 8-K's EX-99.1); the LLM verdict stays as it was. */
    const withDocumentText: Rescore = (entry, text) => {
      const keywords = keywordsOf(entry.item, text)
      return {
        classification: combine(keywords, entry.classification.llm),
        matched: keywords.matched.filter((phrase) => !entry.classification.matched.includes(phrase))
      }
    }

    /**
     * The pipeline's stage: with LLM_MODE=enrich the LLM verdict is left to the follow-up (`Pending`).
     * Filings then get what their documents say (FilingDetails), within SEC_DOCUMENT_WAIT_SECONDS; with
     * `postFirst` the reads are only started, and returned in `documents` for the caller to await or edit in.
     */
    const classifyBatch = Effect.fn("Classifier.classifyBatch")(function* (
      items: ReadonlyArray<NormalizedItem>,
      options?: { readonly postFirst?: boolean }
    ): Effect.fn.Return<ClassifiedBatch> {
      const batch = yield* classifyWith(items, settings.llmMode === "enrich")
      if (options?.postFirst === true) {
        return {
          ...batch,
          documents: yield* filingDetails.start(batch.items, withDocumentText)
        } satisfies ClassifiedBatch
      }
      return { ...batch, items: yield* filingDetails.attach(batch.items, withDocumentText) } satisfies ClassifiedBatch
    })

    /** The LLM stage alone, over the keyword results alerts went out with: the follow-up of LLM_MODE=enrich. */
    const followUp = Effect.fn("Classifier.followUp")(function* (
      requests: ReadonlyArray<{ readonly item: NormalizedItem; readonly keywords: KeywordResult }>
    ) {
      const { verdicts } = yield* analyst.analyse(requests)
      return requests.map(({ keywords }, index) =>
        combine(keywords, verdicts[index] ?? { _tag: "Unavailable", reason: "not analysed" })
      )
    })

    return {
      classifyBatch,
      followUp,
      /** Keywords and the LLM together, whatever LLM_MODE says: `catalyst-bot classify` shows the whole verdict. */
      classify: (items: ReadonlyArray<NormalizedItem>) =>
        Effect.map(classifyWith(items, false), (batch) => batch.items).pipe(Effect.withSpan("Classifier.classify")),
      keywords: (item: NormalizedItem) => keywordsOf(item)
    } as const
  }),
  dependencies: [AppConfig.Default, LlmAnalyst.Default, FilingDetails.Default]
}) {
  static readonly Test = makeTestLayer(Classifier)
}
