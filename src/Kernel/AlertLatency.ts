import { Effect, Metric, MetricBoundaries, Ref } from "effect"
import type { Alert } from "./Domain.js"
import { makeTestLayer } from "./TestLayer.js"

/**
 * Publication-to-alert latency: for every delivered alert, how long from the source publishing the
 * item to the alert landing, split into the stages that make it up. This is the number traders care
 * about: "how late was I?".
 */

export const latencyStages = ["published_to_fetched", "fetched_to_decided", "decided_to_delivered"] as const
export type LatencyStage = (typeof latencyStages)[number]

/** 1 s … ~4.5 h: wire items arrive within seconds to minutes; SEC filings can lag by an hour. */
const boundaries = MetricBoundaries.exponential({ start: 1, factor: 2, count: 15 })

export const publicationToAlert = Metric.histogram(
  "alert_publication_to_delivery_seconds",
  boundaries,
  "From the item's published time to the alert being delivered, per source"
)
export const stageLatency = Metric.histogram(
  "alert_stage_latency_seconds",
  boundaries,
  "Time spent in each step between publication and delivery, per source"
)

export interface LatencySample {
  readonly source: string
  /** Null when the item carried no publication time. */
  readonly publishedToDelivered: number | null
  readonly stages: Readonly<Record<LatencyStage, number | null>>
}

export interface Percentiles {
  readonly count: number
  readonly p50: number
  readonly p95: number
}

export interface SourceLatency {
  readonly source: string
  /** Seconds from publication to delivery. */
  readonly publishedToDelivered: Percentiles | null
  readonly stages: Readonly<Record<LatencyStage, Percentiles | null>>
}

/** Percentiles come from the newest samples per source, so a long-running bot reports current figures. */
const samplesPerSource = 500

const parseTime = (iso: string | null): number | null => {
  if (iso === null) return null
  const millis = Date.parse(iso)
  return Number.isNaN(millis) ? null : millis
}

/** Seconds between two instants; clocks and minute-precision pubDates can put "published" slightly ahead. */
const between = (from: number | null, to: number | null): number | null =>
  from === null || to === null ? null : Math.max(0, (to - from) / 1000)

export const measure = (alert: Alert, deliveredAt: number): LatencySample => {
  const published = parseTime(alert.item.published)
  const fetched = parseTime(alert.item.fetchedAt)
  const decided = parseTime(alert.decidedAt)
  return {
    source: alert.item.source,
    publishedToDelivered: between(published, deliveredAt),
    stages: {
      published_to_fetched: between(published, fetched),
      fetched_to_decided: between(fetched, decided),
      decided_to_delivered: between(decided, deliveredAt)
    }
  }
}

export const percentiles = (values: ReadonlyArray<number>): Percentiles | null => {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN
  return { count: values.length, p50: at(0.5), p95: at(0.95) }
}

export class AlertLatency extends Effect.Service<AlertLatency>()("Kernel/AlertLatency", {
  effect: Effect.gen(function* () {
    const recent = yield* Ref.make<ReadonlyMap<string, ReadonlyArray<LatencySample>>>(new Map())

    /** Records one delivered alert (`deliveredAt` in epoch ms). */
    const record = Effect.fn("AlertLatency.record")(function* (alert: Alert, deliveredAt: number) {
      const sample = measure(alert, deliveredAt)
      yield* Ref.update(recent, (map) =>
        new Map(map).set(sample.source, [...(map.get(sample.source) ?? []), sample].slice(-samplesPerSource))
      )
      if (sample.publishedToDelivered !== null) {
        yield* Metric.update(
          publicationToAlert.pipe(Metric.tagged("source", sample.source)),
          sample.publishedToDelivered
        )
      }
      for (const stage of latencyStages) {
        const seconds = sample.stages[stage]
        if (seconds === null) continue
        yield* Metric.update(
          stageLatency.pipe(Metric.tagged("source", sample.source), Metric.tagged("stage", stage)),
          seconds
        )
      }
      yield* Effect.annotateCurrentSpan({
        "alert.source": sample.source,
        "alert.published_to_delivered_s": sample.publishedToDelivered ?? -1
      })
      return sample
    })

    /** p50/p95 per source, for /health and the hourly heartbeat. */
    const summary: Effect.Effect<ReadonlyArray<SourceLatency>> = Effect.map(Ref.get(recent), (map) =>
      Array.from(map, ([source, samples]) => ({
        source,
        publishedToDelivered: percentiles(samples.flatMap((s) => s.publishedToDelivered ?? [])),
        stages: {
          published_to_fetched: percentiles(samples.flatMap((s) => s.stages.published_to_fetched ?? [])),
          fetched_to_decided: percentiles(samples.flatMap((s) => s.stages.fetched_to_decided ?? [])),
          decided_to_delivered: percentiles(samples.flatMap((s) => s.stages.decided_to_delivered ?? []))
        }
      })).sort((a, b) => a.source.localeCompare(b.source))
    ).pipe(Effect.withSpan("AlertLatency.summary"))

    /** One line per source, e.g. `GlobeNewswire: p50 42s, p95 3m 10s (n=17)`, for the heartbeat message. */
    const describe: Effect.Effect<ReadonlyArray<string>> = Effect.map(summary, (sources) =>
      sources.map(({ source, publishedToDelivered: p }) =>
        p === null
          ? `${source}: no publication times`
          : `${source}: p50 ${formatSeconds(p.p50)}, p95 ${formatSeconds(p.p95)} (n=${p.count})`
      )
    )

    return { record, summary, describe } as const
  })
}) {
  static readonly Test = makeTestLayer(AlertLatency)
}

export const formatSeconds = (seconds: number): string => {
  if (seconds < 60) return `${Math.round(seconds)}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m ${Math.round(seconds % 60)}s`
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`
}
