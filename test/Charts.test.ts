import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Fiber, FiberStatus, Layer, Option } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import { chartWidth, drawPng } from "../src/Charts/Draw.js"
import { ChartWorkerEntry, RenderPool } from "../src/Charts/RenderPool.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { Alert, BarInterval, BarSeries } from "../src/Kernel/Domain.js"
import { MarketData } from "../src/MarketData/MarketData.js"
import { dailySeries, intradaySeries, newsTime } from "./support/ChartBars.js"
import { dailyRequest, goldenDir, goldens, intradayRequest, regenerateGoldens } from "./support/ChartGoldens.js"
import { countNear, decodePng, differingShare, rgb } from "./support/Png.js"
import { configLayer } from "./support/TestLayers.js"
import { classificationFixture, itemFixture, makeAlert } from "./support/Alerts.js"

const colours = {
  up: rgb("#26a69a"),
  down: rgb("#ef5350"),
  // rgba(…, 0.55) over the #131722 background
  upVolume: rgb("#1d6664"),
  downVolume: rgb("#8c383b"),
  title: rgb("#d1d4dc")
}
const priceArea = { x0: 0, y0: 58, x1: chartWidth, y1: 316 }
const volumeArea = { x0: 0, y0: 334, x1: chartWidth, y1: 418 }
const titleArea = { x0: 0, y0: 0, x1: 400, y1: 28 }

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

/** The test never writes a golden: a missing one fails, naming the script that draws it. */
const compareWithGolden = (name: string, png: Uint8Array) => {
  const file = new URL(name, goldenDir)
  if (!existsSync(file)) {
    throw new Error(
      `golden image test/fixtures/charts/${name} is missing: draw it with \`${regenerateGoldens}\` and review it`
    )
  }
  return differingShare(decodePng(png), decodePng(readFileSync(file)))
}

const alertFor = (symbol: string, published: string | null = new Date(newsTime).toISOString()): Alert =>
  makeAlert(
    itemFixture(`item-${symbol}`, {
      title: `${symbol} announces a catalyst`,
      link: "https://example.com/news",
      published,
      fetchedAt: new Date(newsTime).toISOString(),
      tickers: [{ symbol, exchange: "NASDAQ" }]
    }),
    {
      classification: classificationFixture({
        categories: ["fda"],
        sentiment: 0.6,
        matched: ["fda approval"],
        llm: { _tag: "Skipped", reason: "no LLM configured" }
      })
    }
  )

/**
 * MarketData for the pool tests, driven by the symbol: NONE has no bars at all, DAILY no intraday bars, BROKEN a
 * failing provider; everything else gets the fixed series. Records every call.
 */
const calls: Array<string> = []
const MarketTest = MarketData.Test({
  bars: (symbol: string, interval: BarInterval) =>
    Effect.suspend(() => {
      calls.push(`${symbol}/${interval}`)
      if (symbol === "BROKEN") return Effect.dieMessage("quote provider down")
      if (symbol === "NONE" || (symbol === "DAILY" && interval === "5m"))
        return Effect.succeed(Option.none<BarSeries>())
      return Effect.succeed(Option.some(interval === "5m" ? intradaySeries(symbol) : dailySeries(symbol)))
    })
})
const callsFor = (symbol: string) => calls.filter((call) => call.startsWith(`${symbol}/`))

/** Worker threads start slowly on a loaded 2-core machine (TypeScript workers load through tsx). */
const workerTestTimeout = 90_000

/** The real pool, on a worker that also crashes, hangs or fails when the symbol asks it to. */
const ChartsTest = ChartRenderer.DefaultWithoutDependencies.pipe(
  Layer.provideMerge(RenderPool.DefaultWithoutDependencies),
  Layer.provide(MarketTest),
  Layer.provide(Layer.succeed(ChartWorkerEntry, new URL("./support/FaultyChartWorker.ts", import.meta.url))),
  Layer.provide(AppConfig.Default),
  Layer.provide(configLayer({ CHART_WORKERS: 2, CHART_QUEUE_SIZE: 0, CHART_TIMEOUT_MS: 2_000 }))
)

describe("chart drawing", () => {
  it("draws a valid PNG of the configured size", () => {
    const png = drawPng(intradayRequest)
    expect([...png.subarray(0, 8)]).toEqual(PNG_SIGNATURE)
    const image = decodePng(png)
    expect(image.width).toBe(800)
    expect(image.height).toBe(450)
  })

  it("shows rising and falling candles, volume bars and the title text", () => {
    const image = decodePng(drawPng(intradayRequest))
    expect(countNear(image, colours.up, priceArea)).toBeGreaterThan(300)
    expect(countNear(image, colours.down, priceArea)).toBeGreaterThan(300)
    expect(countNear(image, colours.upVolume, volumeArea, 20)).toBeGreaterThan(300)
    expect(countNear(image, colours.downVolume, volumeArea, 20)).toBeGreaterThan(300)
    // Without a loaded font resvg silently drops text: the title must leave ink.
    expect(countNear(image, colours.title, titleArea, 40)).toBeGreaterThan(150)
  })

  it.each(goldens)("matches the golden $name within tolerance", ({ name, request }) => {
    expect(compareWithGolden(name, drawPng(request))).toBeLessThan(0.005)
  })

  it("tells the golden comparison apart from a different chart", () => {
    const other = drawPng({ series: intradaySeries("WXYZ"), markerTime: null })
    const daily = decodePng(drawPng(dailyRequest))
    expect(differingShare(decodePng(other), daily)).toBeGreaterThan(0.02)
  })

  it("refuses to draw an empty series", () => {
    expect(() => drawPng({ series: { ...intradaySeries(), bars: [] }, markerTime: null })).toThrow("no bars")
  })
})

layer(ChartsTest, { timeout: "60 seconds", excludeTestServices: true })("ChartRenderer on the worker pool", (it) => {
  it.effect(
    "renders on a worker exactly what the main thread draws",
    () =>
      Effect.gen(function* () {
        const charts = yield* ChartRenderer
        const chart = yield* charts.render(intradayRequest)
        expect(chart.filename).toBe("ABCD-intraday.png")
        const image = decodePng(chart.png)
        expect([image.width, image.height]).toEqual([800, 450])
        expect(differingShare(image, decodePng(drawPng(intradayRequest)))).toBe(0)
      }),
    workerTestTimeout
  )

  it.effect(
    "charts an alert from its intraday bars, and serves a repeat from the cache",
    () =>
      Effect.gen(function* () {
        const charts = yield* ChartRenderer
        const first = yield* charts.forAlert(alertFor("CACHE"))
        const second = yield* charts.forAlert(alertFor("CACHE"))
        expect(first).toMatchObject({ _tag: "Rendered", chart: { filename: "CACHE-intraday.png" } })
        expect(second).toBe(first)
        expect(callsFor("CACHE")).toEqual(["CACHE/5m"])
      }),
    workerTestTimeout
  )

  it.effect(
    "draws a separate chart when the marker moves",
    () =>
      Effect.gen(function* () {
        const charts = yield* ChartRenderer
        const early = yield* charts.forAlert(alertFor("MOVE"))
        const later = yield* charts.forAlert(alertFor("MOVE", new Date(newsTime + 3 * 3_600_000).toISOString()))
        expect(early._tag).toBe("Rendered")
        expect(later._tag).toBe("Rendered")
        expect(later).not.toBe(early)
        expect(callsFor("MOVE")).toHaveLength(2)
      }),
    workerTestTimeout
  )

  it.effect(
    "falls back to the daily chart when there are no intraday bars",
    () =>
      Effect.gen(function* () {
        const charts = yield* ChartRenderer
        const outcome = yield* charts.forAlert(alertFor("DAILY"))
        expect(outcome).toMatchObject({ _tag: "Rendered", chart: { filename: "DAILY-daily.png" } })
        expect(callsFor("DAILY")).toEqual(["DAILY/5m", "DAILY/1d"])
      }),
    workerTestTimeout
  )

  it.effect(
    "reports NoBars when neither variant has bars",
    () =>
      Effect.gen(function* () {
        const charts = yield* ChartRenderer
        expect(yield* charts.forAlert(alertFor("NONE"))).toEqual({ _tag: "NoBars" })
        expect(callsFor("NONE")).toEqual(["NONE/5m", "NONE/1d"])
      }),
    workerTestTimeout
  )

  it.effect(
    "turns a failing bars lookup into Failed, and does not cache it",
    () =>
      Effect.gen(function* () {
        const charts = yield* ChartRenderer
        const first = yield* charts.forAlert(alertFor("BROKEN"))
        yield* charts.forAlert(alertFor("BROKEN"))
        expect(first._tag === "Failed" && first.reason).toContain("bars unavailable")
        expect(callsFor("BROKEN")).toEqual(["BROKEN/5m", "BROKEN/5m"])
      }),
    workerTestTimeout
  )

  /** A chart for `symbol` that goes wrong, then charts that must still render. */
  const renderAfter = (symbol: string) =>
    Effect.gen(function* () {
      const charts = yield* ChartRenderer
      const broken = yield* charts.forAlert(alertFor(symbol))
      const next = yield* charts.forAlert(alertFor(`AFTER-${symbol}`))
      // Both workers at once: only passes if the broken worker was replaced by a working one.
      const both = yield* Effect.all(
        [1, 2].map((n) => charts.render({ series: intradaySeries(`BOTH${n}`), markerTime: null })),
        { concurrency: 2 }
      )
      return { broken, next, both }
    })

  it.effect(
    "a drawing error fails that chart only",
    () =>
      Effect.gen(function* () {
        const { broken, next, both } = yield* renderAfter("THROW")
        expect(broken).toEqual({ _tag: "Failed", reason: "no bars to draw" })
        expect(next._tag).toBe("Rendered")
        expect(both).toHaveLength(2)
      }),
    workerTestTimeout
  )

  it.effect(
    "a worker that exits is replaced, and the next charts render",
    () =>
      Effect.gen(function* () {
        const { broken, next, both } = yield* renderAfter("EXIT")
        expect(broken._tag === "Failed" && broken.reason).toBe("chart worker failed")
        expect(next._tag).toBe("Rendered")
        expect(both.map((chart) => decodePng(chart.png).width)).toEqual([800, 800])
      }),
    workerTestTimeout
  )

  it.effect(
    "a worker that throws an uncaught exception is replaced, and the next charts render",
    () =>
      Effect.gen(function* () {
        const { broken, next, both } = yield* renderAfter("CRASH")
        expect(broken._tag === "Failed" && broken.reason).toBe("chart worker failed")
        expect(next._tag).toBe("Rendered")
        expect(both).toHaveLength(2)
      }),
    workerTestTimeout
  )

  it.effect(
    "a chart that overruns CHART_TIMEOUT_MS fails, and its stuck worker is replaced",
    () =>
      Effect.gen(function* () {
        const { broken, next, both } = yield* renderAfter("HANG")
        expect(broken).toEqual({ _tag: "Failed", reason: "chart timed out after 2000 ms" })
        expect(next._tag).toBe("Rendered")
        expect(both).toHaveLength(2)
      }),
    workerTestTimeout
  )

  it.effect(
    "refuses a chart at once when every worker is busy and the queue is full",
    () =>
      Effect.gen(function* () {
        const charts = yield* ChartRenderer
        const stuck = yield* Effect.forEach([1, 2], (n) =>
          Effect.fork(Effect.either(charts.render({ series: intradaySeries("HANG"), markerTime: n })))
        )
        // Admission comes before a chart's first suspension: once neither is running, both hold a worker.
        yield* Effect.yieldNow().pipe(
          Effect.zipRight(Effect.forEach(stuck, (fiber) => fiber.status)),
          Effect.repeat({ until: (statuses) => statuses.every((status) => !FiberStatus.isRunning(status)) })
        )
        const refused = yield* Effect.flip(charts.render(intradayRequest))
        expect(refused.reason).toBe("chart queue is full")
        // Refused at once: both stuck charts were still drawing.
        expect(yield* Effect.forEach(stuck, Fiber.poll)).toEqual([Option.none(), Option.none()])
        yield* Fiber.joinAll(stuck)
      }),
    workerTestTimeout
  )
})
