import { Effect } from "effect"
import type { Alert, ChartOutcome } from "./Domain.js"

/** Draws the chart that goes with an alert, when bars are available. */
export class ChartRenderer extends Effect.Service<ChartRenderer>()("Charts/ChartRenderer", {
  succeed: {
    forAlert: Effect.fn("ChartRenderer.forAlert")(function* (_alert: Alert) {
      return { _tag: "NoBars" } as ChartOutcome
    })
  }
}) {}
