import { describe, expect, it } from "@effect/vitest"
import { Clock, DateTime, Duration, Effect, Layer, TestClock } from "effect"
import { FeedIngest } from "../src/Feeds/FeedIngest.js"
import type { FeedSource } from "../src/Feeds/Sources.js"
import { AdminChannel } from "../src/Kernel/AdminChannel.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { CycleSummary } from "../src/Kernel/Domain.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { edgarOpenAt, pollDelay } from "../src/Runner/Cadence.js"
import { Cycle } from "../src/Runner/Cycle.js"
import { Pollers } from "../src/Runner/Pollers.js"
import { Runner } from "../src/Runner/Runner.js"
import { configLayer, databaseAnswering } from "./support/TestLayers.js"

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

const wire: FeedSource = { name: "Wire", url: "https://wire.example/rss", kind: "rss", enabled: true }
const sec: FeedSource = { name: "SEC 8-K", url: "https://sec.example/atom", kind: "sec-atom", enabled: true }

const newYork = (now: number) =>
  DateTime.formatIsoZoned(DateTime.unsafeMakeZoned(now, { timeZone: "America/New_York" })).slice(11, 19)

/**
 * The real pollers over the real Runner on the TestClock, with a cycle that only notes when each
 * source was polled, as New York wall time; `retryAt` is what the source's server hints each time.
 */
const pollersRecording = (
  sources: ReadonlyArray<FeedSource>,
  config: Record<string, number> = {},
  retryAfterMillis?: number,
  pollTakes: Duration.DurationInput = Duration.zero
) =>
  Effect.gen(function* () {
    const ran: Record<string, Array<string>> = {}
    const cycle = Cycle.Test({
      run: (source?: FeedSource) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const name = source?.name ?? "all"
          ;(ran[name] ??= []).push(newYork(now))
          return retryAfterMillis === undefined ? summary : { ...summary, retryAt: now + retryAfterMillis }
        }).pipe(Effect.tap(() => Effect.sleep(pollTakes)))
    })
    const ingest = FeedIngest.Test({ sources, disabledReason: () => null })
    const layer = Pollers.pipe(
      Layer.provide(Runner.DefaultWithoutDependencies),
      Layer.provideMerge(
        Layer.mergeAll(cycle, ingest, AdminChannel.Default, ErrorTracker.Default, AppConfig.Default, databaseAnswering)
      ),
      Layer.provide(
        configLayer({ POLL_SECONDS: 60, POLL_SECONDS_CLOSED: 300, ALERT_CONSECUTIVE_EMPTY_CYCLES: 0, ...config })
      )
    )
    return { ran, layer }
  })

describe("each poller's cadence", () => {
  it.scoped("polls every POLL_SECONDS until 20:00 New York time, then every POLL_SECONDS_CLOSED", () =>
    Effect.gen(function* () {
      // Friday 6 March 2026, 19:57 EST: after-hours, three minutes before the close.
      yield* TestClock.setTime(Date.parse("2026-03-07T00:57:00Z"))
      const { ran, layer } = yield* pollersRecording([wire])
      yield* Layer.build(layer)
      yield* TestClock.adjust("18 minutes")
      expect(ran.Wire!.map((at) => at.slice(0, 5))).toEqual([
        "19:57",
        "19:58",
        "19:59",
        "20:00",
        "20:05",
        "20:10",
        "20:15"
      ])
    })
  )

  it.scoped("switches back to POLL_SECONDS when pre-market opens at 04:00 on Monday, after a closed weekend", () =>
    Effect.gen(function* () {
      // Sunday 8 March 2026, 23:50 EDT (the clocks went forward that morning).
      yield* TestClock.setTime(Date.parse("2026-03-09T03:50:00Z"))
      const { ran, layer } = yield* pollersRecording([wire])
      yield* Layer.build(layer)
      yield* TestClock.adjust("253 minutes")
      const polled = ran.Wire!.map((at) => at.slice(0, 5))
      // Every 5 minutes from 23:50 to 04:00 (51 polls), then every minute.
      expect(polled.slice(0, 3)).toEqual(["23:50", "23:55", "00:00"])
      expect(polled.slice(-5)).toEqual(["03:55", "04:00", "04:01", "04:02", "04:03"])
      expect(polled).toHaveLength(51 + 3)
    })
  )

  it.scoped("polls SEC every SEC_POLL_SECONDS during EDGAR hours, the wires on their own interval, side by side", () =>
    Effect.gen(function* () {
      // Tuesday 10 March 2026, 11:00 EDT.
      yield* TestClock.setTime(Date.parse("2026-03-10T15:00:00Z"))
      const { ran, layer } = yield* pollersRecording([wire, sec], { POLL_SECONDS: 3 })
      yield* Layer.build(layer)
      yield* TestClock.adjust("6 seconds")
      expect(ran["SEC 8-K"]).toEqual([
        "11:00:00",
        "11:00:01",
        "11:00:02",
        "11:00:03",
        "11:00:04",
        "11:00:05",
        "11:00:06"
      ])
      expect(ran.Wire).toEqual(["11:00:00", "11:00:03", "11:00:06"])
    })
  )

  it.scoped("honours a feed's pollSeconds / pollSecondsClosed from FEEDS_FILE over the settings", () =>
    Effect.gen(function* () {
      // Friday 6 March 2026, 19:59 EST.
      yield* TestClock.setTime(Date.parse("2026-03-07T00:59:00Z"))
      const { ran, layer } = yield* pollersRecording([{ ...wire, pollSeconds: 20, pollSecondsClosed: 120 }])
      yield* Layer.build(layer)
      yield* TestClock.adjust("5 minutes")
      expect(ran.Wire!.map((at) => at.slice(0, 8))).toEqual([
        "19:59:00",
        "19:59:20",
        "19:59:40",
        "20:00:00",
        "20:02:00",
        "20:04:00"
      ])
    })
  )

  it.scoped("counts the interval from each poll's start, so a slow poll doesn't push the next ones back", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.parse("2026-03-10T15:00:00Z"))
      const { ran, layer } = yield* pollersRecording([wire], { POLL_SECONDS: 2 }, undefined, "700 millis")
      yield* Layer.build(layer)
      // Past the fourth poll's end: no poll is running when the scope closes.
      yield* TestClock.adjust("6800 millis")
      expect(ran.Wire).toEqual(["11:00:00", "11:00:02", "11:00:04", "11:00:06"])
    })
  )

  it.scoped("waits as long as the server asks (Retry-After, max-age) when that is longer than the interval", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.parse("2026-03-10T15:00:00Z"))
      const { ran, layer } = yield* pollersRecording([wire], { POLL_SECONDS: 2 }, 30_000)
      yield* Layer.build(layer)
      yield* TestClock.adjust("65 seconds")
      expect(ran.Wire).toEqual(["11:00:00", "11:00:30", "11:01:00"])
    })
  )
})

describe("pollDelay", () => {
  it("is the interval, doubled per failure in a row up to 5 minutes, and never before the server's hint", () => {
    const at = (input: Partial<Parameters<typeof pollDelay>[0]>) =>
      Duration.toSeconds(pollDelay({ now: 0, intervalSeconds: 2, consecutiveFailures: 0, ...input }))
    expect(at({})).toBe(2)
    expect(at({ consecutiveFailures: 1 })).toBe(2)
    expect(at({ consecutiveFailures: 3 })).toBe(8)
    expect(at({ consecutiveFailures: 30 })).toBe(300)
    expect(at({ retryAt: 10_000 })).toBe(10)
    expect(at({ retryAt: 1_000 })).toBe(2)
  })

  it("stretches a failure's delay by up to a quarter (random per poll), never below the backoff or the server's hint", () => {
    const at = (input: Partial<Parameters<typeof pollDelay>[0]>) =>
      Duration.toSeconds(pollDelay({ now: 0, intervalSeconds: 2, consecutiveFailures: 0, ...input }))
    expect(at({ jitter: 0.9 })).toBe(2)
    expect(at({ consecutiveFailures: 3, jitter: 0 })).toBe(8)
    expect(at({ consecutiveFailures: 3, jitter: 0.5 })).toBe(9)
    expect(at({ consecutiveFailures: 30, jitter: 0.999 })).toBeLessThan(375)
    expect(at({ consecutiveFailures: 1, retryAt: 30_000, jitter: 0.2 })).toBe(31.5)
  })

  it("runs from the poll's start, never below zero, and a server's hint still counts from now", () => {
    const at = (input: Partial<Parameters<typeof pollDelay>[0]>) =>
      Duration.toSeconds(pollDelay({ now: 10_000, intervalSeconds: 2, consecutiveFailures: 0, ...input }))
    expect(at({ startedAt: 9_300 })).toBe(1.3)
    expect(at({ startedAt: 5_000 })).toBe(0)
    expect(at({ startedAt: 9_300, retryAt: 15_000 })).toBe(5)
    expect(at({ startedAt: 9_000, consecutiveFailures: 3 })).toBe(7)
  })

  it("knows EDGAR's hours: weekdays 06:00–22:00 New York time", () => {
    expect(edgarOpenAt(Date.parse("2026-03-10T10:00:00Z"))).toBe(true) // Tue 06:00 EDT
    expect(edgarOpenAt(Date.parse("2026-03-10T09:59:00Z"))).toBe(false)
    expect(edgarOpenAt(Date.parse("2026-03-11T01:59:00Z"))).toBe(true) // Tue 21:59 EDT
    expect(edgarOpenAt(Date.parse("2026-03-11T02:00:00Z"))).toBe(false)
    expect(edgarOpenAt(Date.parse("2026-03-14T15:00:00Z"))).toBe(false) // Saturday
  })
})
