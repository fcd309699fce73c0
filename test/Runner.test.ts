import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Random, Ref, Scope, TestClock } from "effect"
import { AdminChannel, type AdminEvent } from "../src/Kernel/AdminChannel.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { Cycle } from "../src/Runner/Cycle.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import type { CycleSummary, FeedReport } from "../src/Kernel/Domain.js"
import { type CycleResult, initialSourceState, outageOf, Runner } from "../src/Runner/Runner.js"
import { Pollers } from "../src/Runner/Pollers.js"
import { FeedIngest } from "../src/Feeds/FeedIngest.js"
import type { FeedSource } from "../src/Feeds/Sources.js"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Agent, get } from "node:http"
import { freePort, spawnCli } from "./support/Cli.js"
import { configLayer, databaseAnswering } from "./support/TestLayers.js"

const summary = (fetched: number, feeds: ReadonlyArray<FeedReport> = []): CycleSummary => ({
  startedAt: "2026-11-28T15:00:00.000Z",
  durationMs: 1,
  feeds,
  fetched,
  new: fetched,
  alerted: 0,
  outcomes: [],
  notes: []
})

const wire = (name: string): FeedSource => ({ name, url: `https://${name}.example/rss`, kind: "rss", enabled: true })

/**
 * A Runner whose polls are scripted per source: each poll takes the source's next behaviour, the
 * last one repeats. Sources without a script answer an empty summary.
 */
const scriptedRunner = (
  scripts: Record<string, ReadonlyArray<Effect.Effect<CycleSummary, unknown>>>,
  config = {},
  names: ReadonlyArray<string> = Object.keys(scripts)
) =>
  Effect.gen(function* () {
    const calls = yield* Ref.make<Record<string, number>>({})
    const notices = yield* Ref.make<ReadonlyArray<AdminEvent>>([])
    const cycle = Cycle.Test({
      run: (source?: FeedSource) => {
        const name = source?.name ?? "all"
        const script = scripts[name] ?? [Effect.succeed(summary(0))]
        return Ref.modify(calls, (all) => [all[name] ?? 0, { ...all, [name]: (all[name] ?? 0) + 1 }]).pipe(
          Effect.flatMap((n) => script[Math.min(n, script.length - 1)]!),
          Effect.orDie
        )
      }
    })
    const ingest = FeedIngest.Test({ sources: names.map(wire), disabledReason: () => null })
    const admin = AdminChannel.Test({
      notify: (event) => Ref.update(notices, (all) => [...all, event])
    })
    const layer = Runner.DefaultWithoutDependencies.pipe(
      Layer.provideMerge(
        Layer.mergeAll(cycle, ingest, admin, AppConfig.Default, ErrorTracker.Default, databaseAnswering)
      ),
      Layer.provideMerge(
        configLayer({ POLL_SECONDS: 10, POLL_SECONDS_CLOSED: 10, CYCLE_TIMEOUT_SECONDS: 5, ...config })
      )
    )
    const callsOf = (name: string) => Effect.map(Ref.get(calls), (all) => all[name] ?? 0)
    return { layer, callsOf, notices }
  })

const pollers = <E, R>(layer: Layer.Layer<Runner | AppConfig | ErrorTracker, E, R>) =>
  Pollers.pipe(Layer.provide(layer))

describe("Runner", () => {
  it.effect("records a failing poll with its cause and carries on", () =>
    Effect.gen(function* () {
      const { layer } = yield* scriptedRunner({
        Wire: [Effect.die(new Error("boom in stage")), Effect.succeed(summary(3))]
      })
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        const first = yield* runner.poll(wire("Wire"))
        expect(first._tag).toBe("Failed")
        expect(first._tag === "Failed" && first.reason).toContain("boom in stage")
        const second = yield* runner.poll(wire("Wire"))
        expect(second._tag).toBe("Completed")
        const state = yield* runner.state
        expect(state.cycles).toBe(2)
        expect(state.sources[0]).toMatchObject({ name: "Wire", polls: 2, consecutiveFailures: 0 })
      }).pipe(Effect.provide(layer))
    })
  )

  it.effect("interrupts a poll past CYCLE_TIMEOUT_SECONDS and carries on", () =>
    Effect.gen(function* () {
      const { layer } = yield* scriptedRunner({ Wire: [Effect.never, Effect.succeed(summary(1))] })
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        const hung = yield* Effect.fork(runner.poll(wire("Wire")))
        yield* TestClock.adjust("5 seconds")
        const result = yield* Fiber.join(hung)
        expect(result._tag).toBe("TimedOut")
        expect((yield* runner.poll(wire("Wire")))._tag).toBe("Completed")
      }).pipe(Effect.provide(layer))
    })
  )

  it.scoped("keeps polling on its schedule after failures and timeouts, backing off while it fails", () =>
    Effect.gen(function* () {
      const { layer, callsOf } = yield* scriptedRunner({
        Wire: [Effect.die("first fails"), Effect.never, Effect.succeed(summary(1))]
      })
      // No jitter: the failure delays are exactly the backoff.
      yield* Layer.build(pollers(layer)).pipe(Effect.withRandom(Random.fixed([0])))
      yield* TestClock.adjust("1 millis")
      expect(yield* callsOf("Wire")).toBe(1)
      // One failure: the interval.
      yield* TestClock.adjust("10 seconds")
      expect(yield* callsOf("Wire")).toBe(2)
      // The hung poll times out after 5 s; two failures in a row: twice the interval, from that poll's start.
      yield* TestClock.adjust("5 seconds")
      yield* TestClock.adjust("14 seconds")
      expect(yield* callsOf("Wire")).toBe(2)
      yield* TestClock.adjust("1 seconds")
      expect(yield* callsOf("Wire")).toBe(3)
      // Recovered: back to the interval.
      yield* TestClock.adjust("10 seconds")
      expect(yield* callsOf("Wire")).toBe(4)
    })
  )

  it.scoped("a hung source never delays another", () =>
    Effect.gen(function* () {
      const { layer, callsOf } = yield* scriptedRunner(
        { Hung: [Effect.never], Fast: [Effect.succeed(summary(1))] },
        { CYCLE_TIMEOUT_SECONDS: 3600, SHUTDOWN_GRACE_SECONDS: 1 }
      )
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(pollers(layer), scope)
      yield* TestClock.adjust("1 millis")
      for (let tick = 1; tick <= 5; tick++) yield* TestClock.adjust("10 seconds")
      expect(yield* callsOf("Hung")).toBe(1)
      expect(yield* callsOf("Fast")).toBe(6)
      // The hung poll holds shutdown up for the grace period only.
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("1 seconds")
      yield* Fiber.join(closing)
    })
  )

  it.scoped("restarts a poller that dies of a defect, with backoff, and logs it", () =>
    Effect.gen(function* () {
      const attempts = yield* Ref.make(0)
      const runner = Runner.Test({
        sources: [wire("Wire")],
        poll: () =>
          Ref.getAndUpdate(attempts, (n) => n + 1).pipe(
            Effect.flatMap((n) =>
              n < 2
                ? Effect.die(new Error(`poller bug ${n}`))
                : Effect.succeed<CycleResult>({ _tag: "Completed", summary: summary(1) })
            )
          ),
        nextDelay: () => Effect.succeed(Duration.seconds(10))
      })
      const context = yield* Layer.build(
        Layer.merge(Pollers, ErrorTracker.Default).pipe(
          Layer.provideMerge(Layer.mergeAll(runner, ErrorTracker.Default, AppConfig.Default)),
          Layer.provide(configLayer({}))
        )
      )
      yield* TestClock.adjust("1 millis")
      expect(yield* Ref.get(attempts)).toBe(1)
      // Restarted after 1 s, then after 2 s.
      yield* TestClock.adjust("1 seconds")
      expect(yield* Ref.get(attempts)).toBe(2)
      yield* TestClock.adjust("1 seconds")
      expect(yield* Ref.get(attempts)).toBe(2)
      yield* TestClock.adjust("1 seconds")
      expect(yield* Ref.get(attempts)).toBe(3)
      // Alive again: its own cadence.
      yield* TestClock.adjust("10 seconds")
      expect(yield* Ref.get(attempts)).toBe(4)
      const report = yield* Effect.flatMap(ErrorTracker, (errors) => errors.report).pipe(Effect.provide(context))
      expect(report.counts).toMatchObject([{ stage: "cycle", tag: "PollerDied", total: 2 }])
      expect(report.samples.map((sample) => sample.message).sort()).toEqual(["poller bug 0", "poller bug 1"])
    })
  )

  it.effect("tells the admin channel once when a source fails N polls in a row, and again on recovery", () =>
    Effect.gen(function* () {
      const failed: FeedReport = {
        name: "GlobeNewswire",
        url: "https://x",
        status: { _tag: "Failed", reason: "HTTP 503" }
      }
      const fine: FeedReport = { name: "GlobeNewswire", url: "https://x", status: { _tag: "Ok", items: 2, fresh: 2 } }
      const script = [
        Effect.succeed(summary(0, [failed])),
        Effect.succeed(summary(0, [failed])),
        Effect.succeed(summary(0, [failed])),
        Effect.succeed(summary(0, [failed])),
        Effect.succeed(summary(2, [fine]))
      ]
      const { layer, notices } = yield* scriptedRunner({ GlobeNewswire: script }, { ALERT_CONSECUTIVE_EMPTY_CYCLES: 3 })
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        for (let i = 0; i < 5; i++) yield* runner.poll(wire("GlobeNewswire"))
      }).pipe(Effect.provide(layer))
      const sent = yield* Ref.get(notices)
      expect(sent).toHaveLength(2)
      expect(sent[0]!.title).toBe("feed GlobeNewswire is failing")
      expect(sent[0]!.detail).toContain("3 polls failed in a row; last error: HTTP 503")
      expect(sent[1]!.title).toContain("flowing again")
    })
  )

  it("says a source went quiet, not failed, when it answers but is silent far past its usual gap in market hours", () => {
    // Tuesday 10 March 2026, 11:00 EDT.
    const now = Date.parse("2026-03-10T15:00:00Z")
    const source = {
      ...initialSourceState("PR Newswire"),
      polls: 500,
      lastPollAt: now,
      lastNewItemAt: now - 20 * 60_000,
      usualGapSeconds: 60
    }
    expect(outageOf(source, now, 3)).toMatchObject({ kind: "quiet" })
    expect(outageOf(source, now, 3)?.detail).toContain("usually a story every 60 s")
    // Within its usual rhythm, at night, or with the alert off: nothing.
    expect(outageOf({ ...source, lastNewItemAt: now - 5 * 60_000 }, now, 3)).toBeNull()
    expect(outageOf(source, Date.parse("2026-03-11T03:00:00Z"), 3)).toBeNull()
    expect(outageOf(source, now, 0)).toBeNull()
    expect(outageOf({ ...source, consecutiveFailures: 3, lastError: "HTTP 500" }, now, 3)?.kind).toBe("failed")
  })

  it.effect("learns a source's usual gap from the polls that brought new items", () =>
    Effect.gen(function* () {
      const fresh: FeedReport = { name: "Wire", url: "https://x", status: { _tag: "Ok", items: 1, fresh: 1 } }
      const withNew = (id: string): CycleSummary => ({
        ...summary(1, [fresh]),
        outcomes: [{ itemId: id, source: "Wire", title: id, outcome: "alerted", reason: null }]
      })
      let n = 0
      const { layer } = yield* scriptedRunner({ Wire: [Effect.suspend(() => Effect.succeed(withNew(`i${n++}`)))] })
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        for (let i = 0; i < 6; i++) {
          yield* runner.poll(wire("Wire"))
          yield* TestClock.adjust("30 seconds")
        }
        const [source] = (yield* runner.state).sources
        expect(source?.usualGapSeconds).toBe(30)
        expect(source?.lastNewItemAt).toBe(150_000)
      }).pipe(Effect.provide(layer))
    })
  )
})

describe("graceful shutdown", () => {
  it.effect("lets the running poll finish within the grace period", () =>
    Effect.gen(function* () {
      const finished = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const slowCycle = Deferred.succeed(started, undefined).pipe(
        Effect.zipRight(Effect.sleep("1500 millis")),
        Effect.zipRight(Deferred.succeed(finished, undefined)),
        Effect.as(summary(1))
      )
      const { layer } = yield* scriptedRunner({ Wire: [slowCycle] }, { SHUTDOWN_GRACE_SECONDS: 2 })
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(pollers(layer), scope)
      yield* Deferred.await(started)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("1499 millis")
      expect(yield* Deferred.isDone(finished)).toBe(false)
      expect(yield* Fiber.poll(closing)).toEqual(Option.none())
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(closing)
      expect(yield* Deferred.isDone(finished)).toBe(true)
    })
  )

  it.effect("interrupts a poll that outlives the grace period, at its end and not before", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const hung = Deferred.succeed(started, undefined).pipe(
        Effect.zipRight(Effect.never),
        Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
      )
      const { layer } = yield* scriptedRunner({ Wire: [hung] }, { SHUTDOWN_GRACE_SECONDS: 1 })
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(pollers(layer), scope)
      yield* Deferred.await(started)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("999 millis")
      expect(yield* Deferred.isDone(interrupted)).toBe(false)
      expect(yield* Fiber.poll(closing)).toEqual(Option.none())
      yield* TestClock.adjust("1 millis")
      expect(yield* Deferred.isDone(interrupted)).toBe(true)
      yield* Fiber.join(closing)
    })
  )

  it.each(["SIGINT", "SIGTERM"] as const)(
    "exits 0 on %s with a probe's connection to /health still open, closing the database",
    async (signal) => {
      const port = await freePort()
      const bot = spawnCli(["run"], { HEALTH_PORT: String(port) })
      // No feeds (an empty FEEDS_FILE): no poller to wait for, but the database is open and migrated.
      await bot.waitFor(/runner started/, 120_000)
      await bot.waitFor(new RegExp(`Listening on http://127\\.0\\.0\\.1:${port}`), 120_000)
      // A monitoring probe that keeps its connection alive must not hold the shutdown up.
      const probe = new Agent({ keepAlive: true })
      const status = await new Promise<number | undefined>((resolve, reject) =>
        get({ host: "127.0.0.1", port, path: "/health", agent: probe }, (response) => {
          response.resume()
          response.on("end", () => resolve(response.statusCode))
        }).on("error", reject)
      )
      expect(status).toBeDefined()
      expect(probe.freeSockets).not.toEqual({})
      bot.child.kill(signal)
      const result = await bot.exited
      probe.destroy()
      expect(result.code).toBe(0)
      const dataDir = bot.dataDir
      expect(existsSync(join(dataDir, "catalyst-bot.sqlite"))).toBe(true)
      // SQLite removes the WAL file only when the last connection closes cleanly.
      expect(existsSync(join(dataDir, "catalyst-bot.sqlite-wal"))).toBe(false)
    },
    180_000
  )
})
