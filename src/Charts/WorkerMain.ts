// Deep imports: a worker thread loads only what it needs, which roughly halves its start-up time over the barrels.
import * as WorkerRunner from "@effect/platform/WorkerRunner"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { drawPng } from "./Draw.js"
import { DrawError, RenderChart } from "./Protocol.js"

/** Draws on the worker's own thread; a thrown error becomes a DrawError reply, and the worker lives on. */
export const drawChart = (request: RenderChart) =>
  Effect.try({
    try: () => drawPng(request),
    catch: (cause) => new DrawError({ reason: cause instanceof Error ? cause.message : String(cause) })
  })

/**
 * The body of a render worker thread: answers RenderChart messages until the pool closes it.
 * Logs go to stderr, so a worker can never write into the alert stream on stdout.
 */
export const runChartWorker = (handle: (request: RenderChart) => Effect.Effect<Uint8Array, DrawError>) =>
  WorkerRunner.launch(
    WorkerRunner.layerSerialized(RenderChart, { RenderChart: handle }).pipe(Layer.provide(NodeWorkerRunner.layer))
  ).pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))),
    NodeRuntime.runMain({ disableErrorReporting: false, disablePrettyLogger: true })
  )
