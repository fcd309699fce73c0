import * as Schema from "effect/Schema"
import { BarSeries } from "../Kernel/Domain.js"

/** What a chart shows: the bars, and where the alert's publication time falls (null: no marker). */
export const ChartRequest = Schema.Struct({
  series: BarSeries,
  markerTime: Schema.NullOr(Schema.Number)
})
export type ChartRequest = typeof ChartRequest.Type

/** Drawing failed inside the worker (bad bars, a bug in the chart code). */
export class DrawError extends Schema.TaggedError<DrawError>()("DrawError", {
  reason: Schema.String
}) {}

/** The one message the render workers understand; crosses the thread boundary as structured clone. */
export class RenderChart extends Schema.TaggedRequest<RenderChart>()("RenderChart", {
  failure: DrawError,
  success: Schema.Uint8ArrayFromSelf,
  payload: ChartRequest.fields
}) {}
