import { formatSeconds } from "../../Kernel/AlertLatency.js"
import { type Html, html } from "./Html.js"

/** One delivered alert: when it went out and how long after publication. */
export interface LatencyPoint {
  readonly at: number
  readonly seconds: number
}

const width = 720
const height = 200
const left = 56
const right = 12
const top = 12
const bottom = 28
const bucketMinutes = 30

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0

/**
 * Publication → alert latency over the last `hours`, drawn on the server as inline SVG: one dot per
 * alert and the p50/p95 of each half hour, on a log scale (seconds to hours share one chart).
 */
export const latencyChart = (points: ReadonlyArray<LatencyPoint>, now: number, hours: number): Html => {
  const from = now - hours * 3_600_000
  const shown = points.filter((point) => point.at >= from && point.at <= now)
  if (shown.length === 0) return html`<p class="muted">No delivered alerts in the last ${hours} h.</p>`
  const maxSeconds = Math.max(60, ...shown.map((point) => point.seconds))
  const logMax = Math.log10(maxSeconds + 1)
  const x = (at: number) => left + ((at - from) / (now - from)) * (width - left - right)
  const y = (seconds: number) => top + (1 - Math.log10(Math.max(0, seconds) + 1) / logMax) * (height - top - bottom)
  const buckets = new Map<number, Array<number>>()
  for (const point of shown) {
    const bucket = Math.floor((point.at - from) / (bucketMinutes * 60_000))
    buckets.set(bucket, [...(buckets.get(bucket) ?? []), point.seconds])
  }
  const line = (p: number) =>
    [...buckets.entries()]
      .sort(([a], [b]) => a - b)
      .map(([bucket, values]) => {
        const sorted = [...values].sort((a, b) => a - b)
        return `${x(from + (bucket + 0.5) * bucketMinutes * 60_000).toFixed(1)},${y(percentile(sorted, p)).toFixed(1)}`
      })
      .join(" ")
  const ticks = [1, 10, 60, 600, 3_600, 14_400].filter((seconds) => seconds <= maxSeconds)
  const hourTicks = Array.from({ length: hours + 1 }, (_, index) => from + index * 3_600_000)
  return html`<svg
      class="chart"
      viewBox="0 0 ${width} ${height}"
      role="img"
      aria-label="Publication to alert latency, last ${hours} hours"
    >
      ${ticks.map(
        (seconds) =>
          html`<line
              x1="${left}"
              x2="${width - right}"
              y1="${y(seconds).toFixed(1)}"
              y2="${y(seconds).toFixed(1)}"
              stroke="#ddd"
            /><text x="${left - 6}" y="${(y(seconds) + 4).toFixed(1)}" text-anchor="end" font-size="11"
              >${formatSeconds(seconds)}</text
            >`
      )}
      ${hourTicks.map(
        (at, index) =>
          html`<text x="${x(at).toFixed(1)}" y="${height - 8}" text-anchor="middle" font-size="11"
            >${index === hours ? "now" : `-${hours - index}h`}</text
          >`
      )}
      ${shown.map(
        (point) =>
          html`<circle cx="${x(point.at).toFixed(1)}" cy="${y(point.seconds).toFixed(1)}" r="2.5" fill="#8aa" />`
      )}
      <polyline points="${line(0.5)}" fill="none" stroke="#2a6" stroke-width="2" />
      <polyline points="${line(0.95)}" fill="none" stroke="#c52" stroke-width="2" />
    </svg>
    <p class="legend">
      <span class="key p50">p50</span> <span class="key p95">p95</span> per ${bucketMinutes} min; dots are single
      alerts.
    </p>`
}
