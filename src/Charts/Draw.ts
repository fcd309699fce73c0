import { Resvg } from "@resvg/resvg-js"
import { BarChart, CandlestickChart, LineChart } from "echarts/charts"
import { GridComponent, MarkAreaComponent, MarkLineComponent, TitleComponent } from "echarts/components"
import * as echarts from "echarts/core"
import { SVGRenderer } from "echarts/renderers"
import { createRequire } from "node:module"
import type { Bar } from "../Kernel/Domain.js"
import type { ChartRequest } from "./Protocol.js"

/**
 * Draws one chart synchronously: ECharts builds an SVG string server-side, resvg rasterises it to PNG.
 * This is the CPU-heavy part; it runs inside the render workers (or on the caller's thread in the bench).
 */

echarts.use([
  CandlestickChart,
  BarChart,
  LineChart,
  GridComponent,
  MarkAreaComponent,
  MarkLineComponent,
  TitleComponent,
  SVGRenderer
])

export const chartWidth = 800
export const chartHeight = 450

/** US small caps trade on US exchanges: axis labels are exchange time. */
const exchangeTimeZone = "America/New_York"

const fontFamily = "DejaVu Sans"

/**
 * Fonts ship with the `dejavu-fonts-ttf` package and are resolved through node_modules, so the same path works from
 * `src/` (vitest, tsx) and from `dist/`, and text renders on a machine without any system fonts.
 */
const require = createRequire(import.meta.url)
const fontFiles = [
  require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans.ttf"),
  require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf")
]

const colors = {
  background: "#131722",
  text: "#d1d4dc",
  mutedText: "#787b86",
  gridLine: "#2a2e39",
  up: "#26a69a",
  down: "#ef5350",
  upVolume: "rgba(38, 166, 154, 0.55)",
  downVolume: "rgba(239, 83, 80, 0.55)",
  vwap: "#ffb74d",
  previousClose: "#9598a1",
  marker: "#f5d90a",
  extendedHours: "rgba(120, 123, 134, 0.14)"
}

const intervalMs = { "5m": 5 * 60_000, "1d": 24 * 60 * 60_000 } as const

const timeLabel = new Intl.DateTimeFormat("en-US", {
  timeZone: exchangeTimeZone,
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23"
})
const dayLabel = new Intl.DateTimeFormat("en-US", { timeZone: exchangeTimeZone, month: "short", day: "numeric" })
const fullDayLabel = new Intl.DateTimeFormat("en-US", {
  timeZone: exchangeTimeZone,
  year: "numeric",
  month: "short",
  day: "numeric"
})

const formatPrice = (price: number) => price.toFixed(price < 1 ? 4 : 2)

const formatVolume = (volume: number) =>
  volume >= 1e9
    ? `${(volume / 1e9).toFixed(1)}B`
    : volume >= 1e6
      ? `${(volume / 1e6).toFixed(1)}M`
      : volume >= 1e3
        ? `${(volume / 1e3).toFixed(0)}K`
        : `${volume}`

/** Volume-weighted average price from the first bar of the series (the day's first bar, pre-market included). */
export const vwap = (bars: ReadonlyArray<Bar>): Array<number | null> => {
  let priceVolume = 0
  let volume = 0
  return bars.map((bar) => {
    priceVolume += ((bar.high + bar.low + bar.close) / 3) * bar.volume
    volume += bar.volume
    return volume === 0 ? null : priceVolume / volume
  })
}

/** Index of the bar that contains `time`, or null when it falls outside the series. */
export const barIndexAt = (
  bars: ReadonlyArray<Bar>,
  interval: keyof typeof intervalMs,
  time: number
): number | null => {
  const last = bars[bars.length - 1]
  if (bars.length === 0 || time < bars[0]!.time || time >= last!.time + intervalMs[interval]) return null
  let index = 0
  while (index + 1 < bars.length && bars[index + 1]!.time <= time) index++
  return index
}

/** Index ranges (inclusive) of the bars outside the regular session, for shading. */
const extendedHoursRanges = (request: ChartRequest): Array<readonly [number, number]> => {
  const { bars, regularStart, regularEnd } = request.series
  if (request.series.interval !== "5m" || regularStart === null || regularEnd === null) return []
  const ranges: Array<readonly [number, number]> = []
  let start: number | null = null
  bars.forEach((bar, index) => {
    const outside = bar.time < regularStart || bar.time >= regularEnd
    if (outside && start === null) start = index
    if (!outside && start !== null) {
      ranges.push([start, index - 1])
      start = null
    }
  })
  if (start !== null) ranges.push([start, bars.length - 1])
  return ranges
}

const chartOption = (request: ChartRequest) => {
  const { series, markerTime } = request
  const { bars, interval, previousClose } = series
  const intraday = interval === "5m"
  const categories = bars.map((bar) => (intraday ? timeLabel : dayLabel).format(bar.time))
  const last = bars[bars.length - 1]!
  const reference = intraday ? previousClose : (bars[bars.length - 2]?.close ?? null)
  const change = reference === null || reference === 0 ? null : ((last.close - reference) / reference) * 100
  const markerIndex = markerTime === null ? null : barIndexAt(bars, interval, markerTime)
  const shading = extendedHoursRanges(request).map(([from, to]) => [
    { xAxis: from, itemStyle: { color: colors.extendedHours } },
    { xAxis: to }
  ])
  const markArea = shading.length === 0 ? undefined : { silent: true, data: shading }

  const priceLines: Array<Record<string, unknown>> = []
  if (intraday && previousClose !== null) {
    priceLines.push({
      yAxis: previousClose,
      lineStyle: { color: colors.previousClose, type: "dashed", width: 1 },
      label: {
        formatter: `prev close ${formatPrice(previousClose)}`,
        color: colors.previousClose,
        position: "insideStartTop"
      }
    })
  }
  if (markerIndex !== null) {
    priceLines.push({
      xAxis: markerIndex,
      lineStyle: { color: colors.marker, type: "solid", width: 1.5 },
      label: {
        formatter: `alert ${intraday ? timeLabel.format(markerTime!) : dayLabel.format(markerTime!)}`,
        color: colors.marker,
        position: "insideEndTop"
      }
    })
  }

  const titleText = `${series.symbol}  ${intraday ? "5 min" : "daily"} · ${fullDayLabel.format(last.time)}`
  // Intraday: the day's volume so far; daily: the last session's.
  const volume = intraday ? bars.reduce((sum, bar) => sum + bar.volume, 0) : last.volume
  const subtext = `${formatPrice(last.close)}${change === null ? "" : `  ${change >= 0 ? "+" : ""}${change.toFixed(2)}%`}  vol ${formatVolume(volume)}`

  return {
    animation: false,
    backgroundColor: colors.background,
    textStyle: { fontFamily, color: colors.text },
    title: {
      text: titleText,
      subtext,
      left: 12,
      top: 6,
      itemGap: 4,
      textStyle: { color: colors.text, fontSize: 15, fontWeight: "bold", fontFamily },
      subtextStyle: { color: change === null || change >= 0 ? colors.up : colors.down, fontSize: 12, fontFamily }
    },
    grid: [
      { left: 24, right: 64, top: 58, height: 258 },
      { left: 24, right: 64, top: 334, height: 84 }
    ],
    xAxis: [0, 1].map((gridIndex) => ({
      type: "category",
      gridIndex,
      data: categories,
      boundaryGap: true,
      axisLine: { lineStyle: { color: colors.gridLine } },
      axisTick: { show: false },
      axisLabel: { show: gridIndex === 1, color: colors.mutedText, fontSize: 10, fontFamily, hideOverlap: true },
      splitLine: { show: false }
    })),
    yAxis: [
      {
        type: "value",
        gridIndex: 0,
        scale: true,
        position: "right",
        splitNumber: 5,
        axisLabel: { color: colors.mutedText, fontSize: 10, fontFamily, formatter: formatPrice },
        splitLine: { lineStyle: { color: colors.gridLine } }
      },
      {
        type: "value",
        gridIndex: 1,
        position: "right",
        splitNumber: 2,
        axisLabel: { color: colors.mutedText, fontSize: 10, fontFamily, formatter: formatVolume },
        splitLine: { show: false }
      }
    ],
    series: [
      {
        type: "candlestick",
        name: series.symbol,
        data: bars.map((bar) => [bar.open, bar.close, bar.low, bar.high]),
        barMaxWidth: 10,
        itemStyle: { color: colors.up, color0: colors.down, borderColor: colors.up, borderColor0: colors.down },
        markArea,
        markLine:
          priceLines.length === 0 ? undefined : { silent: true, symbol: "none", animation: false, data: priceLines }
      },
      ...(intraday
        ? [
            {
              type: "line",
              name: "VWAP",
              data: vwap(bars),
              showSymbol: false,
              lineStyle: { color: colors.vwap, width: 1.5 },
              z: 3
            }
          ]
        : []),
      {
        type: "bar",
        name: "Volume",
        xAxisIndex: 1,
        yAxisIndex: 1,
        barMaxWidth: 10,
        data: bars.map((bar) => ({
          value: bar.volume,
          itemStyle: { color: bar.close >= bar.open ? colors.upVolume : colors.downVolume }
        })),
        markArea
      }
    ]
  }
}

/** The chart as an SVG document (also handy for looking at a chart without rasterising it). */
export const drawSvg = (request: ChartRequest): string => {
  if (request.series.bars.length === 0) throw new Error("no bars to draw")
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: chartWidth, height: chartHeight })
  try {
    chart.setOption(chartOption(request))
    return chart.renderToSVGString()
  } finally {
    // An undisposed SSR chart keeps timers alive and the process from exiting.
    chart.dispose()
  }
}

/** The chart as PNG bytes, chartWidth × chartHeight. */
export const drawPng = (request: ChartRequest): Uint8Array => {
  const png = new Resvg(drawSvg(request), {
    font: { fontFiles, loadSystemFonts: false, defaultFontFamily: fontFamily, sansSerifFamily: fontFamily },
    fitTo: { mode: "original" },
    background: colors.background
  })
    .render()
    .asPng()
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength)
}

/**
 * The first chart in a thread costs several times a later one (JIT, font parsing); a worker pays that before it
 * reports ready, so the first real chart after a (re)start is as fast as the rest.
 */
export const warmUp = (): void => {
  const start = Date.UTC(2026, 0, 2, 14, 30)
  const bars = [0, 1, 2].map((index) => ({
    time: start + index * 300_000,
    open: 1 + index / 10,
    high: 1.2 + index / 10,
    low: 0.9 + index / 10,
    close: index === 1 ? 0.95 : 1.1 + index / 10,
    volume: 1_000 * (index + 1)
  }))
  drawPng({
    series: {
      symbol: "WARM",
      interval: "5m",
      bars,
      previousClose: 1,
      regularStart: start + 300_000,
      regularEnd: start + 600_000
    },
    markerTime: start
  })
}
