import { Effect, Layer } from "effect"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { setImmediate, setTimeout as sleep } from "node:timers/promises"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import { drawPng } from "../src/Charts/Draw.js"
import type { ChartRequest } from "../src/Charts/Protocol.js"
import { RenderPool } from "../src/Charts/RenderPool.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { MarketData } from "../src/MarketData/MarketData.js"
import { intradaySeries, newsTime } from "../test/support/ChartBars.js"
import { type BenchReport, isMain, percentile, publish } from "./lib.js"

/**
 * 50 intraday charts drawn on the main thread, then through the worker pool, in one run. For each mode: p50/p95 time
 * per chart and the worst event-loop delay seen while they render. On the main thread every chart blocks the loop
 * for its whole duration; with the pool the loop should only see message passing.
 */

const chartCount = 50
const requests: ReadonlyArray<ChartRequest> = Array.from({ length: chartCount }, (_, index) => ({
  series: intradaySeries(`B${index}`),
  markerTime: newsTime + index * 60_000
}))

const loopDelay = async <A>(work: () => Promise<A>) => {
  const histogram = monitorEventLoopDelay({ resolution: 5 })
  histogram.enable()
  const result = await work()
  histogram.disable()
  return { result, maxDelayMs: histogram.max / 1e6 }
}

/** One chart per macrotask, as the delivery loop would draw them if there were no pool. */
const mainThread = async () => {
  drawPng(requests[0]!) // warm-up, as a worker does before it reports ready
  const times: Array<number> = []
  for (const request of requests) {
    await setImmediate()
    const start = performance.now()
    drawPng(request)
    times.push(performance.now() - start)
  }
  return times
}

const ChartsLive = ChartRenderer.DefaultWithoutDependencies.pipe(
  Layer.provideMerge(RenderPool.Default),
  Layer.provide(MarketData.Test({})),
  Layer.provideMerge(AppConfig.Default)
)

const withPool = Effect.gen(function* () {
  const charts = yield* ChartRenderer
  const { charts: config } = yield* AppConfig
  // The first chart starts the workers; start-up and JIT warm-up are not render time.
  yield* Effect.forEach(requests.slice(0, 4 * config.workers), charts.render, { concurrency: config.workers })
  const timed = (request: ChartRequest) =>
    Effect.gen(function* () {
      const start = performance.now()
      yield* charts.render(request)
      return performance.now() - start
    })
  const wallStart = performance.now()
  const { result: times, maxDelayMs } = yield* Effect.promise(() =>
    loopDelay(() => Effect.runPromise(Effect.forEach(requests, timed, { concurrency: config.workers })))
  )
  return { times, maxDelayMs, wallMs: performance.now() - wallStart, workers: config.workers }
})

export const run = async (): Promise<BenchReport> => {
  // What the machine itself costs an idle event loop (other processes, scheduling): the floor for the figures below.
  const idle = await loopDelay(() => sleep(2_000))
  const mainStart = performance.now()
  const main = await loopDelay(mainThread)
  const mainWallMs = performance.now() - mainStart
  const pool = await Effect.runPromise(Effect.scoped(withPool).pipe(Effect.provide(ChartsLive)))

  const mainP50 = percentile(main.result, 50)
  const mainP95 = percentile(main.result, 95)
  const poolP50 = percentile(pool.times, 50)
  const poolP95 = percentile(pool.times, 95)
  return {
    name: "charts",
    figures: [
      {
        label: `max event-loop delay, pool of ${pool.workers} workers`,
        value: pool.maxDelayMs,
        unit: "ms",
        baseline: { label: "main thread", value: main.maxDelayMs },
        ratio: main.maxDelayMs / pool.maxDelayMs,
        target: "< 50 ms",
        pass: pool.maxDelayMs < 50
      },
      {
        label: "max event-loop delay, idle process (machine noise floor)",
        value: idle.maxDelayMs,
        unit: "ms"
      },
      {
        label: "p50 render time, pool",
        value: poolP50,
        unit: "ms",
        baseline: { label: "main thread", value: mainP50 },
        ratio: mainP50 / poolP50,
        target: "< 150 ms",
        pass: poolP50 < 150
      },
      {
        label: "p95 render time, pool",
        value: poolP95,
        unit: "ms",
        baseline: { label: "main thread", value: mainP95 },
        ratio: mainP95 / poolP95
      },
      {
        label: `${chartCount} charts, wall time, pool`,
        value: pool.wallMs,
        unit: "ms",
        baseline: { label: "main thread", value: mainWallMs },
        ratio: mainWallMs / pool.wallMs
      }
    ]
  }
}

if (isMain(import.meta.url)) publish(await run())
