import { DateTime, Option } from "effect"
import type { Bar, BarSeries } from "../Kernel/Domain.js"
import type { CheckpointPrices } from "./Stats.js"

/**
 * When an alert's price is sampled, and how a sample is read from bars. Pure functions, so the
 * tracker fiber, its restart/catch-up path and the tests all share one definition.
 *
 * - "alert": the quote the alert carried, else the last trade at or before alert time (5-minute bars).
 * - "15m", "1h", "4h": the close of the 5-minute bar covering alert time + offset (the last bar before it
 *   when nothing traded in that bar). "1h" also yields the maximum favourable and adverse moves.
 * - "close": the first regular-session close after the alert, from daily bars.
 *
 * A checkpoint the data can no longer answer (5-minute bars only cover the current day) is recorded
 * as missing instead of being retried forever.
 */
export const Checkpoint = ["alert", "15m", "1h", "4h", "close"] as const
export type Checkpoint = (typeof Checkpoint)[number]

export interface Progress extends CheckpointPrices {
  /** +1 for a bullish (or neutral) catalyst, -1 for a bearish one: moves are measured in this direction. */
  readonly direction: 1 | -1
  readonly quotePrice: number | null
  readonly missing: ReadonlyArray<Checkpoint>
}

export interface MarketView {
  readonly now: number
  readonly intraday: Option.Option<BarSeries>
  readonly daily: Option.Option<BarSeries>
}

const minute = 60_000
const barMs = 5 * minute
/** A 5-minute bar covering t has closed by t + 5 min. */
const settleMs = barMs
/** With no bar covering t this long after it, nothing traded: the last earlier trade is the price. */
const quietMs = 30 * minute
const intradayGiveUpMs = 24 * 60 * minute
const closeSettleMs = 15 * minute
const closeGiveUpMs = 7 * 24 * 60 * minute
export const retryMs = 5 * minute

const offsets = { "15m": 15 * minute, "1h": 60 * minute, "4h": 240 * minute } as const
const intradayField = { "15m": "price15m", "1h": "price1h", "4h": "price4h" } as const

const newYork = "America/New_York"

/** 16:00 New York time on the New York calendar day `dayOffset` days after the one containing `epoch`. */
const regularCloseOnDay = (epoch: number, dayOffset: number): { readonly close: number; readonly weekDay: number } => {
  const { year, month, day } = DateTime.toParts(DateTime.unsafeMakeZoned(epoch, { timeZone: newYork }))
  const noon = DateTime.unsafeMakeZoned({ year, month, day, hours: 12 }, { timeZone: newYork, adjustForTimeZone: true })
  const shifted = DateTime.toParts(
    DateTime.unsafeMakeZoned(DateTime.toEpochMillis(noon) + dayOffset * 24 * 60 * minute, { timeZone: newYork })
  )
  const close = DateTime.unsafeMakeZoned(
    { year: shifted.year, month: shifted.month, day: shifted.day, hours: 16 },
    { timeZone: newYork, adjustForTimeZone: true }
  )
  return { close: DateTime.toEpochMillis(close), weekDay: shifted.weekDay }
}

/** The first weekday 16:00 ET strictly after `epoch` (exchange holidays are not modelled). */
export const nextRegularClose = (epoch: number): number => {
  for (let offset = 0; ; offset++) {
    const { close, weekDay } = regularCloseOnDay(epoch, offset)
    if (weekDay !== 0 && weekDay !== 6 && close > epoch) return close
  }
}

type Reading =
  { readonly _tag: "Price"; readonly price: number } | { readonly _tag: "Wait" } | { readonly _tag: "Missing" }
const wait: Reading = { _tag: "Wait" }
const missing: Reading = { _tag: "Missing" }
const price = (value: number): Reading => ({ _tag: "Price", price: value })

/** The price at `t` from 5-minute bars; `atStart` reads the covering bar's open instead of its close. */
const readIntraday = (
  bars: ReadonlyArray<Bar>,
  t: number,
  now: number,
  options: { readonly atStart: boolean }
): Reading => {
  if (now < t + (options.atStart ? 0 : settleMs)) return wait
  let last: Bar | undefined
  for (const bar of bars) if (bar.time <= t) last = bar
  const later = bars.some((bar) => bar.time > t)
  if (last !== undefined && last.time + barMs > t) return price(options.atStart ? last.open : last.close)
  if (last !== undefined && (later || now >= t + quietMs)) return price(last.close)
  if (last === undefined && later) return missing
  return now >= t + intradayGiveUpMs ? missing : wait
}

const readNextClose = (bars: ReadonlyArray<Bar>, alertAt: number, now: number): Reading => {
  const target = bars.find((bar) => regularCloseOnDay(bar.time, 0).close > alertAt)
  if (target !== undefined)
    return now >= regularCloseOnDay(target.time, 0).close + closeSettleMs ? price(target.close) : wait
  return now >= alertAt + closeGiveUpMs ? missing : wait
}

const isPending = (progress: Progress, checkpoint: Checkpoint): boolean => {
  if (progress.missing.includes(checkpoint)) return false
  switch (checkpoint) {
    case "alert":
      return progress.priceAtAlert === null
    case "close":
      return progress.priceNextClose === null
    default:
      return progress[intradayField[checkpoint]] === null
  }
}

/** When the data for a checkpoint can first exist. */
const readyAt = (progress: Progress, checkpoint: Checkpoint): number => {
  switch (checkpoint) {
    case "alert":
      return progress.alertAt
    case "close":
      return nextRegularClose(progress.alertAt) + closeSettleMs
    default:
      return progress.alertAt + offsets[checkpoint] + settleMs
  }
}

export const pending = (progress: Progress): ReadonlyArray<Checkpoint> =>
  Checkpoint.filter((checkpoint) => isPending(progress, checkpoint))

/** Which bar series a check at `now` needs, so the tracker fetches nothing it can't use yet. */
export const seriesNeeded = (progress: Progress, now: number) => {
  const due = pending(progress).filter((checkpoint) => readyAt(progress, checkpoint) <= now)
  return { intraday: due.some((checkpoint) => checkpoint !== "close"), daily: due.includes("close") }
}

/** When to look again: the next checkpoint's ready time, or a retry when a due one still lacks data. */
export const nextCheckAt = (progress: Progress, now: number): number | null => {
  const times = pending(progress).map((checkpoint) => readyAt(progress, checkpoint))
  if (times.length === 0) return null
  const earliest = Math.min(...times)
  return earliest > now ? earliest : now + retryMs
}

const pct = (from: number, to: number, direction: 1 | -1) => (direction * (to - from) * 100) / from

/** Moves in the first hour, in the catalyst's direction: favourable ≥ 0, adverse ≤ 0. */
const excursion = (bars: ReadonlyArray<Bar>, progress: Progress, priceAtAlert: number, price1h: number) => {
  const window = bars.filter(
    (bar) => bar.time + barMs > progress.alertAt && bar.time < progress.alertAt + offsets["1h"]
  )
  const moves = [pct(priceAtAlert, price1h, progress.direction)]
  for (const bar of window) {
    moves.push(pct(priceAtAlert, bar.high, progress.direction), pct(priceAtAlert, bar.low, progress.direction))
  }
  return { favourable: Math.max(0, ...moves), adverse: Math.min(0, ...moves) }
}

/** Resolves every checkpoint the view can answer; untouched ones stay pending. */
export const advance = (progress: Progress, view: MarketView): Progress => {
  const bars = Option.match(view.intraday, { onNone: () => [], onSome: (series) => series.bars })
  const dailyBars = Option.match(view.daily, { onNone: () => [], onSome: (series) => series.bars })
  const gaveUp: Array<Checkpoint> = [...progress.missing]
  let next: Progress = progress
  const settle = (checkpoint: Checkpoint, reading: Reading, write: (value: number) => Partial<Progress>) => {
    if (reading._tag === "Price") next = { ...next, ...write(reading.price) }
    else if (reading._tag === "Missing") gaveUp.push(checkpoint)
  }

  if (isPending(next, "alert")) {
    settle(
      "alert",
      next.quotePrice !== null ? price(next.quotePrice) : readIntraday(bars, next.alertAt, view.now, { atStart: true }),
      (value) => ({ priceAtAlert: value })
    )
  }
  for (const checkpoint of ["15m", "1h", "4h"] as const) {
    if (!isPending(next, checkpoint)) continue
    const reading = readIntraday(bars, next.alertAt + offsets[checkpoint], view.now, { atStart: false })
    settle(checkpoint, reading, (value) => ({ [intradayField[checkpoint]]: value }))
    if (checkpoint === "1h" && reading._tag === "Price" && next.priceAtAlert !== null) {
      const { favourable, adverse } = excursion(bars, next, next.priceAtAlert, reading.price)
      next = { ...next, maxFavourable1hPct: favourable, maxAdverse1hPct: adverse }
    }
  }
  if (isPending(next, "close")) {
    settle("close", readNextClose(dailyBars, next.alertAt, view.now), (value) => ({ priceNextClose: value }))
  }
  return { ...next, missing: gaveUp }
}
