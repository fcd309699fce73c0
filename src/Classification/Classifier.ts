import { Effect, Option } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import { compile, type KeywordResult, loadFile, shipped } from "./Keywords.js"
import { LlmAnalyst } from "./LlmAnalyst.js"
import type { Classification, ClassifiedItem, LlmVerdict, NormalizedItem } from "../Kernel/Domain.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

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
}

/** Decides which items are catalysts, and of what kind: keywords first, then the optional LLM. */
export class Classifier extends Effect.Service<Classifier>()("Classification/Classifier", {
  effect: Effect.gen(function* () {
    const { classify: settings } = yield* AppConfig
    const keywordsFile = yield* Option.match(settings.keywordsFile, { onNone: () => shipped, onSome: loadFile })
    const engine = compile(keywordsFile)
    const analyst = yield* LlmAnalyst

    const keywordsOf = (item: NormalizedItem) => engine.classify(`${item.title}\n${item.summary}`, item.sec)

    const classifyBatch = Effect.fn("Classifier.classifyBatch")(function* (items: ReadonlyArray<NormalizedItem>) {
      const requests = items.map((item) => ({ item, keywords: keywordsOf(item) }))
      const { verdicts, notes } = yield* analyst.analyse(requests)
      const classified = requests.map(({ item, keywords }, index): ClassifiedItem => ({
        item,
        classification: combine(keywords, verdicts[index] ?? { _tag: "Skipped", reason: "not analysed" })
      }))
      return { items: classified, notes } satisfies ClassifiedBatch
    })

    return {
      classifyBatch,
      classify: (items: ReadonlyArray<NormalizedItem>) => Effect.map(classifyBatch(items), (batch) => batch.items),
      keywords: keywordsOf
    } as const
  }),
  dependencies: [AppConfig.Default, LlmAnalyst.Default]
}) {
  static readonly Test = makeTestLayer(Classifier)
}
