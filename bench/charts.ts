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
import {
  alternating,
  type BenchReport,
  type CheckedFigure,
  isMain,
  percentile,
  publish,
  threadSchedule
} from "./lib.js"
import { judge, targets } from "./targets.js"

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
  const cpuBefore = threadSchedule().onCpuMs
  const result = await work()
  const mainCpuMs = threadSchedule().onCpuMs - cpuBefore
  histogram.disable()
  return { result, maxDelayMs: histogram.max / 1e6, mainCpuMs }
}

/** One chart per macrotask, as the delivery loop would draw them if there were no pool. */
const mainThread = async (batch: ReadonlyArray<ChartRequest>) => {
  drawPng(batch[0]!) // warm-up, as a worker does before it reports ready
  const times: Array<number> = []
  for (const request of batch) {
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

/** A started pool: the first charts start the workers; start-up and JIT warm-up are not render time. */
const startedPool = (warmUpPerWorker: number) =>
  Effect.gen(function* () {
    const charts = yield* ChartRenderer
    const { charts: config } = yield* AppConfig
    yield* Effect.forEach(requests.slice(0, warmUpPerWorker * config.workers), charts.render, {
      concurrency: config.workers
    })
    const timed = (request: ChartRequest) =>
      Effect.gen(function* () {
        const start = performance.now()
        yield* charts.render(request)
        return performance.now() - start
      })
    const render = (batch: ReadonlyArray<ChartRequest>) =>
      Effect.gen(function* () {
        const wallStart = performance.now()
        const {
          result: times,
          maxDelayMs,
          mainCpuMs
        } = yield* Effect.promise(() =>
          loopDelay(() => Effect.runPromise(Effect.forEach(batch, timed, { concurrency: config.workers })))
        )
        return { times, maxDelayMs, mainCpuMs, wallMs: performance.now() - wallStart }
      })
    return { render, workers: config.workers }
  })

const withPool = Effect.gen(function* () {
  const pool = yield* startedPool(4)
  return { ...(yield* pool.render(requests)), workers: pool.workers }
})

export const run = async (): Promise<BenchReport> => {
  // What the machine itself costs an idle event loop (other processes, scheduling): the floor for the figures below.
  const idle = await loopDelay(() => sleep(2_000))
  const mainStart = performance.now()
  const main = await loopDelay(() => mainThread(requests))
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
        ...judge(targets.chartsLoopDelay, pool.maxDelayMs, main.maxDelayMs / pool.maxDelayMs)
      },
      {
        label: "main-thread CPU per chart, pool",
        value: pool.mainCpuMs / chartCount,
        unit: "ms",
        baseline: { label: "main thread", value: main.mainCpuMs / chartCount },
        ratio: main.mainCpuMs / pool.mainCpuMs,
        ...judge(targets.chartsMainThreadCpu, pool.mainCpuMs, main.mainCpuMs / pool.mainCpuMs)
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
        ...judge(targets.chartsRenderP50, poolP50)
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

/**
 * bench:check's quick mode: 6 charts a round, main thread and pool alternating, the main thread's own CPU time (what
 * blocks its event loop) in each; medians. CPU time rather than event-loop delay: on a busy machine the delay is the
 * other processes'.
 */
export const quick = (): Promise<ReadonlyArray<CheckedFigure>> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const pool = yield* startedPool(2)
        const batch = requests.slice(0, 6)
        const { baseline, candidate } = yield* alternating(
          3,
          Effect.promise(() => loopDelay(() => mainThread(batch))).pipe(Effect.map((main) => main.mainCpuMs)),
          Effect.map(pool.render(batch), (pooled) => pooled.mainCpuMs)
        )
        return [
          {
            label: `charts: main-thread CPU per chart, pool of ${pool.workers} vs drawing on the main thread`,
            ratio: baseline / candidate,
            target: targets.chartsMainThreadCpu,
            detail: `main thread ${(baseline / batch.length).toFixed(1)} ms / pool ${(candidate / batch.length).toFixed(1)} ms`
          }
        ]
      })
    ).pipe(Effect.provide(ChartsLive))
  )

if (isMain(import.meta.url)) publish(await run())
