import { Effect, Layer, ManagedRuntime, Metric } from "effect"
import { performance } from "node:perf_hooks"
import { Cycle } from "../src/Runner/Cycle.js"
import { encodePrometheus } from "../src/App/PrometheusText.js"
import { TracingLive } from "../src/Kernel/Tracing.js"
import { tempDataConfig } from "../test/support/TestLayers.js"
import { type FeedServer, feedServer, testCycle, testItem } from "../test/support/TestPipeline.js"
import {
  type BenchReport,
  type CheckedFigure,
  helperProcess,
  isMain,
  median,
  publish,
  threadSchedule,
  unloadedNow
} from "./lib.js"
import { judge, targets } from "./targets.js"

/**
 * Cycle time with tracing and metrics export on versus off, measured in the same process with
 * interleaved rounds. Each cycle fetches a local HTTP feed page of `itemsPerCycle` items, dedupes
 * them in SQLite (`newPerCycle` are new), classifies them, and enqueues each new one as an alert.
 *  - off: the production default without OTEL_EXPORTER_OTLP_ENDPOINT (no exporter, nothing scraped);
 *  - on: OTLP/HTTP JSON export of every span, metric and log to a local receiver (in its own
 *    process, as Jaeger would be), and a Prometheus scrape after every cycle. A scrape is its own
 *    HTTP request between cycles, so it is timed separately and compared with the cycle it follows.
 * Effect's in-process metric updates happen in both: they are part of the pipeline code itself.
 * Measured twice: with the feed answering in `wireLatencyMs` like a fast real wire (the target
 * figure), and CPU-bound with the feed answering at once (the worst case: all overhead, no waiting).
 * CPU time per cycle is reported too, being less sensitive than wall time to load from other processes.
 */

/** A typical poll: a page of items, most already seen, a handful new (each of which alerts here). */
const itemsPerCycle = 100
const newPerCycle = 10
const warmupCycles = 30
/** A fast real wire: PR Newswire and GlobeNewswire pages take 100–500 ms from a VPS. */
const wireLatencyMs = 50

/** The receiver runs in its own process, as Jaeger would, so decoding spans doesn't load the measured loop. */
const receiver = Effect.map(helperProcess("otelReceiver"), ({ firstLine }) => ({ url: firstLine }))

const recordedSpans = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/recorded`)
    const body = (await response.json()) as { spans: ReadonlyArray<unknown> }
    return body.spans.length
  })

const runtimeFor = (feed: FeedServer, config: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      ManagedRuntime.make(testCycle(feed).pipe(Layer.provideMerge(TracingLive), Layer.provide(tempDataConfig(config))))
    ),
    (runtime) => Effect.promise(() => runtime.dispose())
  )

interface Samples {
  readonly times: Array<number>
  readonly cpu: Array<number>
}

interface Sizes {
  readonly warmupCycles: number
  /** Interleaved rounds and cycles per round, CPU-bound and with the feed answering in `wireLatencyMs`. */
  readonly local: readonly [rounds: number, cyclesPerRound: number]
  readonly wire: readonly [rounds: number, cyclesPerRound: number]
  /** The clock for each comparison's cycle times. */
  readonly clocks: { readonly local: () => number; readonly wire: () => number }
}

const measure = (sizes: Sizes) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const otlp = yield* receiver
        const feed = yield* feedServer
        const off = yield* runtimeFor(feed, {})
        const on = yield* runtimeFor(feed, { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url })
        let batch = 0
        let traced = 0
        const scrapes: Array<number> = []

        const cycles = (
          runtime: typeof on,
          scrape: boolean,
          count: number,
          samples: Samples | null,
          clock: () => number = () => performance.now()
        ) =>
          Effect.promise(async () => {
            for (let i = 0; i < count; i++) {
              batch += 1
              if (runtime === on) traced += 1
              // A sliding window over an endless story stream: each poll shows `newPerCycle` stories it hasn't before.
              const first = batch * newPerCycle
              feed.setItems(Array.from({ length: itemsPerCycle }, (_, n) => testItem(`s${first + n}`)))
              const cpuBefore = process.cpuUsage()
              const started = clock()
              await runtime.runPromise(Effect.flatMap(Cycle, (cycle) => cycle.run()))
              if (samples !== null) {
                samples.times.push(clock() - started)
                const cpu = process.cpuUsage(cpuBefore)
                samples.cpu.push((cpu.user + cpu.system) / 1000)
              }
              if (scrape) {
                const scrapeStarted = performance.now()
                await encodePrometheus(Metric.unsafeSnapshot())
                if (samples !== null) scrapes.push(performance.now() - scrapeStarted)
              }
            }
          })

        /** Interleaved rounds of a few cycles each, so load from other processes hits both variants alike. */
        const compare = (latencyMs: number, rounds: number, cyclesPerRound: number, clock: () => number) =>
          Effect.gen(function* () {
            feed.setLatency(latencyMs)
            const results = { off: { times: [], cpu: [] } as Samples, on: { times: [], cpu: [] } as Samples }
            for (let round = 0; round < rounds; round++) {
              const runOff = cycles(off, false, cyclesPerRound, results.off, clock)
              const runOn = cycles(on, true, cyclesPerRound, results.on, clock)
              yield* round % 2 === 0 ? Effect.zipRight(runOff, runOn) : Effect.zipRight(runOn, runOff)
            }
            return results
          })

        yield* cycles(off, false, sizes.warmupCycles, null)
        yield* cycles(on, true, sizes.warmupCycles, null)
        const local = yield* compare(0, ...sizes.local, sizes.clocks.local)
        const wire = yield* compare(wireLatencyMs, ...sizes.wire, sizes.clocks.wire)
        // Let the exporter's shutdown flush run, so the receiver really got the spans we paid for.
        yield* Effect.promise(() => on.dispose())
        const spans = yield* recordedSpans(otlp.url)
        return { local, wire, scrapes, spans, traced }
      })
    )
  )

const timeRatio = (results: { off: Samples; on: Samples }) => median(results.on.times) / median(results.off.times)

export const run = async (): Promise<BenchReport> => {
  const { local, wire, scrapes, spans, traced } = await measure({
    warmupCycles,
    local: [60, 4],
    wire: [15, 2],
    clocks: { local: () => performance.now(), wire: () => performance.now() }
  })
  return {
    name: "otel",
    figures: [
      {
        label: `cycle time (median; ${itemsPerCycle} items, ${newPerCycle} new, feed answers in ${wireLatencyMs} ms), tracing + metrics on`,
        value: median(wire.on.times),
        unit: "ms",
        baseline: { label: "tracing + metrics export off", value: median(wire.off.times) },
        ratio: timeRatio(wire),
        ...judge(targets.tracingOverhead, median(wire.on.times), timeRatio(wire))
      },
      {
        label: "cycle time (median), CPU-bound: feed on localhost answers at once, tracing + metrics on",
        value: median(local.on.times),
        unit: "ms",
        baseline: { label: "off", value: median(local.off.times) },
        ratio: timeRatio(local),
        ...judge(targets.tracingOverhead, median(local.on.times), timeRatio(local))
      },
      {
        label: "CPU time per cycle (median), CPU-bound, tracing + metrics on",
        value: median(local.on.cpu),
        unit: "ms",
        baseline: { label: "off", value: median(local.off.cpu) },
        ratio: median(local.on.cpu) / median(local.off.cpu)
      },
      {
        label: "one /metrics scrape (median), every metric encoded",
        value: median(scrapes),
        unit: "ms",
        baseline: { label: "CPU-bound cycle time, off", value: median(local.off.times) },
        ratio: median(scrapes) / median(local.off.times)
      },
      {
        label: "spans received by the OTLP receiver",
        value: spans,
        unit: "spans",
        baseline: { label: "cycles traced", value: traced },
        ratio: spans / traced
      }
    ]
  } satisfies BenchReport
}

/**
 * bench:check's quick mode: fewer warm-up cycles and rounds, the same interleaving. CPU-bound cycles are timed in
 * this thread's CPU time, the wire-latency ones on the clock that stops while the machine is too busy to run us.
 */
export const quick = async (): Promise<ReadonlyArray<CheckedFigure>> => {
  const { wire } = await measure({
    warmupCycles: 10,
    local: [1, 1],
    wire: [8, 2],
    clocks: { local: () => threadSchedule().onCpuMs, wire: unloadedNow }
  })
  const figure = (label: string, results: { off: Samples; on: Samples }): CheckedFigure => ({
    label,
    ratio: timeRatio(results),
    target: targets.tracingOverhead,
    detail: `on ${median(results.on.times).toFixed(1)} ms / off ${median(results.off.times).toFixed(1)} ms`
  })
  // The CPU-bound comparison is not checked: in quick rounds it read 1.05-1.25 on an unchanged tree under load.
  return [figure(`otel: cycle time, tracing + metrics on vs off (feed answers in ${wireLatencyMs} ms)`, wire)]
}

if (isMain(import.meta.url)) publish(await run())
