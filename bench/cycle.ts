/**
 * bench:cycle — the whole bot over the simulated world.
 * 1. One full cycle (3 wires, 2 SEC feeds, LLM, quotes, SQLite, then Discord delivery) with the shipped
 *    concurrency, against the same cycle with FEED_CONCURRENCY=1, LLM_CONCURRENCY=1 and YAHOO_CONCURRENCY=1
 *    (sequential fetching, LLM and quote calls), both measured here, on fresh worlds with the same news.
 * 2. A 1,000-cycle soak with fresh news every cycle and delivery running beside it: heap and RSS after
 *    the warm-up are the baseline for their growth by the end.
 * Run with --expose-gc (the npm script does) so heap figures are taken after a full collection.
 */
import { Duration, Effect, Fiber, Logger, LogLevel } from "effect"
import { Delivery } from "../src/Delivery/Delivery.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { Runner } from "../src/Runner/Runner.js"
import * as World from "../src/World/World.js"
import { worldBot } from "../test/support/WorldBot.js"
import { type BenchReport, type Figure, isMain, publish } from "./lib.js"
import { judge, targets } from "./targets.js"

const storiesPerCycle = 30
const rounds = 2
const soakCycles = Number(process.env.SOAK_CYCLES ?? 1_000)
const warmupCycles = Math.min(100, Math.floor(soakCycles / 10))

/** Realistic round trips: a wire ~150 ms, SEC ~100 ms, an LLM call ~400 ms, a quote ~80 ms. */
const latencies = { wireLatencyMs: 150, secLatencyMs: 100, llmLatencyMs: 400 }
const fastDiscord = { limit: 1_000, windowMs: 1_000, globalPerSecond: 1_000 }

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** One cycle plus the delivery of its alerts, on a fresh world and database. */
const oneCycle = (settings: Record<string, string | number>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const world = yield* World.make({ ...latencies, discord: fastDiscord })
      world.quotes.setLatency(80)
      world.publishNews(storiesPerCycle)
      return yield* Effect.gen(function* () {
        const runner = yield* Runner
        const delivery = yield* Delivery
        const started = performance.now()
        const result = yield* runner.runCycle
        const cycleMs = performance.now() - started
        if (result._tag !== "Completed") throw new Error(`cycle failed: ${JSON.stringify(result)}`)
        const drained = yield* delivery.awaitSettled(0, Duration.seconds(60))
        const totalMs = performance.now() - started
        if (drained.delivered !== result.summary.alerted) throw new Error(`undelivered: ${JSON.stringify(drained)}`)
        return { cycleMs, totalMs, fetched: result.summary.fetched, alerted: result.summary.alerted }
      }).pipe(Effect.provide(worldBot(world, { DISCORD_GLOBAL_RATE_LIMIT: 50, ...settings })))
    })
  ).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

const sequential = { FEED_CONCURRENCY: 1, LLM_CONCURRENCY: 1, YAHOO_CONCURRENCY: 1 }

const heap = () => {
  globalThis.gc?.()
  const { heapUsed, rss } = process.memoryUsage()
  return { heapUsed, rss }
}

/** `soakCycles` cycles, each with fresh news, delivery draining beside them. */
const soak = Effect.scoped(
  Effect.gen(function* () {
    const world = yield* World.make({ discord: fastDiscord })
    return yield* Effect.gen(function* () {
      const runner = yield* Runner
      const delivery = yield* Delivery
      const outbox = yield* Outbox
      const deliveryFiber = yield* Effect.fork(delivery.loop)
      const samples: Array<{ readonly cycle: number; readonly heapUsed: number; readonly rss: number }> = []
      let failed = 0
      const started = performance.now()
      for (let cycle = 1; cycle <= soakCycles; cycle++) {
        world.publishNews(5)
        const result = yield* runner.runCycle
        if (result._tag !== "Completed") failed += 1
        if (cycle % 100 === 0) world.clearRecords()
        if (cycle === warmupCycles || cycle % 250 === 0) samples.push({ cycle, ...heap() })
      }
      const elapsedS = (performance.now() - started) / 1000
      yield* Fiber.interrupt(deliveryFiber)
      const counts = yield* outbox.counts()
      return { samples, failed, elapsedS, delivered: counts.delivered, pending: counts.pending }
    }).pipe(
      Effect.provide(
        worldBot(world, {
          SEC_EXCERPT_CHARS: 0,
          // The local LLM answers at once; LLM_RPM's 60/min would make the soak an hour long.
          LLM_RPM: 0,
          DISCORD_GLOBAL_RATE_LIMIT: 50
        })
      )
    )
  })
).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

export const run = async (): Promise<BenchReport> => {
  const concurrent: Array<{ cycleMs: number; totalMs: number; alerted: number; fetched: number }> = []
  const baseline: Array<{ cycleMs: number; totalMs: number; alerted: number; fetched: number }> = []
  for (let round = 0; round < rounds; round++) {
    concurrent.push(await Effect.runPromise(oneCycle({})))
    baseline.push(await Effect.runPromise(oneCycle(sequential)))
  }
  const cycleMs = median(concurrent.map((r) => r.cycleMs))
  const cycleBaseline = median(baseline.map((r) => r.cycleMs))
  const totalMs = median(concurrent.map((r) => r.totalMs))
  const totalBaseline = median(baseline.map((r) => r.totalMs))

  const soaked = await Effect.runPromise(soak)
  const warm = soaked.samples[0]!
  const last = soaked.samples[soaked.samples.length - 1]!
  const mib = (bytes: number) => bytes / 2 ** 20
  const heapGrowth = mib(last.heapUsed - warm.heapUsed)
  const rssGrowth = mib(last.rss - warm.rss)
  const cyclesMeasured = last.cycle - warm.cycle

  const figures: Array<Figure> = [
    {
      label: `one cycle: ${concurrent[0]!.fetched} items fetched, ${concurrent[0]!.alerted} alerted (fetch → enqueue)`,
      value: cycleMs,
      unit: "ms",
      baseline: { label: "sequential feeds, LLM and quotes", value: cycleBaseline },
      ratio: cycleBaseline / cycleMs,
      ...judge(targets.cycleSpeedup, cycleMs, cycleBaseline / cycleMs)
    },
    {
      label: "one cycle until every alert is on Discord",
      value: totalMs,
      unit: "ms",
      baseline: { label: "sequential feeds, LLM and quotes", value: totalBaseline },
      ratio: totalBaseline / totalMs
    },
    {
      label: `soak: heap growth over cycles ${warm.cycle}→${last.cycle} (fresh news each cycle)`,
      value: heapGrowth,
      unit: "MiB",
      baseline: { label: `heap after ${warm.cycle} cycles, MiB`, value: mib(warm.heapUsed) },
      ratio: last.heapUsed / warm.heapUsed,
      ...judge(targets.soakHeapGrowth, heapGrowth)
    },
    {
      label: `soak: RSS growth over cycles ${warm.cycle}→${last.cycle}`,
      value: rssGrowth,
      unit: "MiB",
      baseline: { label: `RSS after ${warm.cycle} cycles, MiB`, value: mib(warm.rss) },
      ratio: last.rss / warm.rss
    },
    {
      label: "soak: heap growth per cycle",
      value: (heapGrowth * 1024) / Math.max(1, cyclesMeasured),
      unit: "KiB/cycle"
    },
    {
      label: `soak: ${soakCycles} cycles (${soaked.failed} failed), ${soaked.delivered} alerts delivered`,
      value: soaked.elapsedS,
      unit: "s"
    }
  ]
  console.log(
    `heap samples: ${soaked.samples.map((s) => `#${s.cycle}: ${mib(s.heapUsed).toFixed(1)} MiB heap, ${mib(s.rss).toFixed(0)} MiB RSS`).join("; ")}`
  )
  return { name: "cycle", figures }
}

if (isMain(import.meta.url)) publish(await run())
