/**
 * Every documented bench target, in one place: `text` is what results.md's `target` column shows, the bounds are
 * what the full bench (`pass`) and `npm run bench:check` compare with. bench:check compares only `ratio`, the figure
 * against its baseline measured in the same run, because absolute figures move with the machine's load; `value`
 * bounds are checked by the full bench alone.
 */
export type Bound = { readonly atLeast: number } | { readonly atMost: number }

export interface Target {
  readonly text: string
  readonly ratio?: Bound
  readonly value?: Bound
}

export const within = (bound: Bound | undefined, measured: number | undefined): boolean =>
  bound === undefined ||
  (measured !== undefined && ("atLeast" in bound ? measured >= bound.atLeast : measured <= bound.atMost))

/** The full bench's verdict on a figure: every bound its target has. */
export const judge = (target: Target, value: number, ratio?: number) => ({
  target: target.text,
  pass: within(target.value, value) && within(target.ratio, ratio)
})

export const targets = {
  feedsSpeedup: { text: "≥ 15× faster (ratio = sequential / concurrent)", ratio: { atLeast: 15 } },
  feedsOverSlowest: { text: "< 1.5× (ratio = concurrent / single, smaller is better)", ratio: { atMost: 1.5 } },
  parseThroughput: {
    text: "≥ 20k items/s and ≥ 0.4 of raw feedsmith",
    value: { atLeast: 20_000 },
    ratio: { atLeast: 0.4 }
  },
  pgSeenThroughput: { text: "≥ 50k ids/s batched on PostgreSQL", value: { atLeast: 50_000 } },
  storeThroughput: { text: "≥ 100k ids/s and ≥ 0.5 of raw", value: { atLeast: 100_000 }, ratio: { atLeast: 0.5 } },
  llmSpeedup: { text: "≥ 6× (ratio = sequential / concurrent)", ratio: { atLeast: 6 } },
  quoteCacheHeap: { text: "≤ 5 MB", value: { atMost: 5 } },
  quoteCacheVersusUnbounded: {
    text: "≤ 0.5 of the unbounded dict's growth (ratio = bounded / unbounded)",
    ratio: { atMost: 0.5 }
  },
  quotesBatched: { text: "> 1× (ratio = one call per symbol / batched)", ratio: { atLeast: 1.0001 } },
  chartsLoopDelay: {
    text: "< 50 ms and ≥ 2× lower than the main thread",
    value: { atMost: 50 },
    ratio: { atLeast: 2 }
  },
  chartsMainThreadCpu: {
    text: "≥ 5× less main-thread CPU per chart than drawing it there",
    ratio: { atLeast: 5 }
  },
  chartsRenderP50: { text: "< 150 ms", value: { atMost: 150 } },
  discordShareOfLimit: { text: "≥ 90% (ratio = delivered rate / configured limit)", ratio: { atLeast: 0.9 } },
  discordLost: { text: "0", value: { atMost: 0 }, ratio: { atMost: 0 } },
  routesShareOfLimit: {
    text: "≥ 90% of the combined message limit (ratio = fastest time the limit allows / time taken, per webhook)",
    ratio: { atLeast: 0.9 }
  },
  routesDelivered: { text: "all (ratio = delivered / queued)", ratio: { atLeast: 1 } },
  routes429s: { text: "≤ 1 per bucket (ratio = 429s / webhooks)", ratio: { atMost: 1 } },
  routingDecision: { text: "≥ 100k alerts/s", value: { atLeast: 100_000 } },
  tracingOverhead: { text: "≤ 1.10× (ratio = on / off)", ratio: { atMost: 1.1 } },
  backtestWall: { text: "< 10000 ms", value: { atMost: 10_000 } },
  cycleSpeedup: { text: "≥ 2× faster (ratio = sequential / concurrent)", ratio: { atLeast: 2 } },
  latencyP50VersusFloor: {
    text: "≤ 1.5 s, and within 3× of the floor (ratio = floor p50 / bot p50 ≥ 0.33)",
    ratio: { atLeast: 0.33 }
  },
  latencyP95VersusFloor: {
    text: "≤ 4 s, and within 4× of the floor (ratio = floor p95 / bot p95 ≥ 0.25)",
    ratio: { atLeast: 0.25 }
  },
  latencyBurst: {
    text: "≤ 4 s, and ≥ 4× faster than the batch design (ratio = batch / bot)",
    value: { atMost: 4 },
    ratio: { atLeast: 4 }
  },
  latencyIdleCpu: {
    text: "≤ 5% of a core, and ≥ 0.05 of the batch design's (ratio = batch / bot; it polls 30-60× as often)",
    value: { atMost: 5 },
    ratio: { atLeast: 0.05 }
  },
  idleRssVersusBare: {
    text: "≤ 150 MiB, and ≤ 1.5× a bare Effect HTTP server",
    value: { atMost: 150 },
    ratio: { atMost: 1.5 }
  },
  soakHeapGrowth: { text: "< 10 MiB (bounded caches)", value: { atMost: 10 } },
  dashboardWeight: { text: "≤ 200 KB (ratio = bytes / 200 KB)", value: { atMost: 200 }, ratio: { atMost: 1 } },
  dashboardContent: { text: "≤ 500 ms (ratio = ms / 500 ms)", value: { atMost: 500 }, ratio: { atMost: 1 } },
  dashboardSearchP95: {
    text: "≤ 200 ms over 100k items (ratio = p95 / 200 ms)",
    value: { atMost: 200 },
    ratio: { atMost: 1 }
  },
  dashboardLiveCost: { text: "≤ 1.10× (ratio = poll p95 with 20 live clients / without)", ratio: { atMost: 1.1 } },
  clusterFailover: { text: "≤ 10 s at the default CLUSTER_LEASE_SECONDS", value: { atMost: 10 } }
} as const satisfies Record<string, Target>
