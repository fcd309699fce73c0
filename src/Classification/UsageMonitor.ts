import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Data, DateTime, Effect, Metric, Option, Ref, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { AdminChannel } from "../Kernel/AdminChannel.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { SqlLive } from "../Kernel/Sql.js"
import shippedPricing from "./pricing.json" with { type: "json" }

export const llmTokensIn = Metric.counter("llm_tokens_input_total", { description: "Prompt tokens sent to the LLM" })
export const llmTokensOut = Metric.counter("llm_tokens_output_total", { description: "Tokens the LLM generated" })
export const llmCostUsd = Metric.counter("llm_cost_usd_total", { description: "Estimated LLM spend in USD" })

const ModelPrice = Schema.Struct({ input: Schema.NonNegative, output: Schema.NonNegative })
export const PricingFile = Schema.Struct({ models: Schema.Record({ key: Schema.String, value: ModelPrice }) })
export type PricingFile = typeof PricingFile.Type

export class PricingFileInvalid extends Data.TaggedError("PricingFileInvalid")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `LLM_PRICING_FILE ${this.path} can't be used: ${this.reason}`
  }
}

const loadPricing = (path: Option.Option<string>): Effect.Effect<PricingFile, PricingFileInvalid> =>
  Option.match(path, {
    onNone: () => Schema.decodeUnknown(PricingFile)(shippedPricing).pipe(Effect.orDie),
    onSome: (path) =>
      Effect.tryPromise(() => readFile(path, "utf8")).pipe(
        Effect.flatMap((text) => Effect.try(() => JSON.parse(text) as unknown)),
        Effect.flatMap(Schema.decodeUnknown(PricingFile)),
        Effect.mapError((error) => new PricingFileInvalid({ path, reason: String(error.message) }))
      )
  })

/** USD per million tokens for `model`: the longest table entry its id starts with, or none. */
export const priceOf = (pricing: PricingFile, model: string) => {
  const name = model.toLowerCase()
  const key = Object.keys(pricing.models)
    .filter((entry) => name.startsWith(entry.toLowerCase()))
    .sort((a, b) => b.length - a.length)[0]
  return key === undefined ? Option.none() : Option.fromNullable(pricing.models[key])
}

export interface DailyUsage {
  readonly day: string
  readonly calls: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly costUsd: number
}

interface MonitorState extends DailyUsage {
  readonly thresholdsAlerted: ReadonlyArray<number>
  readonly budgetAlerted: boolean
}

const utcDay = (millis: number) => DateTime.formatIsoDateUtc(DateTime.unsafeMake(millis))

/**
 * Tokens and cost per provider and model, persisted as daily (UTC) totals, with the daily budget
 * switch and the cost-threshold alerts. Each threshold and the budget switch-off alert once per
 * day, and a restart doesn't repeat them (the state is rebuilt from the persisted totals).
 */
export class UsageMonitor extends Effect.Service<UsageMonitor>()("Classification/UsageMonitor", {
  effect: Effect.gen(function* () {
    const { classify: settings } = yield* AppConfig
    const sql = yield* SqlClient.SqlClient
    const admin = yield* AdminChannel
    const pricing = yield* loadPricing(settings.llmPricingFile)
    const unpriced = new Set<string>()
    /** Concurrent calls finish together: serialise the read-modify-write of today's totals. */
    const lock = yield* Effect.makeSemaphore(1)

    const loadDay = (day: string) =>
      Effect.gen(function* () {
        const [row] = yield* sql<{ calls: number; input: number; output: number; cost: number }>`
          SELECT COALESCE(SUM(calls), 0) AS calls, COALESCE(SUM(input_tokens), 0) AS input,
                 COALESCE(SUM(output_tokens), 0) AS output, COALESCE(SUM(cost_usd), 0) AS cost
          FROM llm_usage_daily WHERE day = ${day}`
        const costUsd = row?.cost ?? 0
        return {
          day,
          calls: row?.calls ?? 0,
          inputTokens: row?.input ?? 0,
          outputTokens: row?.output ?? 0,
          costUsd,
          thresholdsAlerted: settings.llmCostAlertUsd.filter((threshold) => costUsd >= threshold),
          budgetAlerted: settings.llmDailyBudgetUsd > 0 && costUsd >= settings.llmDailyBudgetUsd
        } satisfies MonitorState
      }).pipe(Effect.orDie)

    const state = yield* Ref.make<MonitorState>(yield* loadDay(utcDay(yield* Clock.currentTimeMillis)))

    /** Today's state; at the first look after UTC midnight, a fresh day (and the budget back on). */
    const current = Effect.gen(function* () {
      const day = utcDay(yield* Clock.currentTimeMillis)
      const known = yield* Ref.get(state)
      if (known.day === day) return known
      const fresh = yield* loadDay(day)
      yield* Ref.set(state, fresh)
      return fresh
    })

    const budgetExhausted = (usage: DailyUsage) =>
      settings.llmDailyBudgetUsd > 0 && usage.costUsd >= settings.llmDailyBudgetUsd

    const record = Effect.fn("UsageMonitor.record")(function* (usage: {
      readonly provider: string
      readonly model: string
      readonly inputTokens: number
      readonly outputTokens: number
    }) {
      const price = priceOf(pricing, usage.model)
      if (Option.isNone(price) && !unpriced.has(usage.model)) {
        unpriced.add(usage.model)
        yield* Effect.logWarning(
          `no price for LLM model ${usage.model} in the pricing table; its cost counts as 0 (set LLM_PRICING_FILE)`
        )
      }
      const costUsd = Option.match(price, {
        onNone: () => 0,
        onSome: ({ input, output }) => (usage.inputTokens * input + usage.outputTokens * output) / 1_000_000
      })
      const today = yield* current
      yield* sql`
        INSERT INTO llm_usage_daily (day, provider, model, calls, input_tokens, output_tokens, cost_usd)
        VALUES (${today.day}, ${usage.provider}, ${usage.model}, 1, ${usage.inputTokens}, ${usage.outputTokens}, ${costUsd})
        ON CONFLICT (day, provider, model) DO UPDATE SET
          calls = llm_usage_daily.calls + 1,
          input_tokens = llm_usage_daily.input_tokens + excluded.input_tokens,
          output_tokens = llm_usage_daily.output_tokens + excluded.output_tokens,
          cost_usd = llm_usage_daily.cost_usd + excluded.cost_usd`.pipe(Effect.orDie)
      yield* Metric.incrementBy(llmTokensIn, usage.inputTokens)
      yield* Metric.incrementBy(llmTokensOut, usage.outputTokens)
      yield* Metric.incrementBy(llmCostUsd, costUsd)

      const next: MonitorState = {
        ...today,
        calls: today.calls + 1,
        inputTokens: today.inputTokens + usage.inputTokens,
        outputTokens: today.outputTokens + usage.outputTokens,
        costUsd: today.costUsd + costUsd
      }
      const crossed = settings.llmCostAlertUsd.filter(
        (threshold) => next.costUsd >= threshold && !today.thresholdsAlerted.includes(threshold)
      )
      const switchOff = budgetExhausted(next) && !today.budgetAlerted
      yield* Ref.set(state, {
        ...next,
        thresholdsAlerted: [...today.thresholdsAlerted, ...crossed],
        budgetAlerted: today.budgetAlerted || switchOff
      })
      for (const threshold of crossed) {
        yield* admin.notify({
          key: `llm-cost:${threshold}`,
          title: `LLM spend passed $${threshold} today`,
          detail: `$${next.costUsd.toFixed(4)} so far on ${next.day} (UTC), ${next.calls} calls, ${next.inputTokens} tokens in, ${next.outputTokens} out`
        })
      }
      if (switchOff) {
        yield* admin.notify({
          key: "llm-budget",
          title: "LLM stage switched off for today",
          detail: `spend $${next.costUsd.toFixed(4)} reached LLM_DAILY_BUDGET_USD=${settings.llmDailyBudgetUsd}; items go on keywords only until 00:00 UTC`
        })
      }
      return costUsd
    }, lock.withPermits(1))

    return {
      record,
      today: Effect.map(current, ({ day, calls, inputTokens, outputTokens, costUsd }): DailyUsage => ({
        day,
        calls,
        inputTokens,
        outputTokens,
        costUsd
      })),
      budgetExhausted: Effect.map(current, budgetExhausted)
    } as const
  }),
  dependencies: [AppConfig.Default, AdminChannel.Default, SqlLive]
}) {}
