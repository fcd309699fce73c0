import { describe, expect, it } from "@effect/vitest"
import { Clock, DateTime, Effect, Layer, TestClock } from "effect"
import { AdminChannel } from "../src/Kernel/AdminChannel.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { CycleSummary } from "../src/Kernel/Domain.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { Cycle } from "../src/Runner/Cycle.js"
import { Runner, RunnerLoop } from "../src/Runner/Runner.js"
import { configLayer } from "./support/TestLayers.js"

const summary: CycleSummary = {
  startedAt: "",
  durationMs: 0,
  feeds: [],
  fetched: 0,
  new: 0,
  alerted: 0,
  outcomes: [],
  notes: []
}

/**
 * The real polling loop (RunnerLoop over the real Runner) on the TestClock, with a cycle that only notes when it
 * ran, as New York wall time.
 */
const loopRecordingCycles = Effect.gen(function* () {
  const ran: Array<string> = []
  const cycle = Cycle.Test({
    run: () =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        ran.push(DateTime.formatIsoZoned(DateTime.unsafeMakeZoned(now, { timeZone: "America/New_York" })).slice(11, 16))
        return summary
      })
  })
  const layer = RunnerLoop.pipe(
    Layer.provide(Runner.DefaultWithoutDependencies),
    Layer.provideMerge(Layer.mergeAll(cycle, AdminChannel.Default, ErrorTracker.Default, AppConfig.Default)),
    Layer.provide(configLayer({ POLL_SECONDS: 60, POLL_SECONDS_CLOSED: 300, ALERT_CONSECUTIVE_EMPTY_CYCLES: 0 }))
  )
  return { ran, layer }
})

describe("the runner loop's cadence", () => {
  it.scoped("polls every POLL_SECONDS until 20:00 New York time, then every POLL_SECONDS_CLOSED", () =>
    Effect.gen(function* () {
      // Friday 6 March 2026, 19:57 EST: after-hours, three minutes before the close.
      yield* TestClock.setTime(Date.parse("2026-03-07T00:57:00Z"))
      const { ran, layer } = yield* loopRecordingCycles
      yield* Layer.build(layer)
      yield* TestClock.adjust("18 minutes")
      expect(ran).toEqual(["19:57", "19:58", "19:59", "20:00", "20:05", "20:10", "20:15"])
    })
  )

  it.scoped("switches back to POLL_SECONDS when pre-market opens at 04:00 on Monday, after a closed weekend", () =>
    Effect.gen(function* () {
      // Sunday 8 March 2026, 23:50 EDT (the clocks went forward that morning).
      yield* TestClock.setTime(Date.parse("2026-03-09T03:50:00Z"))
      const { ran, layer } = yield* loopRecordingCycles
      yield* Layer.build(layer)
      yield* TestClock.adjust("253 minutes")
      // Every 5 minutes from 23:50 to 04:00 (51 cycles), then every minute.
      expect(ran.slice(0, 3)).toEqual(["23:50", "23:55", "00:00"])
      expect(ran.slice(-5)).toEqual(["03:55", "04:00", "04:01", "04:02", "04:03"])
      expect(ran).toHaveLength(51 + 3)
    })
  )
})
