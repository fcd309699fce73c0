import type { Bar, BarSeries } from "../../src/Kernel/Domain.js"

/**
 * Deterministic bars for chart tests, the golden images and the bench: a small cap that drifts in pre-market, gaps up
 * on news at 08:30 ET with heavy volume, then fades. Tuesday 2026-11-24, when New York is on EST (UTC-5).
 */

const random = (seed: number) => () => {
  seed = (seed * 1_664_525 + 1_013_904_223) % 4_294_967_296
  return seed / 4_294_967_296
}

const minute = 60_000
export const sessionDay = Date.UTC(2026, 10, 24)
export const regularStart = sessionDay + (14 * 60 + 30) * minute
export const regularEnd = sessionDay + 21 * 60 * minute
/** 08:32 ET: the press release that triggered the alert. */
export const newsTime = sessionDay + (13 * 60 + 32) * minute

const walk = (
  count: number,
  start: number,
  step: number,
  seed: number,
  shape: (index: number, time: number) => { drift: number; volume: number }
): Array<Bar> => {
  const next = random(seed)
  let price = 2.4
  return Array.from({ length: count }, (_, index) => {
    const time = start + index * step
    const { drift, volume } = shape(index, time)
    const open = price
    const close = Math.max(0.2, open * (1 + drift + (next() - 0.5) * 0.03))
    price = close
    return {
      time,
      open: round(open),
      close: round(close),
      high: round(Math.max(open, close) * (1 + next() * 0.012)),
      low: round(Math.min(open, close) * (1 - next() * 0.012)),
      volume: Math.round(volume * (0.5 + next()))
    }
  })
}

const round = (price: number) => Math.round(price * 10_000) / 10_000

/** 04:00–20:00 ET in 5-minute bars (192 bars), pre- and post-market included. */
export const intradaySeries = (symbol = "ABCD"): BarSeries => ({
  symbol,
  interval: "5m",
  previousClose: 2.41,
  regularStart,
  regularEnd,
  bars: walk(192, sessionDay + 9 * 60 * minute, 5 * minute, 7, (_, time) => {
    const sinceNews = (time - newsTime) / minute
    if (sinceNews < -5) return { drift: 0, volume: time < regularStart ? 8_000 : 40_000 }
    if (sinceNews < 30) return { drift: 0.06, volume: 900_000 }
    return { drift: -0.002, volume: time < regularEnd ? 180_000 : 25_000 }
  })
})

/** About three months of daily bars (64 sessions, weekdays only) up to the news day. */
export const dailySeries = (symbol = "ABCD"): BarSeries => {
  const days: Array<number> = []
  for (let day = sessionDay; days.length < 64; day -= 24 * 60 * minute) {
    const weekday = new Date(day).getUTCDay()
    if (weekday !== 0 && weekday !== 6) days.unshift(day + (14 * 60 + 30) * minute)
  }
  const series = walk(days.length, 0, 0, 11, (index) => ({
    drift: index === days.length - 1 ? 0.25 : -0.004,
    volume: index === days.length - 1 ? 9_000_000 : 600_000
  }))
  return {
    symbol,
    interval: "1d",
    previousClose: null,
    regularStart: null,
    regularEnd: null,
    bars: series.map((bar, index) => ({ ...bar, time: days[index]! }))
  }
}
