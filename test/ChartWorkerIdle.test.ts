import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { ChartWorkerEntry, RenderPool, workersRunning } from "../src/Charts/RenderPool.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { intradayRequest } from "./support/ChartGoldens.js"
import { configLayer } from "./support/TestLayers.js"

/** Worker threads start slowly on a loaded 2-core machine (TypeScript workers load through tsx). */
const workerTestTimeout = 180_000

// Its own file: the gauge is process-wide, and vitest runs each file in a fresh worker.
const PoolTest = RenderPool.DefaultWithoutDependencies.pipe(
  Layer.provide(Layer.succeed(ChartWorkerEntry, new URL("./support/FaultyChartWorker.ts", import.meta.url))),
  Layer.provide(AppConfig.Default),
  Layer.provide(configLayer({ CHART_WORKERS: 2, CHART_WORKER_IDLE_SECONDS: 2 }))
)

const running = Effect.map(Metric.value(workersRunning), (state) => state.value)

/** Polls the gauge on the live clock until it reads `count`; dies after `limitMs`. */
const runningBecomes = (count: number, limitMs: number) =>
  Effect.gen(function* () {
    const giveUpAt = Date.now() + limitMs
    while ((yield* running) !== count) {
      if (Date.now() > giveUpAt) return yield* Effect.dieMessage(`chart workers never became ${count}`)
      yield* Effect.sleep("50 millis")
    }
  })

describe("chart worker lifecycle", () => {
  it.live(
    "starts no worker before the first chart, stops them after CHART_WORKER_IDLE_SECONDS without one, restarts on the next",
    () =>
      Effect.gen(function* () {
        const pool = yield* RenderPool
        yield* Effect.sleep("3 seconds")
        expect(yield* running).toBe(0)

        const png = yield* pool.draw(intradayRequest)
        expect(png[0]).toBe(0x89)
        expect(yield* running).toBe(2)

        yield* runningBecomes(0, 30_000)

        expect((yield* pool.draw(intradayRequest))[0]).toBe(0x89)
        expect(yield* running).toBe(2)
      }).pipe(Effect.provide(PoolTest)),
    workerTestTimeout
  )
})
