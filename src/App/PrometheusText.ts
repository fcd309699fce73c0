import { MetricState, Option } from "effect"
import type { MetricKey } from "effect/MetricKey"
import * as MetricKeyType from "effect/MetricKeyType"
import type { MetricPair } from "effect/MetricPair"
import * as Prometheus from "prom-client"

const sanitizeName = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^([^a-zA-Z_:])/, "_$1")
const sanitizeLabel = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^([^a-zA-Z_])/, "_$1")

type Labels = Record<string, string>

interface Series {
  readonly key: MetricKey.Untyped
  readonly labels: Labels
  readonly state: MetricState.MetricState.Untyped
}

const labelsOf = (pair: MetricPair.Untyped): Labels =>
  Object.fromEntries(pair.metricKey.tags.map((tag) => [sanitizeLabel(tag.key), tag.value]))

const isMonotonic = (key: MetricKey.Untyped, name: string) =>
  name.endsWith("_total") || (MetricKeyType.isCounterKey(key.keyType) && key.keyType.incremental)

const formatBound = (bound: number) => (bound === Number.POSITIVE_INFINITY ? "+Inf" : String(bound))

type HistogramData = Awaited<ReturnType<Prometheus.Histogram<string>["get"]>>

/** prom-client's Registry renders histograms through this hook, which its typings don't declare. */
const baseHistogramData = (histogram: Prometheus.Histogram<string>): Promise<HistogramData> =>
  (
    Prometheus.Histogram.prototype as unknown as { getForPromString: (this: unknown) => Promise<HistogramData> }
  ).getForPromString.call(histogram)

/** Effect histograms already hold cumulative bucket counts; prom-client only formats them. */
class HistogramView extends Prometheus.Histogram<string> {
  constructor(
    options: Prometheus.HistogramConfiguration<string>,
    private readonly series: ReadonlyArray<Series>
  ) {
    super(options)
  }
  async getForPromString(): Promise<HistogramData> {
    const base = await baseHistogramData(this)
    const values = this.series.flatMap(({ labels, state }) => {
      if (!MetricState.isHistogramState(state)) return []
      return [
        ...state.buckets.map(([bound, count]) => ({
          metricName: `${base.name}_bucket`,
          labels: { ...labels, le: formatBound(bound) },
          value: count
        })),
        { metricName: `${base.name}_sum`, labels, value: state.sum },
        { metricName: `${base.name}_count`, labels, value: state.count }
      ]
    })
    return { ...base, values }
  }
  override get() {
    return this.getForPromString()
  }
}

class SummaryView extends Prometheus.Summary<string> {
  constructor(
    options: Prometheus.SummaryConfiguration<string>,
    private readonly series: ReadonlyArray<Series>
  ) {
    super(options)
  }
  override async get() {
    const base = await super.get()
    const values = this.series.flatMap(({ labels, state }) => {
      if (!MetricState.isSummaryState(state)) return []
      return [
        ...state.quantiles.flatMap(([quantile, value]) =>
          Option.isSome(value) ? [{ labels: { ...labels, quantile: String(quantile) }, value: value.value }] : []
        ),
        { metricName: `${base.name}_sum`, labels, value: state.sum },
        { metricName: `${base.name}_count`, labels, value: state.count }
      ]
    })
    return { ...base, values }
  }
}

/**
 * Encodes every Effect metric in the process (the global registry) as Prometheus text, through
 * prom-client: a fresh registry per scrape, one family per metric name, labels from metric tags.
 */
export const encodePrometheus = async (pairs: ReadonlyArray<MetricPair.Untyped>): Promise<string> => {
  const registry = new Prometheus.Registry()
  const families = new Map<string, { help: string; series: Array<Series> }>()
  for (const pair of pairs) {
    const name = sanitizeName(pair.metricKey.name)
    const family = families.get(name) ?? { help: "", series: [] }
    family.help ||= Option.getOrElse(pair.metricKey.description, () => pair.metricKey.name)
    family.series.push({ key: pair.metricKey, labels: labelsOf(pair), state: pair.metricState })
    families.set(name, family)
  }
  for (const [name, { help, series }] of families) {
    const first = series[0]!.state
    const labelNames = Array.from(new Set(series.flatMap((s) => Object.keys(s.labels))))
    const options = { name, help, labelNames, registers: [registry] }
    if (MetricState.isHistogramState(first)) {
      new HistogramView({ ...options, labelNames: labelNames.filter((label) => label !== "le") }, series)
    } else if (MetricState.isSummaryState(first)) {
      new SummaryView({ ...options, labelNames: labelNames.filter((label) => label !== "quantile") }, series)
    } else if (MetricState.isFrequencyState(first)) {
      const counter = new Prometheus.Counter({ ...options, labelNames: [...labelNames, "key"] })
      for (const { labels, state } of series) {
        if (!MetricState.isFrequencyState(state)) continue
        for (const [key, count] of state.occurrences) counter.inc({ ...labels, key }, count)
      }
    } else {
      const values = series.flatMap(({ labels, state }) =>
        MetricState.isCounterState(state)
          ? [{ labels, value: Number(state.count) }]
          : MetricState.isGaugeState(state)
            ? [{ labels, value: Number(state.value) }]
            : []
      )
      // A Prometheus counter never goes down; an Effect counter may, unless it is `incremental`.
      // Counters named *_total follow the Prometheus convention and are trusted to be monotonic.
      if (MetricState.isCounterState(first) && isMonotonic(series[0]!.key, name)) {
        const counter = new Prometheus.Counter(options)
        for (const { labels, value } of values) counter.inc(labels, value)
      } else {
        const gauge = new Prometheus.Gauge(options)
        for (const { labels, value } of values) gauge.set(labels, value)
      }
    }
  }
  return registry.metrics()
}

export const prometheusContentType = Prometheus.Registry.PROMETHEUS_CONTENT_TYPE
