import { warmUp } from "./Draw.js"
import { drawChart, runChartWorker } from "./WorkerMain.js"

/** Entry point of a chart render worker thread (spawned by RenderPool). */
warmUp()
runChartWorker(drawChart)
