import type { ChartRequest } from "../../src/Charts/Protocol.js"
import { dailySeries, intradaySeries, newsTime } from "./ChartBars.js"

export const intradayRequest: ChartRequest = { series: intradaySeries(), markerTime: newsTime }
export const dailyRequest: ChartRequest = { series: dailySeries(), markerTime: newsTime }

/** The charts pinned by a reviewed image in test/fixtures/charts/. */
export const goldens: ReadonlyArray<{ readonly name: string; readonly request: ChartRequest }> = [
  { name: "intraday.png", request: intradayRequest },
  { name: "daily.png", request: dailyRequest }
]

export const goldenDir = new URL("../fixtures/charts/", import.meta.url)

/** Redraws every golden image (WriteChartGoldens.ts); run it only after an intended change, and look at the result. */
export const regenerateGoldens = "npm run charts:golden"
