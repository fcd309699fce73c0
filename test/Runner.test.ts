import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Option, Ref, Scope, TestClock } from "effect"
import { AdminChannel, type AdminEvent } from "../src/Kernel/AdminChannel.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { Cycle } from "../src/Runner/Cycle.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import type { CycleSummary, FeedReport } from "../src/Kernel/Domain.js"
import { Runner, RunnerLoop } from "../src/Runner/Runner.js"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Agent, get } from "node:http"
import { freePort, spawnCli } from "./support/Cli.js"
import { configLayer } from "./support/TestLayers.js"

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

/** A Runner whose cycles are scripted: each call takes the next behaviour, the last one repeats. */
const scriptedRunner = (script: ReadonlyArray<Effect.Effect<CycleSummary, unknown>>, config = {}) =>
  Effect.gen(function* () {
    const calls = yield* Ref.make(0)
    const notices = yield* Ref.make<ReadonlyArray<AdminEvent>>([])
    const cycle = Cycle.Test({
      run: () =>
        Ref.getAndUpdate(calls, (n) => n + 1).pipe(
          Effect.flatMap((n) => script[Math.min(n, script.length - 1)]!),
          Effect.orDie
        )
    })
    const admin = AdminChannel.Test({
      notify: (event) => Ref.update(notices, (all) => [...all, event])
    })
    const layer = Runner.DefaultWithoutDependencies.pipe(
      Layer.provideMerge(Layer.mergeAll(cycle, admin, AppConfig.Default, ErrorTracker.Default)),
      Layer.provideMerge(
        configLayer({ POLL_SECONDS: 10, POLL_SECONDS_CLOSED: 10, CYCLE_TIMEOUT_SECONDS: 5, ...config })
      )
    )
    return { layer, calls, notices }
  })

describe("Runner", () => {
  it.effect("records a failing cycle with its cause and carries on", () =>
    Effect.gen(function* () {
      const { layer } = yield* scriptedRunner([Effect.die(new Error("boom in stage")), Effect.succeed(summary(3))])
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        const first = yield* runner.runCycle
        expect(first._tag).toBe("Failed")
        expect(first._tag === "Failed" && first.reason).toContain("boom in stage")
        const second = yield* runner.runCycle
        expect(second._tag).toBe("Completed")
        expect((yield* runner.state).cycles).toBe(2)
      }).pipe(Effect.provide(layer))
    })
  )

  it.effect("interrupts a cycle past CYCLE_TIMEOUT_SECONDS and carries on", () =>
    Effect.gen(function* () {
      const { layer } = yield* scriptedRunner([Effect.never, Effect.succeed(summary(1))])
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        const hung = yield* Effect.fork(runner.runCycle)
        yield* TestClock.adjust("5 seconds")
        const result = yield* Fiber.join(hung)
        expect(result._tag).toBe("TimedOut")
        expect((yield* runner.runCycle)._tag).toBe("Completed")
      }).pipe(Effect.provide(layer))
    })
  )

  it.scoped("keeps looping on its schedule after failures and timeouts", () =>
    Effect.gen(function* () {
      const { layer, calls } = yield* scriptedRunner([
        Effect.die("first fails"),
        Effect.never,
        Effect.succeed(summary(1))
      ])
      yield* Layer.build(RunnerLoop.pipe(Layer.provide(layer)))
      yield* TestClock.adjust("1 millis")
      expect(yield* Ref.get(calls)).toBe(1)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Ref.get(calls)).toBe(2)
      yield* TestClock.adjust("5 seconds")
      yield* TestClock.adjust("10 seconds")
      expect(yield* Ref.get(calls)).toBe(3)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Ref.get(calls)).toBe(4)
    })
  )

  it.effect("tells the admin channel once when feeds fail for N cycles, and again on recovery", () =>
    Effect.gen(function* () {
      const failed: FeedReport = {
        name: "GlobeNewswire",
        url: "https://x",
        status: { _tag: "Failed", reason: "HTTP 503" }
      }
      const script = [
        Effect.succeed(summary(0, [failed])),
        Effect.succeed(summary(0, [failed])),
        Effect.succeed(summary(0, [failed])),
        Effect.succeed(summary(0, [failed])),
        Effect.succeed(summary(2))
      ]
      const { layer, notices } = yield* scriptedRunner(script, { ALERT_CONSECUTIVE_EMPTY_CYCLES: 3 })
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        for (let i = 0; i < 5; i++) yield* runner.runCycle
      }).pipe(Effect.provide(layer))
      const sent = yield* Ref.get(notices)
      expect(sent).toHaveLength(2)
      expect(sent[0]!.detail).toContain("every feed failed: GlobeNewswire (HTTP 503)")
      expect(sent[1]!.title).toContain("flowing again")
    })
  )

  it.effect("says 'quiet market' when every feed answered with nothing", () =>
    Effect.gen(function* () {
      const ok: FeedReport = { name: "PR Newswire", url: "https://x", status: { _tag: "Ok", items: 0, fresh: 0 } }
      const { layer, notices } = yield* scriptedRunner([Effect.succeed(summary(0, [ok]))], {
        ALERT_CONSECUTIVE_EMPTY_CYCLES: 2
      })
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        yield* runner.runCycle
        yield* runner.runCycle
      }).pipe(Effect.provide(layer))
      const [notice] = yield* Ref.get(notices)
      expect(notice?.detail).toContain("quiet market")
    })
  )
})

describe("graceful shutdown", () => {
  it.effect("lets the running cycle finish within the grace period", () =>
    Effect.gen(function* () {
      const finished = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const slowCycle = Deferred.succeed(started, undefined).pipe(
        Effect.zipRight(Effect.sleep("1500 millis")),
        Effect.zipRight(Deferred.succeed(finished, undefined)),
        Effect.as(summary(1))
      )
      const { layer } = yield* scriptedRunner([slowCycle], { SHUTDOWN_GRACE_SECONDS: 2 })
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(RunnerLoop.pipe(Layer.provide(layer)), scope)
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

  it.effect("interrupts a cycle that outlives the grace period, at its end and not before", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const hung = Deferred.succeed(started, undefined).pipe(
        Effect.zipRight(Effect.never),
        Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
      )
      const { layer } = yield* scriptedRunner([hung], { SHUTDOWN_GRACE_SECONDS: 1 })
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(RunnerLoop.pipe(Layer.provide(layer)), scope)
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
      await bot.waitFor(/runner started/, 120_000)
      await bot.waitFor(/cycle done/, 120_000)
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
