import * as Worker from "@effect/platform/Worker"
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import type { WorkerError } from "@effect/platform/WorkerError"
import {
  Cause,
  Clock,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  ExecutionStrategy,
  Exit,
  Metric,
  Option,
  Schedule,
  Scope
} from "effect"
import { extname } from "node:path"
import { fileURLToPath } from "node:url"
import * as WorkerThreads from "node:worker_threads"
import { AppConfig } from "../Kernel/AppConfig.js"
import { type ChartRequest, RenderChart } from "./Protocol.js"

/** Why a chart could not be drawn; the alert then goes out flagged "chart unavailable". */
export class ChartFailed extends Data.TaggedError("ChartFailed")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** A worker that cannot start (or be replaced) within this is broken; waiting longer would only stall delivery. */
const workerStartTimeout = Duration.seconds(30)

export const workerRestarts = Metric.counter("chart_worker_restarts_total", {
  description: "Chart workers terminated and replaced after a crash or a timeout"
})
export const workersRunning = Metric.gauge("chart_workers_running", {
  description: "Chart worker threads alive: none until the first chart, none again after CHART_WORKER_IDLE_SECONDS idle"
})
export const queueRejections = Metric.counter("chart_queue_rejections_total", {
  description: "Charts refused because every worker was busy and the queue was full"
})

/**
 * The module that a worker thread runs. Resolved next to this file, so it is `RenderWorker.ts` under vitest/tsx and
 * `RenderWorker.js` in dist/. Tests swap in a worker that misbehaves on request.
 */
export class ChartWorkerEntry extends Context.Reference<ChartWorkerEntry>()("Charts/ChartWorkerEntry", {
  defaultValue: () => new URL(`./RenderWorker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)
}) {}

/** A TypeScript entry (tests, tsx) goes through a bootstrap that loads tsx in the worker; compiled JS runs as is. */
const spawnThread = (entry: URL) =>
  entry.pathname.endsWith(".ts")
    ? new WorkerThreads.Worker(new URL("./TsWorker.mjs", import.meta.url), { workerData: { entry: entry.href } })
    : new WorkerThreads.Worker(entry)

/**
 * A fixed pool of worker threads that draw charts, so the main event loop never runs the CPU-heavy part.
 * One chart at a time per worker; at most CHART_QUEUE_SIZE more wait, the rest are refused at once.
 * A worker that crashes or overruns CHART_TIMEOUT_MS is terminated and replaced by a fresh one. A waiting chart gets a
 * worker within CHART_TIMEOUT_MS (the stuck one is replaced by then) plus a worker's start-up time.
 * Each worker holds ~40-70 MB (ECharts, resvg, fonts), so the pool starts with the first chart and is closed after
 * CHART_WORKER_IDLE_SECONDS without one; the next chart starts it again and waits for a worker's start-up.
 */
export class RenderPool extends Effect.Service<RenderPool>()("Charts/RenderPool", {
  scoped: Effect.gen(function* () {
    const { charts: config } = yield* AppConfig
    const entry = yield* ChartWorkerEntry
    const threads = new Map<number, WorkerThreads.Worker>()
    const spawn = (id: number) => {
      const thread = spawnThread(entry)
      threads.set(id, thread)
      workersRunning.unsafeUpdate(threads.size, [])
      thread.once("exit", () => {
        if (threads.get(id) === thread) threads.delete(id)
        workersRunning.unsafeUpdate(threads.size, [])
      })
      return thread
    }

    // A pool starts with the chart that needs it, in the background and in a scope of its own: a run that never charts
    // (`once`, `doctor`) never pays for workers, a broken worker install costs charts, not the bot's start-up, and an
    // idle pool is closed on its own. (A Deferred, not Fiber.join: joining would also merge the spawning fiber's
    // context, Scope included, into the caller, and every pool checkout would then be released only with the pool.)
    interface Generation {
      readonly scope: Scope.CloseableScope
      readonly ready: Deferred.Deferred<Worker.SerializedWorkerPool<RenderChart>, WorkerError>
      users: number
      lastUsedAt: number
    }
    const layerScope = yield* Effect.scope
    const lifecycle = yield* Effect.makeSemaphore(1)
    let current: Generation | undefined
    const startGeneration = Effect.gen(function* () {
      const scope = yield* Scope.fork(layerScope, ExecutionStrategy.sequential)
      const ready = yield* Deferred.make<Worker.SerializedWorkerPool<RenderChart>, WorkerError>()
      yield* Worker.makePoolSerialized<RenderChart>({ size: config.workers, concurrency: 1 }).pipe(
        Effect.provide(NodeWorker.layer(spawn)),
        Effect.tap(() => Effect.logDebug(`${config.workers} chart workers ready`)),
        Effect.exit,
        Effect.flatMap((exit) => Deferred.done(ready, exit)),
        Scope.extend(scope),
        Effect.forkIn(scope)
      )
      return { scope, ready, users: 0, lastUsedAt: 0 }
    })
    /** The running pool (started if there is none), held until the caller's scope closes. */
    const checkout = Effect.acquireRelease(
      lifecycle.withPermits(1)(
        Effect.gen(function* () {
          const generation = current ?? (yield* startGeneration)
          current = generation
          generation.users++
          return generation
        })
      ),
      (generation) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          generation.users--
          generation.lastUsedAt = now
        })
    )
    const idleMs = config.workerIdleSeconds * 1_000
    const closeIfIdle = lifecycle.withPermits(1)(
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        if (current === undefined || current.users > 0 || now - current.lastUsedAt < idleMs) return
        const idle = current
        current = undefined
        yield* Scope.close(idle.scope, Exit.void)
        yield* Effect.logDebug(`chart workers stopped after ${config.workerIdleSeconds} s without a chart`)
      })
    )
    yield* closeIfIdle.pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(Math.min(idleMs / 4, 5_000)))),
      Effect.forkScoped
    )
    const admission = yield* Effect.makeSemaphore(config.workers + config.queueSize)
    const timeout = Duration.millis(config.timeoutMs)

    const replace = (pool: Worker.SerializedWorkerPool<RenderChart>, worker: Worker.SerializedWorker<RenderChart>) =>
      Effect.gen(function* () {
        yield* Effect.promise(() => threads.get(worker.id)?.terminate() ?? Promise.resolve(0))
        yield* pool.backing.invalidate(worker)
        yield* Metric.increment(workerRestarts)
      })

    const drawOnWorker = (request: ChartRequest) =>
      Effect.gen(function* () {
        const generation = yield* checkout
        const [pool, worker] = yield* Deferred.await(generation.ready).pipe(
          Effect.flatMap((pool) => Effect.map(pool.backing.get, (worker) => [pool, worker] as const)),
          Effect.timeoutFail({
            duration: Duration.sum(timeout, workerStartTimeout),
            onTimeout: () => new ChartFailed({ reason: "no chart worker became available" })
          })
        )
        return yield* worker.executeEffect(new RenderChart(request)).pipe(
          Effect.timeout(timeout),
          Effect.catchTags({
            DrawError: (error) => Effect.fail(new ChartFailed({ reason: error.reason })),
            // A worker that died answers with a WorkerError, which then fails to decode as a DrawError.
            ParseError: (error) =>
              Effect.logDebug("chart worker failed", error).pipe(
                Effect.zipRight(replace(pool, worker)),
                Effect.zipRight(Effect.fail(new ChartFailed({ reason: "chart worker failed" })))
              ),
            TimeoutException: () =>
              Effect.zipRight(
                replace(pool, worker),
                Effect.fail(new ChartFailed({ reason: `chart timed out after ${config.timeoutMs} ms` }))
              )
          })
        )
      }).pipe(
        Effect.scoped,
        Effect.catchTag("WorkerError", (error) =>
          Effect.fail(new ChartFailed({ reason: `chart workers unavailable: ${error.message}` }))
        )
      )

    return {
      /** PNG bytes for the request, drawn on a worker thread. */
      draw: (request: ChartRequest): Effect.Effect<Uint8Array, ChartFailed> =>
        admission
          .withPermitsIfAvailable(1)(drawOnWorker(request))
          .pipe(
            Effect.flatMap(
              Option.match({
                onNone: () =>
                  Effect.zipRight(
                    Metric.increment(queueRejections),
                    Effect.fail(new ChartFailed({ reason: "chart queue is full" }))
                  ),
                onSome: Effect.succeed
              })
            ),
            Effect.catchAllDefect((defect) =>
              Effect.zipRight(
                Effect.logError("chart renderer defect", Cause.die(defect)),
                Effect.fail(new ChartFailed({ reason: "chart renderer defect (see log)" }))
              )
            )
          )
    } as const
  }),
  dependencies: [AppConfig.Default]
}) {}
