import { Effect } from "effect"
import type { FeedReport, NormalizedItem } from "./Domain.js"

export interface FeedBatch {
  readonly reports: ReadonlyArray<FeedReport>
  /** Fresh items, ready for dedupe. */
  readonly items: ReadonlyArray<NormalizedItem>
  /** Items dropped for being older than the age limits. */
  readonly stale: ReadonlyArray<NormalizedItem>
}

/** Turns the configured wires and SEC feeds into normalised items. */
export class FeedIngest extends Effect.Service<FeedIngest>()("Feeds/FeedIngest", {
  succeed: {
    fetchAll: Effect.succeed<FeedBatch>({ reports: [], items: [], stale: [] }).pipe(
      Effect.withSpan("FeedIngest.fetchAll")
    )
  }
}) {}
