import * as LanguageModel from "@effect/ai/LanguageModel"
import { Duration, Effect, Layer, Metric, Option, RateLimiter, Schedule, Schema } from "effect"
import { AppConfig, LlmProviders } from "../Kernel/AppConfig.js"
import { Breakers } from "../Kernel/Breakers.js"
import type { LlmAnalysis, LlmVerdict, NormalizedItem } from "../Kernel/Domain.js"
import { StatusBoard, StatusEntry } from "../Kernel/StatusBoard.js"
import type { KeywordResult } from "./Keywords.js"
import { LanguageModelLive, modelFor } from "./Providers.js"
import { SecExcerpt } from "./SecExcerpt.js"
import { LlmUnavailable, SecLlmCache } from "./SecLlmCache.js"
import { UsageMonitor } from "./UsageMonitor.js"

/** Bump when the prompt or output schema changes, so cached SEC analyses from the old prompt aren't reused. */
export const PROMPT_VERSION = "catalyst-v1"

/** The day's spend against LLM_DAILY_BUDGET_USD and the breaker, published after every cycle: /health's `llmBudget`. */
export const LlmStatus = StatusEntry(
  "llm",
  Schema.Struct({
    provider: Schema.Literal(...LlmProviders),
    model: Schema.String,
    enabled: Schema.Boolean,
    day: Schema.String,
    calls: Schema.Number,
    inputTokens: Schema.Number,
    outputTokens: Schema.Number,
    costUsd: Schema.Number,
    dailyBudgetUsd: Schema.NullOr(Schema.Number),
    budget: Schema.Literal("n/a", "on", "off until 00:00 UTC"),
    breaker: Schema.Literal("Closed", "Open", "HalfOpen"),
    lastCycle: Schema.String
  })
)
export type LlmStatus = typeof LlmStatus.schema.Type

export const llmCalls = Metric.counter("llm_calls_total", { description: "LLM calls, by outcome" })

/**
 * What the model must return. Every field is required (OpenAI strict structured output rejects
 * optional ones); ranges and the 300-character summary are enforced after decoding, because strict
 * mode doesn't accept every JSON-schema bound.
 */
export const AnalysisOutput = Schema.Struct({
  category: Schema.String.annotations({
    description:
      "snake_case catalyst category, e.g. fda_approval, clinical_results, partnership, government_contract, acquisition, uplisting, earnings_beat, guidance_raise, patent, offering, warrants, reverse_split, going_concern, delisting, bankruptcy, other"
  }),
  sentiment: Schema.Number.annotations({ description: "expected price impact, -1 (very bearish) to 1 (very bullish)" }),
  confidence: Schema.Number.annotations({ description: "confidence in this assessment, 0 to 1" }),
  summary: Schema.String.annotations({ description: "what happened, for a trader, at most 300 characters" }),
  key_facts: Schema.Array(Schema.String).annotations({ description: "up to 5 short facts: amounts, parties, dates" }),
  is_material: Schema.Boolean.annotations({ description: "true if this could move the stock price today" })
}).annotations({ identifier: "CatalystAnalysis", description: "Catalyst assessment of one news item or filing" })

const clamp = (value: number, min: number, max: number) =>
  Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : 0

export const normalise = (output: typeof AnalysisOutput.Type): LlmAnalysis => ({
  category: output.category.trim().toLowerCase() || "other",
  sentiment: clamp(output.sentiment, -1, 1),
  confidence: clamp(output.confidence, 0, 1),
  summary: output.summary.length > 300 ? `${output.summary.slice(0, 299)}…` : output.summary,
  key_facts: output.key_facts.slice(0, 5),
  is_material: output.is_material
})

const SYSTEM_PROMPT = `You assess press releases and SEC filings for small-cap day traders.
Decide which catalyst the item is, how it is likely to move the stock today, and whether it is material.
Dilution (offerings, warrants, ATM programs), reverse splits, going-concern doubts, delisting notices and
bankruptcy are bearish. Judge only from the text given; do not invent facts.`

export const buildPrompt = (item: NormalizedItem, keywords: KeywordResult, excerpt: Option.Option<string>) => {
  const lines = [
    `Title: ${item.title}`,
    `Summary: ${item.summary.slice(0, 2_000)}`,
    `Source: ${item.source}`,
    `Tickers: ${item.tickers.map((t) => (t.exchange ? `${t.exchange}:${t.symbol}` : t.symbol)).join(", ") || "none"}`,
    `Keyword hints: ${keywords.categories.join(", ") || "none"}`
  ]
  if (item.sec !== undefined) {
    lines.push(
      `SEC form type: ${item.sec.formType}`,
      `Filer: ${item.sec.companyName} (CIK ${item.sec.cik})`,
      `Items: ${item.sec.items.join("; ") || "none listed"}`
    )
  }
  if (Option.isSome(excerpt) && excerpt.value !== "") {
    lines.push(`Primary document excerpt:\n${excerpt.value}`)
  }
  return [
    { role: "system" as const, content: SYSTEM_PROMPT },
    { role: "user" as const, content: lines.join("\n") }
  ]
}

/**
 * 429, 408, 5xx and transport failures are worth another try; bad requests and bad output are not,
 * nor 501 Not Implemented: the server doesn't offer the endpoint at all.
 */
const isTransient = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null || !("_tag" in error)) return false
  if (error._tag === "HttpRequestError") return true
  if (error._tag === "HttpResponseError" && "response" in error) {
    const status = (error.response as { status: number }).status
    return status === 429 || status === 408 || (status >= 500 && status !== 501)
  }
  return false
}

/** 404 or 501: the server has no such endpoint (or model), and only a setting can fix it. */
const missingEndpointHint = (settings: AppConfig["classify"], status: number): string => {
  if (status !== 404 && status !== 501) return ""
  if (settings.llmProvider === "openai" && settings.llmApi === "responses") {
    return ` on /responses: a server that speaks only chat completions (Ollama, vLLM, LM Studio, llama.cpp) needs LLM_API=chat-completions${status === 404 ? "; otherwise check LLM_MODEL" : ""}`
  }
  return ": check LLM_BASE_URL and LLM_MODEL"
}

/** A short reason for the item's verdict; never the request (it can carry a secret base URL). */
const describeFailure = (error: { readonly _tag: string }, settings: AppConfig["classify"]): string => {
  switch (error._tag) {
    case "HttpResponseError": {
      const status = (error as unknown as { response: { status: number } }).response.status
      return `provider answered HTTP ${status}${missingEndpointHint(settings, status)}`
    }
    case "HttpRequestError":
      return "provider unreachable"
    case "MalformedOutput":
      return "provider returned output that doesn't match the schema"
    case "TimeoutException":
      return "LLM call timed out"
    default:
      return `LLM call failed (${error._tag})`
  }
}

export interface AnalysisRequest {
  readonly item: NormalizedItem
  readonly keywords: KeywordResult
}

export interface AnalysisBatch {
  readonly verdicts: ReadonlyArray<LlmVerdict>
  readonly notes: ReadonlyArray<string>
}

/**
 * The optional LLM stage. Only items whose keyword score reaches LLM_MIN_KEYWORD_SCORE are sent.
 * Load is bounded by LLM_CONCURRENCY, LLM_RPM, a timeout per call and a circuit breaker; transient
 * errors are retried. Whatever goes wrong, the item keeps its keyword result, marked `Unavailable`,
 * and the stage gives up on a cycle after LLM_CYCLE_BUDGET_SECONDS.
 */
export class LlmAnalyst extends Effect.Service<LlmAnalyst>()("Classification/LlmAnalyst", {
  scoped: Effect.gen(function* () {
    const { classify: settings } = yield* AppConfig
    const model = yield* Effect.serviceOption(LanguageModel.LanguageModel)
    const breakers = yield* Breakers
    const usage = yield* UsageMonitor
    const cache = yield* SecLlmCache
    const documents = yield* SecExcerpt
    const board = yield* StatusBoard
    const provider = settings.llmProvider
    const modelName = modelFor(settings)
    const enabled = provider !== "none" && Option.isSome(model)

    const breaker = yield* breakers.make({
      name: `LLM ${provider}`,
      failureThreshold: settings.llmBreakerThreshold,
      backoff: Duration.seconds(30),
      maxBackoff: Duration.minutes(10)
    })
    const limiter =
      settings.llmRpm > 0
        ? yield* RateLimiter.make({ limit: settings.llmRpm, interval: Duration.minutes(1), algorithm: "token-bucket" })
        : <A, E, R>(effect: Effect.Effect<A, E, R>) => effect

    const publish = (extra: { readonly lastCycle: string }) =>
      Effect.gen(function* () {
        const today = yield* usage.today
        const breakerState = yield* breaker.state
        yield* board.set(LlmStatus, {
          provider,
          model: modelName,
          enabled,
          day: today.day,
          calls: today.calls,
          inputTokens: today.inputTokens,
          outputTokens: today.outputTokens,
          costUsd: Math.round(today.costUsd * 1e6) / 1e6,
          dailyBudgetUsd: settings.llmDailyBudgetUsd > 0 ? settings.llmDailyBudgetUsd : null,
          budget: !enabled ? "n/a" : (yield* usage.budgetExhausted) ? "off until 00:00 UTC" : "on",
          breaker: breakerState._tag,
          lastCycle: extra.lastCycle
        })
      })

    const call = Effect.fn("LlmAnalyst.call")(function* (prompt: ReturnType<typeof buildPrompt>) {
      if (Option.isNone(model)) return yield* new LlmUnavailable({ reason: "no LLM provider is configured" })
      const languageModel = model.value
      yield* Effect.annotateCurrentSpan({ "llm.provider": provider, "llm.model": modelName })
      const attempt = languageModel
        .generateObject({ prompt, schema: AnalysisOutput, objectName: "catalyst_analysis" })
        .pipe(Effect.timeout(Duration.seconds(settings.llmTimeoutSeconds)), limiter)
      // Errors are reduced to a short reason before the breaker sees them: its notices and the
      // status board must never carry a request URL (LLM_BASE_URL may hold a secret).
      const response = yield* attempt.pipe(
        Effect.retry({
          schedule: Schedule.exponential("500 millis").pipe(Schedule.jittered),
          times: settings.llmRetries,
          while: isTransient
        }),
        Effect.tapError(() => Metric.increment(Metric.tagged(llmCalls, "outcome", "failed"))),
        Effect.mapError((error) => new LlmUnavailable({ reason: describeFailure(error, settings) })),
        breaker.protect,
        Effect.catchTag("BreakerOpen", (open) =>
          Effect.zipRight(
            Metric.increment(Metric.tagged(llmCalls, "outcome", "rejected")),
            Effect.fail(new LlmUnavailable({ reason: open.message }))
          )
        )
      )
      const inputTokens = response.usage.inputTokens ?? 0
      const outputTokens = response.usage.outputTokens ?? 0
      const costUsd = yield* usage.record({ provider, model: modelName, inputTokens, outputTokens })
      yield* Metric.increment(Metric.tagged(llmCalls, "outcome", "ok"))
      yield* Effect.annotateCurrentSpan({
        "llm.tokens.input": inputTokens,
        "llm.tokens.output": outputTokens,
        "llm.cost_usd": costUsd
      })
      return normalise(response.value)
    })

    const analyseOne = ({ item, keywords }: AnalysisRequest): Effect.Effect<LlmVerdict> =>
      Effect.gen(function* () {
        if (yield* usage.budgetExhausted) {
          return { _tag: "Unavailable", reason: "daily LLM budget reached" } as const
        }
        const filing = item.sec
        const outcome =
          filing === undefined
            ? Effect.map(call(buildPrompt(item, keywords, Option.none())), (analysis) => ({ analysis, cached: false }))
            : cache.getOrCompute(
                filing,
                PROMPT_VERSION,
                Effect.gen(function* () {
                  const excerpt =
                    settings.secExcerptChars > 0
                      ? yield* documents
                          .excerpt(filing)
                          .pipe(Effect.mapError((error) => new LlmUnavailable({ reason: error.reason })))
                      : ""
                  return yield* call(buildPrompt(item, keywords, Option.some(excerpt)))
                })
              )
        return yield* outcome.pipe(
          Effect.map(({ analysis, cached }): LlmVerdict => ({ _tag: "Analysed", analysis, cached })),
          Effect.catchAll((error) =>
            Effect.logWarning(`LLM unavailable for "${item.title}": ${error.reason}`).pipe(
              Effect.as<LlmVerdict>({ _tag: "Unavailable", reason: error.reason })
            )
          )
        )
      })

    const analyse = Effect.fn("LlmAnalyst.analyse")(function* (requests: ReadonlyArray<AnalysisRequest>) {
      if (!enabled) {
        return {
          verdicts: requests.map((): LlmVerdict => ({ _tag: "Skipped", reason: "LLM_PROVIDER=none" })),
          notes: ["LLM off (LLM_PROVIDER=none): keywords only"]
        } satisfies AnalysisBatch
      }
      const verdicts: Array<LlmVerdict> = requests.map(({ keywords }) => ({
        _tag: "Skipped",
        reason: `keyword score ${keywords.score} below LLM_MIN_KEYWORD_SCORE ${settings.llmMinKeywordScore}`
      }))
      const eligible = requests.flatMap((request, index) =>
        request.keywords.score >= settings.llmMinKeywordScore ? [index] : []
      )
      const budgetOff = yield* usage.budgetExhausted
      const done = yield* Effect.forEach(
        eligible,
        (index) => analyseOne(requests[index]!).pipe(Effect.map((verdict) => void (verdicts[index] = verdict))),
        { concurrency: settings.llmConcurrency, discard: true }
      ).pipe(Effect.timeoutOption(Duration.seconds(settings.llmCycleBudgetSeconds)))

      let outOfTime = 0
      if (Option.isNone(done)) {
        for (const index of eligible) {
          if (verdicts[index]?._tag !== "Skipped") continue
          outOfTime += 1
          verdicts[index] = {
            _tag: "Unavailable",
            reason: `LLM_CYCLE_BUDGET_SECONDS=${settings.llmCycleBudgetSeconds} spent before this item was analysed`
          }
        }
      }

      const count = (tag: LlmVerdict["_tag"]) => eligible.filter((index) => verdicts[index]?._tag === tag).length
      const cached = eligible.filter((index) => {
        const verdict = verdicts[index]
        return verdict?._tag === "Analysed" && verdict.cached
      }).length
      const breakerState = yield* breaker.state
      const notes: Array<string> = [
        `LLM ${provider}/${modelName}: ${count("Analysed")} analysed (${cached} cached), ${count("Unavailable")} on keywords only (unavailable), ${requests.length - eligible.length} below LLM_MIN_KEYWORD_SCORE`
      ]
      if (budgetOff || (yield* usage.budgetExhausted)) {
        notes.push(`LLM daily budget $${settings.llmDailyBudgetUsd} reached: LLM off until 00:00 UTC, keywords only`)
      }
      if (outOfTime > 0) {
        notes.push(
          `LLM cycle budget of ${settings.llmCycleBudgetSeconds}s spent: ${outOfTime} item(s) went on keywords only`
        )
      }
      if (breakerState._tag !== "Closed") {
        notes.push(`LLM breaker ${breakerState._tag.toLowerCase()}: ${breakerState.lastError}`)
      }
      yield* publish({ lastCycle: notes.join("; ") })
      return { verdicts, notes } satisfies AnalysisBatch
    })

    yield* publish({ lastCycle: "none yet" })
    return { analyse, enabled, provider, model: modelName } as const
  }),
  dependencies: [
    AppConfig.Default,
    LanguageModelLive.pipe(Layer.provide(AppConfig.Default)),
    Breakers.Default,
    UsageMonitor.Default,
    SecLlmCache.Default,
    SecExcerpt.Default,
    StatusBoard.Default
  ]
}) {}
