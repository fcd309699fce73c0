import { Cause, Clock, Duration, Effect, Fiber, FiberMap, FiberSet, Layer, Schedule } from "effect"
import type { FeedSource } from "../Feeds/Sources.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { ErrorTracker } from "../Kernel/ErrorTracker.js"
import { type CycleResult, Runner } from "./Runner.js"

/** A poller that died of a defect comes back after 1 s, then doubling, at most a minute apart. */
const restartBackoff = Schedule.exponential("1 second").pipe(Schedule.union(Schedule.spaced("1 minute")))

/** Each source's supervised poll loop, and a finalizer that gives running polls their grace at shutdown. */
export const makePollers = Effect.gen(function* () {
  const runner = yield* Runner
  const errors = yield* ErrorTracker
  const { runner: settings } = yield* AppConfig
  // The running polls live apart from their pollers, so stopping a poller leaves its poll to finish.
  const running = yield* FiberSet.make<CycleResult>()
  // Finalizers run uninterruptibly; the wait must be interruptible for the grace timeout to cut it short.
  yield* Effect.addFinalizer(() =>
    Effect.interruptible(FiberSet.awaitEmpty(running)).pipe(
      Effect.timeout(Duration.seconds(settings.shutdownGraceSeconds)),
      Effect.ignore
    )
  )

  const pollForever = (source: FeedSource) =>
    Effect.gen(function* () {
      const startedAt = yield* Clock.currentTimeMillis
      yield* Fiber.join(yield* FiberSet.run(running, runner.poll(source)))
      yield* Effect.sleep(yield* runner.nextDelay(source, startedAt))
    }).pipe(Effect.forever)

  const supervised = (source: FeedSource) =>
    pollForever(source).pipe(
      Effect.sandbox,
      Effect.tapError((cause) =>
        Effect.zipRight(
          errors.record({
            stage: "cycle",
            tag: "PollerDied",
            message: Cause.squash(cause) instanceof Error ? (Cause.squash(cause) as Error).message : "defect",
            subject: source.name
          }),
          Effect.logError(`poller for ${source.name} died; restarting it`, cause)
        )
      ),
      Effect.retry(restartBackoff),
      Effect.annotateLogs({ module: "Runner", source: source.name })
    )

  return { sources: runner.sources, supervised } as const
})

/**
 * One supervised poller per source, each a fiber in a FiberMap keyed by feed name: poll, run the
 * pipeline for that poll's new items, sleep the source's own delay. A slow, failing or hung source
 * delays only its own poller. On SIGINT/SIGTERM the layer's scope closes: the pollers stop
 * scheduling, the polls already running get SHUTDOWN_GRACE_SECONDS to finish, then they are interrupted.
 */
export const Pollers = Layer.scopedDiscard(
  Effect.gen(function* () {
    const { sources, supervised } = yield* makePollers
    // Made after the grace finalizer, so it closes first: pollers stop before the grace wait.
    const pollers = yield* FiberMap.make<string>()
    for (const source of sources) yield* FiberMap.run(pollers, source.name, supervised(source))
    yield* Effect.logInfo(`runner started: ${sources.length} poller(s)`).pipe(Effect.annotateLogs("module", "Runner"))
  })
)
