/** Figures over tracked outcomes, shared by the report and the backtest. */

/** The prices recorded at each checkpoint of an alert, and the first hour's extremes. */
export interface CheckpointPrices {
  readonly alertAt: number
  readonly priceAtAlert: number | null
  readonly price15m: number | null
  readonly price1h: number | null
  readonly price4h: number | null
  readonly priceNextClose: number | null
  readonly maxFavourable1hPct: number | null
  readonly maxAdverse1hPct: number | null
}

/** What was tracked: a delivered alert, or a sampled filtered item. */
export interface OutcomeSubject {
  readonly itemId: string
  readonly kind: "alert" | "filtered"
  readonly ticker: string
  readonly source: string
  readonly formType: string | null
  readonly title: string
  readonly categories: ReadonlyArray<string>
  readonly score: number
  readonly sentiment: number
  readonly reason: string | null
}

export interface TrackedOutcome extends OutcomeSubject, CheckpointPrices {
  readonly complete: boolean
}

export interface GroupStats {
  readonly key: string
  readonly alerts: number
  /** Alerts with a known price at alert time and at +1 h: the denominator of the hit rate. */
  readonly tracked: number
  readonly hits: number
  readonly hitRate: number | null
  readonly meanMovePct: number | null
  readonly medianMovePct: number | null
}

export const directionOf = (sentiment: number): 1 | -1 => (sentiment < 0 ? -1 : 1)

/** The +1 h move in the catalyst's direction, in percent (positive = the call was right). */
export const move1hPct = (outcome: TrackedOutcome): number | null =>
  outcome.priceAtAlert === null || outcome.price1h === null || outcome.priceAtAlert === 0
    ? null
    : (directionOf(outcome.sentiment) * (outcome.price1h - outcome.priceAtAlert) * 100) / outcome.priceAtAlert

/** A hit moved at least `hitPct` in the catalyst's direction at some point within the first hour. */
export const isHit = (outcome: TrackedOutcome, hitPct: number): boolean =>
  outcome.maxFavourable1hPct !== null && outcome.maxFavourable1hPct >= hitPct

export const median = (values: ReadonlyArray<number>): number | null => {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const mean = (values: ReadonlyArray<number>): number | null =>
  values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0) / values.length

export const summarise = (key: string, outcomes: ReadonlyArray<TrackedOutcome>, hitPct: number): GroupStats => {
  const tracked = outcomes.filter((outcome) => move1hPct(outcome) !== null && outcome.maxFavourable1hPct !== null)
  const moves = tracked.map((outcome) => move1hPct(outcome)!)
  const hits = tracked.filter((outcome) => isHit(outcome, hitPct)).length
  return {
    key,
    alerts: outcomes.length,
    tracked: tracked.length,
    hits,
    hitRate: tracked.length === 0 ? null : hits / tracked.length,
    meanMovePct: mean(moves),
    medianMovePct: median(moves)
  }
}

/** One row per key; an outcome with several keys (categories) counts under each. Most alerts first. */
export const groupBy = (
  outcomes: ReadonlyArray<TrackedOutcome>,
  keysOf: (outcome: TrackedOutcome) => ReadonlyArray<string>,
  hitPct: number
): ReadonlyArray<GroupStats> => {
  const groups = new Map<string, Array<TrackedOutcome>>()
  for (const outcome of outcomes) {
    for (const key of new Set(keysOf(outcome))) {
      const group = groups.get(key)
      if (group) group.push(outcome)
      else groups.set(key, [outcome])
    }
  }
  return [...groups.entries()]
    .map(([key, group]) => summarise(key, group, hitPct))
    .sort((a, b) => b.alerts - a.alerts || a.key.localeCompare(b.key))
}

export const categoryKeys = (outcome: TrackedOutcome): ReadonlyArray<string> =>
  outcome.categories.length === 0 ? ["uncategorised"] : outcome.categories

export const formTypeKey = (formType: string | null): string => formType ?? "press release"
