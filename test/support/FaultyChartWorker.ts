import { Effect } from "effect"
import { warmUp } from "../../src/Charts/Draw.js"
import { type DrawError, RenderChart } from "../../src/Charts/Protocol.js"
import { drawChart, runChartWorker } from "../../src/Charts/WorkerMain.js"

/** A chart worker that misbehaves when the symbol asks it to, so tests can crash, hang and break it on purpose. */
warmUp()
runChartWorker((request) => {
  switch (request.series.symbol) {
    case "EXIT":
      return Effect.sync(() => process.exit(3))
    case "CRASH":
      return Effect.async<Uint8Array, DrawError>(() => {
        setTimeout(() => {
          throw new Error("render worker crashed")
        }, 0)
      })
    case "HANG":
      return Effect.sync(() => {
        const until = Date.now() + 60_000
        while (Date.now() < until) {
          /* a render stuck in a loop: only terminating the thread stops it */
        }
        return new Uint8Array()
      })
    case "THROW":
      return drawChart(new RenderChart({ ...request, series: { ...request.series, bars: [] } }))
    default:
      return drawChart(request)
  }
})
