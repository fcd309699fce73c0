import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Layer, Option, TestClock, TestServices } from "effect"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { Alert, Bar, BarInterval, BarSeries, MarketSnapshot } from "../src/Kernel/Domain.js"
import { ItemArchive } from "../src/Outcomes/ItemArchive.js"
import { MarketData } from "../src/MarketData/MarketData.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { OutcomeStore } from "../src/Outcomes/OutcomeStore.js"
import { advance, nextCheckAt, nextRegularClose, type Progress } from "../src/Outcomes/Checkpoints.js"
import { OutcomeTracker, OutcomeTrackerLoop } from "../src/Outcomes/OutcomeTracker.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { databases, databaseSettings } from "./support/Databases.js"
import { configLayer } from "./support/TestLayers.js"
import { classificationFixture, itemFixture, makeAlert } from "./support/Alerts.js"

const minute = 60_000
/** New York is UTC-5 in late November. */
const et = (day: number, hours: number, minutes = 0, seconds = 0) =>
  Date.UTC(2026, 10, day, hours + 5, minutes, seconds)

/**
 * ABCD on Tuesday 2026-11-24, 5-minute bars 04:00–19:55 ET; each bar opens at the previous close.
 * 10.00 until 10:00, 10.50 in the first hour (the 10:30 bar spikes to 12 and dips to 9.50),
 * 11.00 from 11:00, a dip to 10.45 from 12:00 to 12:25, then 10.80 from 14:00.
 */
const closeAt = (time: number): number => {
  const m = (time - et(24, 10)) / minute
  if (m < 0) return 10
  if (m < 60) return 10.5
  if (m >= 120 && m < 150) return 10.45
  if (m < 240) return 11
  return 10.8
}
const intradayBars: ReadonlyArray<Bar> = Array.from({ length: 192 }, (_, k) => et(24, 4) + k * 5 * minute).map(
  (time, k, times) => {
    const open = k === 0 ? 10 : closeAt(times[k - 1]!)
    const close = closeAt(time)
    const spike = time === et(24, 10, 30)
    return {
      time,
      open,
      close,
      high: spike ? 12 : Math.max(open, close),
      low: spike ? 9.5 : Math.min(open, close),
      volume: 1000
    }
  }
)
const dailyBars: ReadonlyArray<Bar> = [
  { time: et(23, 9, 30), open: 9, high: 9.6, low: 8.9, close: 9.5, volume: 1e6 },
  { time: et(24, 9, 30), open: 10, high: 12, low: 9.5, close: 10.8, volume: 2e6 }
]

/** A quote provider that, like the real one, only knows today's 5-minute bars, and only completed ones. */
const FakeMarket = MarketData.Test({
  bars: (symbol: string, interval: BarInterval) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      if (symbol !== "ABCD") return Option.none<BarSeries>()
      const bars =
        interval === "5m"
          ? intradayBars.filter((bar) => bar.time + 5 * minute <= now)
          : dailyBars.filter((bar) => bar.time <= now)
      return Option.some<BarSeries>({
        symbol,
        interval,
        bars,
        previousClose: null,
        regularStart: null,
        regularEnd: null
      })
    })
})

const TrackerLive = (database: Record<string, string>, extra: Record<string, string | number> = {}) =>
  OutcomeTracker.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(Layer.mergeAll(Outbox.Default, ItemArchive.Default, OutcomeStore.Default, FakeMarket)),
    Layer.provideMerge(SqlLive),
    Layer.provideMerge(AppConfig.Default),
    Layer.provide(configLayer({ ...database, ...extra }))
  )

const priced = (price: number): MarketSnapshot => ({
  _tag: "Priced",
  quote: { symbol: "ABCD", price, previousClose: null, changePct: null, volume: null, relativeVolume: null }
})

const alertFor = (id: string, at: number, market: MarketSnapshot, sentiment: number): Alert =>
  makeAlert(
    itemFixture(id, {
      title: `ABCD news ${id}`,
      fetchedAt: new Date(at).toISOString(),
      tickers: [{ symbol: "ABCD", exchange: "NASDAQ" }]
    }),
    { classification: classificationFixture({ categories: ["fda"], sentiment, negative: sentiment < 0 }), market }
  )

/** Enqueue at `at`, delivered 30 s later, as the delivery fiber would. */
const deliver = (alert: Alert, at: number) =>
  Effect.gen(function* () {
    const outbox = yield* Outbox
    yield* TestClock.setTime(at)
    yield* outbox.enqueue([alert])
    yield* TestClock.setTime(at + 30_000)
    const [row] = yield* outbox.due(10)
    yield* outbox.markDelivered(row!.id, null)
  })

const stored = (itemId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<Record<string, unknown>>`
      SELECT status, missing, price_at_alert AS alert, price_15m AS m15, price_1h AS h1, price_4h AS h4,
        price_next_close AS close, max_favourable_1h_pct AS mfe, max_adverse_1h_pct AS mae
      FROM price_outcomes WHERE item_id = ${itemId}`
    return row
  })

/** The row once `ready` holds, waiting on the live clock for up to 10 s; then whatever it is. */
const storedOnce = (itemId: string, ready: (row: Record<string, unknown> | undefined) => boolean) =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < 1_000; attempt++) {
      const row = yield* stored(itemId)
      if (ready(row)) return row
      yield* Effect.sleep("10 millis").pipe(TestServices.provideLive)
    }
    return yield* stored(itemId)
  })

describe.each(databases)("OutcomeTracker on %s", (kind) => {
  it.scoped("records every checkpoint across a restart, and catches up on what it missed while down", () =>
    Effect.gen(function* () {
      const database = yield* databaseSettings(kind)

      // First run: yesterday's alert C and this morning's alert A, tracked until 10:21.
      yield* Effect.scoped(
        Effect.gen(function* () {
          const tracker = yield* OutcomeTracker
          yield* deliver(alertFor("C", et(23, 15), priced(9), 0.5), et(23, 15))
          yield* deliver(alertFor("A", et(24, 10), priced(10), 0.8), et(24, 10))
          yield* TestClock.setTime(et(24, 10, 1))
          expect(yield* tracker.tick()).toEqual({ enrolled: 2, checked: 2, completed: 1 })
          // C is from yesterday: today's 5-minute bars can't answer it, the daily close can.
          expect(yield* stored("C")).toEqual({
            status: "complete",
            missing: '["15m","1h","4h"]',
            alert: 9,
            m15: null,
            h1: null,
            h4: null,
            close: 9.5,
            mfe: null,
            mae: null
          })
          expect(yield* stored("A")).toMatchObject({ status: "open", alert: 10, m15: null })

          yield* TestClock.setTime(et(24, 10, 21))
          yield* tracker.tick()
          expect(yield* stored("A")).toMatchObject({ status: "open", alert: 10, m15: 10.5, h1: null })
        }).pipe(Effect.provide(TrackerLive(database)))
      )

      // Down from 10:21 to 14:10; alert B (bearish, no quote) went out at 11:30 meanwhile.
      yield* Effect.scoped(
        Effect.gen(function* () {
          const tracker = yield* OutcomeTracker
          yield* deliver(
            alertFor("B", et(24, 11, 29, 30), { _tag: "PriceUnavailable", reason: "x" }, -0.6),
            et(24, 11, 29, 30)
          )
          yield* TestClock.setTime(et(24, 14, 10))
          expect(yield* tracker.tick()).toEqual({ enrolled: 1, checked: 2, completed: 0 })
          // A: +1 h and +4 h recovered from the bars; the 10:30 spike is the best and worst of the first hour.
          expect(yield* stored("A")).toEqual({
            status: "open",
            missing: "[]",
            alert: 10,
            m15: 10.5,
            h1: 11,
            h4: 10.8,
            close: null,
            mfe: 20,
            mae: -5
          })
          // B is short: its price is the 11:30 bar's open, and the 12:00 dip to 10.45 is a 5% favourable move.
          const b = yield* stored("B")
          expect(b).toMatchObject({ status: "open", alert: 11, m15: 11, h1: 11, h4: null, close: null, mae: 0 })
          expect(b?.mfe).toBeCloseTo(5, 10)

          // Nothing new is due before B's +4 h: a tick in between checks nothing.
          yield* TestClock.setTime(et(24, 14, 30))
          expect(yield* tracker.tick()).toEqual({ enrolled: 0, checked: 0, completed: 0 })

          yield* TestClock.setTime(et(24, 16, 20))
          expect(yield* tracker.tick()).toEqual({ enrolled: 0, checked: 2, completed: 2 })
          expect(yield* stored("A")).toMatchObject({ status: "complete", close: 10.8 })
          expect(yield* stored("B")).toMatchObject({ status: "complete", h4: 10.8, close: 10.8 })
        }).pipe(Effect.provide(TrackerLive(database)))
      )
    })
  )

  it.scoped("runs as its own fiber on OUTCOME_POLL_SECONDS, under npm start's wiring", () =>
    Effect.gen(function* () {
      const database = yield* databaseSettings(kind)
      const layer = TrackerLive(database, { OUTCOME_POLL_SECONDS: 60 })
      yield* Effect.gen(function* () {
        yield* deliver(alertFor("A", et(24, 10), priced(10), 0.8), et(24, 10))
        yield* Layer.build(OutcomeTrackerLoop)
        yield* TestClock.adjust("1 second")
        // On PostgreSQL the first pass may still be writing the row when the clock has moved.
        expect(yield* storedOnce("A", (row) => row?.["alert"] != null)).toMatchObject({
          status: "open",
          alert: 10,
          m15: null
        })
        // A minute at a time, pausing in real time: on PostgreSQL the loop's pass takes round trips,
        // and it must be asleep again before the clock moves past its next wake-up.
        for (let minute = 0; minute < 20; minute++) {
          yield* TestClock.adjust("1 minute")
          yield* Effect.sleep("50 millis").pipe(TestServices.provideLive)
        }
        expect(yield* storedOnce("A", (row) => row?.["m15"] !== null)).toMatchObject({ m15: 10.5 })
      }).pipe(Effect.provide(layer))
    })
  )

  it.scoped("enrols an alert delivered in the same millisecond as the newest tracked one", () =>
    Effect.gen(function* () {
      const database = yield* databaseSettings(kind)
      yield* Effect.gen(function* () {
        const tracker = yield* OutcomeTracker
        yield* deliver(alertFor("A", et(24, 10), priced(10), 0.8), et(24, 10))
        expect((yield* tracker.tick()).enrolled).toBe(1)
        yield* deliver(alertFor("B", et(24, 10), priced(10), 0.8), et(24, 10))
        expect((yield* tracker.tick()).enrolled).toBe(1)
        expect(yield* stored("B")).toMatchObject({ status: "open" })
      }).pipe(Effect.provide(TrackerLive(database)))
    })
  )

  it.scoped("forgets outcomes older than ARCHIVE_DAYS and doesn't enrol their alerts again", () =>
    Effect.gen(function* () {
      const database = yield* databaseSettings(kind)
      yield* Effect.gen(function* () {
        const tracker = yield* OutcomeTracker
        yield* deliver(alertFor("A", et(24, 10), priced(10), 0.8), et(24, 10))
        yield* TestClock.setTime(et(24, 10, 1))
        expect((yield* tracker.tick()).enrolled).toBe(1)
        yield* TestClock.setTime(et(25, 11))
        expect((yield* tracker.tick()).enrolled).toBe(0)
        expect(yield* stored("A")).toBeUndefined()
        yield* TestClock.setTime(et(25, 12))
        expect((yield* tracker.tick()).enrolled).toBe(0)
      }).pipe(Effect.provide(TrackerLive(database, { ARCHIVE_DAYS: 1 })))
    })
  )

  it.scoped("samples filtered items with a ticker, at most OUTCOME_FILTERED_PER_DAY", () =>
    Effect.gen(function* () {
      const database = yield* databaseSettings(kind)
      yield* Effect.gen(function* () {
        const archive = yield* ItemArchive
        const tracker = yield* OutcomeTracker
        yield* TestClock.setTime(et(24, 10))
        const base = alertFor("x", et(24, 10), priced(10), 0.5)
        const entries = ["F1", "F2", "F3"].map((id, i) => ({
          item: { ...base.item, id },
          outcome: "filtered" as const,
          reason: "score below MIN_SCORE",
          classification: { ...base.classification, score: i },
          market: null
        }))
        yield* archive.record([
          ...entries,
          { ...entries[0]!, item: { ...base.item, id: "no-ticker", tickers: [] }, reason: "no ticker" }
        ])
        yield* TestClock.setTime(et(24, 10, 1))
        expect((yield* tracker.tick()).enrolled).toBe(2)
        const tracked = yield* (yield* OutcomeStore).since(0)
        expect(tracked.map((o) => [o.itemId, o.kind, o.reason]).sort()).toEqual([
          ["F2", "filtered", "score below MIN_SCORE"],
          ["F3", "filtered", "score below MIN_SCORE"]
        ])
      }).pipe(Effect.provide(TrackerLive(database, { OUTCOME_FILTERED_PER_DAY: 2 })))
    })
  )
})

describe("checkpoint rules", () => {
  const start: Progress = {
    alertAt: et(24, 21),
    direction: 1,
    quotePrice: null,
    priceAtAlert: null,
    price15m: null,
    price1h: null,
    price4h: null,
    priceNextClose: null,
    maxFavourable1hPct: null,
    maxAdverse1hPct: null,
    missing: []
  }
  const series = (bars: ReadonlyArray<Bar>): Option.Option<BarSeries> =>
    Option.some({ symbol: "ABCD", interval: "5m", bars, previousClose: null, regularStart: null, regularEnd: null })

  it("takes the next weekday's 16:00 New York close, across weekends and the DST switch", () => {
    expect(new Date(nextRegularClose(et(24, 10))).toISOString()).toBe("2026-11-24T21:00:00.000Z")
    expect(new Date(nextRegularClose(et(27, 17))).toISOString()).toBe("2026-11-30T21:00:00.000Z")
    // Friday 2026-03-06 is EST; Monday 2026-03-09 is EDT, so its close is 20:00 UTC.
    expect(new Date(nextRegularClose(Date.UTC(2026, 2, 6, 22))).toISOString()).toBe("2026-03-09T20:00:00.000Z")
  })

  it("prices an alert after hours at the last trade once the quiet window has passed, not before", () => {
    const evening = intradayBars.filter((bar) => bar.time <= et(24, 19, 55))
    const early = advance(start, { now: et(24, 21, 20), intraday: series(evening), daily: Option.none() })
    expect(early).toMatchObject({ priceAtAlert: null, price15m: null, missing: [] })
    expect(nextCheckAt(early, et(24, 21, 20))).toBe(et(24, 21, 25))
    const later = advance(start, { now: et(24, 21, 50), intraday: series(evening), daily: Option.none() })
    expect(later).toMatchObject({ priceAtAlert: 10.8, price15m: 10.8, price1h: null })
  })

  it("gives up on intraday checkpoints a day later when no bars came, but keeps waiting for the close", () => {
    const next = advance(start, { now: et(25, 21, 30), intraday: Option.none(), daily: Option.none() })
    expect(next.missing).toEqual(["alert", "15m"])
    expect(nextCheckAt(next, et(25, 21, 30))).toBe(et(25, 21, 35))
  })
})
