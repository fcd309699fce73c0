import { Effect, Option } from "effect"
import type { Alert, Chart } from "./Domain.js"

/** Draws the chart that goes with an alert, when bars are available. */
export class ChartRenderer extends Effect.Service<ChartRenderer>()("Charts/ChartRenderer", {
  succeed: {
    forAlert: Effect.fn("ChartRenderer.forAlert")(function* (_alert: Alert) {
      return Option.none<Chart>()
    })
  }
}) {}
