import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, TestClock } from "effect"
import { type AdminEvent, AdminChannel } from "../src/Kernel/AdminChannel.js"
import { Breakers } from "../src/Kernel/Breakers.js"
import { Classifier } from "../src/Classification/Classifier.js"
import { LlmAnalyst, LlmStatus } from "../src/Classification/LlmAnalyst.js"
import { FilingDetails } from "../src/Classification/FilingDetails.js"
import { SecExcerpt } from "../src/Classification/SecExcerpt.js"
import { LlmUnavailable, SecLlmCache } from "../src/Classification/SecLlmCache.js"
import shippedPricing from "../src/Classification/pricing.json" with { type: "json" }
import { priceOf, UsageMonitor } from "../src/Classification/UsageMonitor.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { LlmAnalysis, SecFiling } from "../src/Kernel/Domain.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { fakeLanguageModel } from "./support/FakeLanguageModel.js"
import { configLayer, tempDir } from "./support/TestLayers.js"
import { databaseConfig, databases } from "./support/Databases.js"
import { newsItem } from "./support/Alerts.js"

const filing = (accession: string, formType = "8-K", cik = "0000123456"): SecFiling => ({
  formType,
  cik,
  accession,
  items: ["Item 8.01: Other Events"],
  companyName: "ACME CORP"
})

const analysis: LlmAnalysis = {
  category: "acquisition",
  sentiment: 0.6,
  confidence: 0.8,
  summary: "Acme agreed to be acquired.",
  key_facts: ["$4.20 per share"],
  is_material: true
}

/** The cycle's LLM stage as LLM_MODE=gate runs it (enrich defers it to Delivery's follow-up: AlertEdits.test.ts). */
const LLM = { LLM_PROVIDER: "openai", LLM_API_KEY: "test-key", LLM_MODEL: "gpt-4o-mini", LLM_RPM: 0, LLM_MODE: "gate" }

/** The classifier over a fake model, a stubbed SEC excerpt and recorded admin notices. */
const stack = (values: Record<string, string | number | boolean>, model: Layer.Layer<never>) => {
  const notices: Array<AdminEvent> = []
  const layer = Classifier.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(LlmAnalyst.DefaultWithoutDependencies),
    Layer.provideMerge(
      Layer.mergeAll(
        Breakers.DefaultWithoutDependencies,
        UsageMonitor.DefaultWithoutDependencies,
        SecLlmCache.DefaultWithoutDependencies,
        StatusBoard.Default,
        SecExcerpt.Test({ excerpt: () => Effect.succeed("Item 8.01 text") }),
        FilingDetails.Test({ attach: (items) => Effect.succeed(items) })
      )
    ),
    Layer.provideMerge(
      Layer.mergeAll(
        AdminChannel.Test({ notify: (event) => Effect.sync(() => void notices.push(event)) }),
        SqlLive,
        AppConfig.Default,
        model
      )
    ),
    Layer.provide(configLayer(values))
  )
  return { layer, notices }
}

describe("Classifier with an LLM", () => {
  it.scopedLive("keywords only by default: every verdict is Skipped and the note says so", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const fake = fakeLanguageModel()
      const { layer } = stack({ DATA_DIR: dir }, fake.layer)
      const batch = yield* Effect.flatMap(Classifier, (c) =>
        c.classifyBatch([newsItem("a", "Acme Receives FDA Approval")])
      ).pipe(Effect.provide(layer))
      expect(batch.items[0]?.classification.llm).toEqual({ _tag: "Skipped", reason: "LLM_PROVIDER=none" })
      expect(batch.items[0]?.classification.categories).toEqual(["fda_approval"])
      expect(batch.notes).toEqual(["LLM off (LLM_PROVIDER=none): keywords only"])
      expect(fake.controls.calls).toBe(0)
    })
  )

  it.scopedLive("sends only items that pass LLM_MIN_KEYWORD_SCORE and folds the verdict into the score", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const fake = fakeLanguageModel({ analysis })
      const { layer } = stack({ ...LLM, DATA_DIR: dir, LLM_MIN_KEYWORD_SCORE: 2 }, fake.layer)
      const { items, notes } = yield* Effect.flatMap(Classifier, (c) =>
        c.classifyBatch([
          newsItem("a", "Acme Enters Definitive Agreement to Be Acquired"),
          newsItem("b", "Acme Granted U.S. Patent for Widget"),
          newsItem("c", "Acme Announces Management Changes")
        ])
      ).pipe(Effect.provide(layer))
      expect(fake.controls.calls).toBe(1)
      expect(fake.controls.prompts[0]).toContain("Acme Enters Definitive Agreement to Be Acquired")
      expect(items[0]?.classification.llm).toEqual({ _tag: "Analysed", analysis, cached: false })
      expect(items[0]?.classification.score).toBe(3.8)
      expect(items[1]?.classification.llm._tag).toBe("Skipped")
      expect(items[1]?.classification.score).toBe(1)
      expect(items[2]?.classification.llm._tag).toBe("Skipped")
      expect(notes[0]).toBe(
        "LLM openai/gpt-4o-mini: 1 analysed (0 cached), 0 on keywords only (unavailable), 2 below LLM_MIN_KEYWORD_SCORE"
      )
    })
  )

  it.scopedLive("a failing model leaves the keyword result in place, marked Unavailable", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const fake = fakeLanguageModel({ fail: true })
      const { layer } = stack({ ...LLM, DATA_DIR: dir, LLM_RETRIES: 0 }, fake.layer)
      const [classified] = yield* Effect.flatMap(Classifier, (c) =>
        c.classify([newsItem("a", "Acme Receives FDA Approval")])
      ).pipe(Effect.provide(layer))
      expect(classified?.classification.llm._tag).toBe("Unavailable")
      expect(classified?.classification.categories).toEqual(["fda_approval"])
      expect(classified?.classification.score).toBe(3)
    })
  )

  it.scoped("never holds a cycle longer than LLM_CYCLE_BUDGET_SECONDS", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const fake = fakeLanguageModel({ latencyMs: 10_000 })
      const { layer } = stack(
        { ...LLM, DATA_DIR: dir, LLM_CYCLE_BUDGET_SECONDS: 1, LLM_TIMEOUT_SECONDS: 30 },
        fake.layer
      )
      const classifying = yield* Effect.fork(
        Effect.flatMap(Classifier, (c) =>
          c.classifyBatch([
            newsItem("a", "Acme Receives FDA Approval"),
            newsItem("b", "Acme Announces Public Offering")
          ])
        ).pipe(Effect.provide(layer))
      )
      // The model would answer after 10 s; the batch ends when the 1 s budget does, not a moment before.
      yield* TestClock.adjust("999 millis")
      expect(Option.isNone(yield* Fiber.poll(classifying))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(Option.isSome(yield* Fiber.poll(classifying))).toBe(true)
      const { items, notes } = yield* Fiber.join(classifying)
      for (const entry of items) {
        expect(entry.classification.llm).toEqual({
          _tag: "Unavailable",
          reason: "LLM_CYCLE_BUDGET_SECONDS=1 spent before this item was analysed"
        })
      }
      expect(notes).toContain("LLM cycle budget of 1s spent: 2 item(s) went on keywords only")
    })
  )

  it.scoped("switches the LLM off for the day at LLM_DAILY_BUDGET_USD, alerting once per threshold", () =>
    Effect.gen(function* () {
      // A fixed afternoon (UTC), so the run can't cross midnight and find a fresh budget halfway.
      yield* TestClock.setTime(Date.parse("2026-11-27T15:00:00Z"))
      const dir = yield* tempDir
      // gpt-4o-mini: 1M in = $0.15, 1M out = $0.60 → $0.75 per call
      const fake = fakeLanguageModel({ inputTokens: 1_000_000, outputTokens: 1_000_000 })
      const values = {
        ...LLM,
        DATA_DIR: dir,
        LLM_CONCURRENCY: 1,
        LLM_DAILY_BUDGET_USD: 1.2,
        LLM_COST_ALERT_USD: "0.5,1,5"
      }
      const first = stack(values, fake.layer)
      const run = (titles: ReadonlyArray<string>) =>
        Effect.flatMap(Classifier, (c) => c.classifyBatch(titles.map((title, i) => newsItem(`${title}${i}`, title))))
      const { items, notes, status } = yield* Effect.gen(function* () {
        const batch = yield* run([
          "Acme Receives FDA Approval",
          "Beta Receives FDA Approval",
          "Gamma Receives FDA Approval"
        ])
        const status = Option.getOrNull(yield* Effect.flatMap(StatusBoard, (board) => board.get(LlmStatus)))
        return { ...batch, status }
      }).pipe(Effect.provide(first.layer))

      expect(fake.controls.calls).toBe(2)
      expect(items.map((entry) => entry.classification.llm._tag)).toEqual(["Analysed", "Analysed", "Unavailable"])
      expect(items[2]?.classification.llm).toEqual({ _tag: "Unavailable", reason: "daily LLM budget reached" })
      expect(notes).toContain("LLM daily budget $1.2 reached: LLM off until 00:00 UTC, keywords only")
      expect(first.notices.map((n) => n.key)).toEqual(["llm-cost:0.5", "llm-cost:1", "llm-budget"])
      expect(status).toMatchObject({ provider: "openai", calls: 2, costUsd: 1.5, budget: "off until 00:00 UTC" })

      // after a restart the day's totals are still there: still off, and no alert repeats; at 00:00 UTC the
      // running bot gets a new day's budget and asks the model again
      const second = stack(values, fake.layer)
      const { again, nextDay } = yield* Effect.gen(function* () {
        const again = yield* run(["Delta Receives FDA Approval"])
        expect(second.notices).toEqual([])
        yield* TestClock.setTime(Date.parse("2026-11-28T00:00:00Z"))
        const nextDay = yield* run(["Epsilon Receives FDA Approval"])
        return { again, nextDay }
      }).pipe(Effect.provide(second.layer))
      expect(again.items[0]?.classification.llm._tag).toBe("Unavailable")
      expect(nextDay.items[0]?.classification.llm._tag).toBe("Analysed")
      expect(second.notices.map((n) => n.key)).toEqual(["llm-cost:0.5"])
      expect(fake.controls.calls).toBe(3)
    })
  )

  it.scopedLive("100 concurrent requests for 10 distinct filings make exactly 10 LLM calls", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const fake = fakeLanguageModel({ latencyMs: 50, analysis })
      const { layer } = stack({ ...LLM, DATA_DIR: dir, LLM_CONCURRENCY: 100 }, fake.layer)
      const items = Array.from({ length: 100 }, (_, i) =>
        newsItem(
          `f${i}`,
          // A caption alone no longer scores, so the headline carries the keyword that makes it eligible.
          "ACME CORP files 8-K: Agrees to Be Acquired by Beta Holdings",
          filing(`0000123456-26-00000${i % 10}`)
        )
      )
      const classified = yield* Effect.flatMap(Classifier, (c) => c.classify(items)).pipe(Effect.provide(layer))
      expect(fake.controls.calls).toBe(10)
      expect(classified.every((entry) => entry.classification.llm._tag === "Analysed")).toBe(true)
      expect(fake.controls.prompts[0]).toContain("SEC form type: 8-K")
      expect(fake.controls.prompts[0]).toContain("Item 8.01: Other Events")
      expect(fake.controls.prompts[0]).toContain("Item 8.01 text")
    })
  )

  it.scopedLive("the SEC cache survives a restart", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const fake = fakeLanguageModel({ analysis })
      const values = { ...LLM, DATA_DIR: dir }
      const items = [newsItem("s1", "ACME CORP definitive agreement", filing("0000123456-26-000001"))]
      const classify = Effect.flatMap(Classifier, (c) => c.classify(items))
      const first = yield* classify.pipe(Effect.provide(stack(values, fake.layer).layer))
      const second = yield* classify.pipe(Effect.provide(stack(values, fake.layer).layer))
      expect(first[0]?.classification.llm).toEqual({ _tag: "Analysed", analysis, cached: false })
      expect(second[0]?.classification.llm).toEqual({ _tag: "Analysed", analysis, cached: true })
      expect(fake.controls.calls).toBe(1)
    })
  )
})

describe.each(databases)("SecLlmCache on %s", (kind) => {
  const cacheLayer = SecLlmCache.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(Layer.mergeAll(SqlLive, AppConfig.Default)),
    Layer.provide(databaseConfig(kind, { SEC_LLM_CACHE_TTL_HOURS: 72 }))
  )
  const computeCounting = (counter: { calls: number }) =>
    Effect.sync(() => {
      counter.calls += 1
      return analysis
    })

  const withCache = <A, E>(body: () => Effect.Effect<A, E, SecLlmCache | SqlClient.SqlClient>) =>
    body().pipe(Effect.provide(cacheLayer))

  it.scoped("never serves an expired entry, and counts hits", () =>
    withCache(() =>
      Effect.gen(function* () {
        const counter = { calls: 0 }
        const cache = yield* SecLlmCache
        const sql = yield* SqlClient.SqlClient
        const f = filing("0000123456-26-000001")
        yield* TestClock.setTime(Date.parse("2026-11-28T12:00:00Z"))
        expect((yield* cache.getOrCompute(f, "v1", computeCounting(counter))).cached).toBe(false)
        yield* TestClock.adjust("71 hours")
        expect((yield* cache.getOrCompute(f, "v1", computeCounting(counter))).cached).toBe(true)
        const [row] = yield* sql<{ hit_count: number }>`SELECT hit_count FROM sec_llm_cache`
        expect(row?.hit_count).toBe(1)
        yield* TestClock.adjust("2 hours")
        expect((yield* cache.getOrCompute(f, "v1", computeCounting(counter))).cached).toBe(false)
        expect(counter.calls).toBe(2)
        // a new prompt version is a new key
        expect((yield* cache.getOrCompute(f, "v2", computeCounting(counter))).cached).toBe(false)
        expect(counter.calls).toBe(3)
      })
    )
  )

  it.scoped("shares one computation among concurrent requests for a key, and doesn't cache failures", () =>
    withCache(() =>
      Effect.gen(function* () {
        const cache = yield* SecLlmCache
        const counter = { calls: 0 }
        const slow = Effect.zipRight(Effect.sleep("10 millis"), computeCounting(counter))
        const requests = Array.from({ length: 100 }, (_, i) => filing(`0000123456-26-00000${i % 10}`))
        const fiber = yield* Effect.fork(
          Effect.forEach(requests, (f) => cache.getOrCompute(f, "v1", slow), { concurrency: "unbounded" })
        )
        // The clock moves only once the database has answered (PostgreSQL answers in real time).
        while (Option.isNone(yield* fiber.poll)) {
          yield* TestClock.adjust("10 millis")
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
        }
        const results = yield* fiber.await.pipe(Effect.flatten)
        expect(counter.calls).toBe(10)
        expect(results.filter((r) => !r.cached)).toHaveLength(10)

        const failing = new LlmUnavailable({ reason: "provider answered HTTP 500" })
        const f = filing("0000999999-26-000001")
        const shared = yield* Effect.forEach(
          [1, 2, 3],
          () => Effect.flip(cache.getOrCompute(f, "v1", Effect.fail(failing))),
          {
            concurrency: "unbounded"
          }
        )
        expect(shared.map((e) => e.reason)).toEqual(Array(3).fill("provider answered HTTP 500"))
        expect((yield* cache.getOrCompute(f, "v1", computeCounting(counter))).cached).toBe(false)
      })
    )
  )

  it.scoped("an amendment invalidates the original's entry", () =>
    withCache(() =>
      Effect.gen(function* () {
        const cache = yield* SecLlmCache
        const counter = { calls: 0 }
        const original = filing("0000123456-26-000001", "8-K")
        const other = filing("0000777777-26-000001", "8-K", "0000777777")
        yield* cache.getOrCompute(original, "v1", computeCounting(counter))
        yield* cache.getOrCompute(other, "v1", computeCounting(counter))
        yield* cache.getOrCompute(filing("0000123456-26-000009", "8-K/A"), "v1", computeCounting(counter))
        expect(counter.calls).toBe(3)
        expect((yield* cache.getOrCompute(original, "v1", computeCounting(counter))).cached).toBe(false)
        expect((yield* cache.getOrCompute(other, "v1", computeCounting(counter))).cached).toBe(true)
      })
    )
  )

  it.scoped("a cache read error counts as a miss", () =>
    withCache(() =>
      Effect.gen(function* () {
        const cache = yield* SecLlmCache
        const sql = yield* SqlClient.SqlClient
        const counter = { calls: 0 }
        yield* sql`DROP TABLE sec_llm_cache`
        const result = yield* cache.getOrCompute(filing("0000123456-26-000001"), "v1", computeCounting(counter))
        expect(result).toEqual({ analysis, cached: false })
        expect(counter.calls).toBe(1)
      })
    )
  )
})

describe("pricing table", () => {
  it("prices a model by the longest entry its id starts with", () => {
    expect(Option.getOrThrow(priceOf(shippedPricing, "gemini-2.0-flash-lite"))).toEqual({ input: 0.02, output: 0.1 })
    expect(Option.getOrThrow(priceOf(shippedPricing, "gemini-2.0-flash-001"))).toEqual({ input: 0.1, output: 0.4 })
    expect(Option.getOrThrow(priceOf(shippedPricing, "gpt-4o-mini-2024-07-18"))).toEqual({ input: 0.15, output: 0.6 })
    expect(Option.isSome(priceOf(shippedPricing, "gemini-2.5-flash"))).toBe(true)
    expect(Option.isSome(priceOf(shippedPricing, "claude-sonnet-4-5"))).toBe(true)
    expect(Option.isNone(priceOf(shippedPricing, "llama3"))).toBe(true)
  })
})
