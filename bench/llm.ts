import { NodeHttpClient } from "@effect/platform-node"
import { ConfigProvider, Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Classifier } from "../src/Classification/Classifier.js"
import type { NormalizedItem } from "../src/Kernel/Domain.js"
import * as FakeOpenAi from "../src/World/FakeOpenAi.js"
import { alternating, type BenchReport, type CheckedFigure, isMain, publish, unloadedNow } from "./lib.js"
import { judge, targets } from "./targets.js"
import { itemFixture } from "../test/support/Alerts.js"

/**
 * The LLM stage's wall time for 40 items against a fake OpenAI server answering each call after
 * 500 ms, with LLM_CONCURRENCY=8 versus 1 (sequential), through the real @effect/ai-openai layer.
 */

const ITEMS = 40
const LATENCY_MS = 500

const makeItems = (count: number): ReadonlyArray<NormalizedItem> =>
  Array.from({ length: count }, (_, i) =>
    itemFixture(`bench-${i}`, {
      title: `Company ${i} Receives FDA Approval for Product ${i}`,
      link: `https://example.com/${i}`,
      fetchedAt: new Date().toISOString(),
      tickers: [{ symbol: `C${i}`, exchange: "NASDAQ" }]
    })
  )

const settings = (values: Record<string, string | number>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values).map(([k, v]) => [k, String(v)]))))

const timeWith = (
  url: string,
  concurrency: number,
  items: ReadonlyArray<NormalizedItem>,
  clock = () => performance.now()
) =>
  Effect.gen(function* () {
    const dir = mkdtempSync(join(tmpdir(), "bench-llm-"))
    const layer = Classifier.Default.pipe(
      Layer.provide(NodeHttpClient.layerUndici),
      Layer.provide(
        settings({
          DATA_DIR: dir,
          LLM_PROVIDER: "openai",
          LLM_BASE_URL: url,
          LLM_API_KEY: "sk-bench",
          LLM_MODEL: "gpt-4o-mini",
          LLM_CONCURRENCY: concurrency,
          LLM_RPM: 0,
          LLM_CYCLE_BUDGET_SECONDS: 120,
          LLM_TIMEOUT_SECONDS: 60
        })
      )
    )
    return yield* Effect.gen(function* () {
      const classifier = yield* Classifier
      const started = clock()
      const classified = yield* classifier.classify(items)
      const elapsed = clock() - started
      const analysed = classified.filter((entry) => entry.classification.llm._tag === "Analysed").length
      if (analysed !== items.length) throw new Error(`only ${analysed}/${items.length} items were analysed`)
      return elapsed
    }).pipe(Effect.provide(layer), Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))))
  })

export const run = (): Promise<BenchReport> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* FakeOpenAi.make({
          defaultBehaviour: FakeOpenAi.answer(FakeOpenAi.defaultAnalysis, LATENCY_MS)
        })
        const items = makeItems(ITEMS)
        const sequential = yield* timeWith(fake.url, 1, items)
        const concurrent = yield* timeWith(fake.url, 8, items)
        const ratio = sequential / concurrent
        return {
          name: "llm",
          figures: [
            {
              label: `${ITEMS} items, ${LATENCY_MS} ms per LLM call, LLM_CONCURRENCY=8`,
              value: concurrent,
              unit: "ms",
              baseline: { label: "LLM_CONCURRENCY=1 (sequential)", value: sequential },
              ratio,
              ...judge(targets.llmSpeedup, concurrent, ratio)
            }
          ]
        } satisfies BenchReport
      })
    )
  )

/**
 * bench:check's quick mode: 16 items × 250 ms, sequential and LLM_CONCURRENCY=8 alternating, medians, on the clock
 * that stops while the machine is too busy to run us.
 */
export const quick = (): Promise<ReadonlyArray<CheckedFigure>> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* FakeOpenAi.make({ defaultBehaviour: FakeOpenAi.answer(FakeOpenAi.defaultAnalysis, 250) })
        const items = makeItems(16)
        const { baseline, candidate } = yield* alternating(
          3,
          timeWith(fake.url, 1, items, unloadedNow),
          timeWith(fake.url, 8, items, unloadedNow)
        )
        return [
          {
            label: "llm: 16 items × 250 ms, LLM_CONCURRENCY=8 vs 1",
            ratio: baseline / candidate,
            target: targets.llmSpeedup,
            detail: `sequential ${Math.round(baseline)} ms / concurrent ${Math.round(candidate)} ms`
          }
        ]
      })
    )
  )

if (isMain(import.meta.url)) publish(await run())
