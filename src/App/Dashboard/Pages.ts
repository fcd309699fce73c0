import type { Alert } from "../../Kernel/Domain.js"
import { formatSeconds } from "../../Kernel/AlertLatency.js"
import type { FoundItem } from "../../Outcomes/ItemArchive.js"
import type { OutcomeReport } from "../../Outcomes/Report.js"
import type { GroupStats, TrackedOutcome } from "../../Outcomes/Stats.js"
import type { DoctorReport } from "../Doctor.js"
import type { HealthReport } from "../HealthCheck.js"
import { type Html, html, safeHref } from "./Html.js"
import { latencyChart, type LatencyPoint } from "./LatencyChart.js"

/**
 * The dashboard's pages, rendered on the server from what the bot's services report. Each page's
 * `#live` section is also what the live stream sends, so a push and a reload show the same thing.
 */

export type View = "overview" | "alerts" | "items" | "outcomes" | "settings"

const nav: ReadonlyArray<readonly [View, string, string]> = [
  ["overview", "/", "Overview"],
  ["alerts", "/alerts", "Alerts"],
  ["items", "/items", "Items"],
  ["outcomes", "/outcomes", "Outcomes"],
  ["settings", "/settings", "Settings"]
]

export const page = (view: View, title: string, body: Html): Html =>
  html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · catalyst-bot</title>
        <link rel="stylesheet" href="/dashboard.css" />
        <script src="/dashboard.js" defer></script>
      </head>
      <body data-view="${view}">
        <nav>
          ${nav.map(([name, href, label]) => html`<a href="${href}" ${name === view ? html` aria-current="page"` : ""}>${label}</a>`)}
        </nav>
        <main>${body}</main>
      </body>
    </html> `

/** A section the live stream replaces in place. */
export const live = (content: Html): Html => html`<div id="live">${content}</div>`

const clock = (millis: number) => new Date(millis).toISOString().slice(11, 19)
const isoClock = (iso: string | null) => (iso === null ? "never" : clock(Date.parse(iso)))
const ago = (iso: string | null, now: number) =>
  iso === null ? "" : ` (${formatSeconds(Math.max(0, (now - Date.parse(iso)) / 1000))} ago)`
const dash = "–"

export interface OverviewData {
  readonly now: number
  readonly health: HealthReport
  /** Delivered alerts of the chart's window. */
  readonly latency: ReadonlyArray<LatencyPoint>
  readonly chartHours: number
}

const statusWords: Record<HealthReport["status"], string> = {
  ok: "All good",
  degraded: "Degraded",
  unhealthy: "Unhealthy",
  starting: "Starting"
}

const sourceState = (source: HealthReport["sources"][number]) =>
  source.consecutiveFailures > 0
    ? { word: "failing", className: "bad", detail: source.lastError ?? "" }
    : source.outage === "quiet"
      ? { word: "quiet", className: "warn", detail: "no new items for longer than usual" }
      : source.polls === 0
        ? { word: "not polled yet", className: "muted", detail: "" }
        : { word: "ok", className: "ok", detail: "" }

export const overviewLive = ({ now, health, latency, chartHours }: OverviewData): Html => {
  const latencyBySource = new Map(health.latency.map((entry) => [entry.source, entry.publishedToDelivered]))
  const llm = health.llmBudget
  const webhooks = health.rateLimits?.webhooks ?? []
  return html`<section class="status ${health.status}">
      <h1 id="status">${statusWords[health.status]}</h1>
      ${
        health.problems.length === 0
          ? html`<p>No problems.</p>`
          : html`<ul>
              ${health.problems.map((problem) => html`<li>${problem}</li>`)}
            </ul>`
      }
      <p class="muted">
        Checked ${clock(now)} UTC · up ${formatSeconds(health.uptimeSeconds)} · ${health.cycles} polls
      </p>
    </section>
    <h2>Sources</h2>
    <table id="sources">
      <thead>
        <tr>
          <th>Source</th>
          <th>State</th>
          <th>Every</th>
          <th>Last poll</th>
          <th>Last new item</th>
          <th>Failures</th>
          <th>Published → alert p50 / p95</th>
        </tr>
      </thead>
      <tbody>
        ${health.sources.map((source) => {
          const state = sourceState(source)
          const p = latencyBySource.get(source.name) ?? null
          return html`<tr data-source="${source.name}" class="${state.className}">
            <td>${source.name}</td>
            <td class="state">
              ${state.word}${state.detail === "" ? "" : html`: <span class="detail">${state.detail}</span>`}
            </td>
            <td>${formatSeconds(source.intervalSeconds)}</td>
            <td>${isoClock(source.lastPollAt)}${ago(source.lastPollAt, now)}</td>
            <td>${isoClock(source.lastNewItemAt)}${ago(source.lastNewItemAt, now)}</td>
            <td>${source.consecutiveFailures}</td>
            <td>${p === null ? dash : `${formatSeconds(p.p50)} / ${formatSeconds(p.p95)} (n=${p.count})`}</td>
          </tr>`
        })}
      </tbody>
    </table>
    <div class="cards">
      <section>
        <h2>Outbox</h2>
        <p id="outbox">
          ${health.outbox.depth}
          waiting${health.outbox.oldestPendingAgeSeconds === null ? "" : `, oldest ${formatSeconds(health.outbox.oldestPendingAgeSeconds)}`}
        </p>
        <p class="muted">
          ${
            Object.entries(health.outbox.counts)
              .filter(([, n]) => n > 0)
              .map(([status, n]) => `${status} ${n}`)
              .join(" · ") || "empty"
          }
        </p>
      </section>
      <section>
        <h2>Routes</h2>
        <table id="routes">
          <thead>
            <tr>
              <th>Route</th>
              <th>Delivery</th>
              <th>Headroom</th>
            </tr>
          </thead>
          <tbody>
            ${
              health.delivery.length === 0 && webhooks.length === 0
                ? html`<tr>
                    <td>default</td>
                    <td class="muted">no sends yet</td>
                    <td>${dash}</td>
                  </tr>`
                : ""
            }
            ${health.delivery.map((sink) => {
              const headroom =
                webhooks.find((entry) => entry.label === sink.sink) ??
                (health.delivery.length === 1 ? webhooks[0] : undefined)
              return html`<tr class="${sink.status === "ok" ? "ok" : "bad"}">
                <td>${health.delivery.length === 1 ? "default" : sink.sink}</td>
                <td>${sink.status}${sink.lastError === null ? "" : `: ${sink.lastError}`}</td>
                <td>
                  ${headroom === undefined ? dash : `${headroom.remaining}/${headroom.limit}${headroom.discovered ? "" : " (assumed)"}, resets in ${formatSeconds(headroom.resetAfterMs / 1000)}`}
                </td>
              </tr>`
            })}
          </tbody>
        </table>
        ${health.rateLimits === null ? "" : html`<p class="muted">Discord: ${health.rateLimits.globalRequestsLastSecond}/${health.rateLimits.globalLimitPerSecond} requests in the last second; ${health.rateLimits.invalidLast10Min} invalid responses in 10 min (ban at ${health.rateLimits.invalidBudget})</p>`}
      </section>
      <section>
        <h2>LLM spend today</h2>
        <p id="llm">
          ${llm === null ? "LLM not used yet" : `$${llm.costUsd.toFixed(2)}${llm.dailyBudgetUsd === null ? " (no budget)" : ` of $${llm.dailyBudgetUsd.toFixed(2)}`} · ${llm.calls} calls · budget ${llm.budget}`}
        </p>
      </section>
      <section>
        <h2>Errors, last ${health.errors.windowMinutes} min</h2>
        ${
          health.errors.recentTotal === 0
            ? html`<p id="errors">None.</p>`
            : html`<ul id="errors">
                ${health.errors.counts.filter((count) => count.recent > 0).map((count) => html`<li>${count.recent}× ${count.stage}/${count.tag}: ${count.lastMessage}</li>`)}
              </ul>`
        }
      </section>
    </div>
    <h2>Publication → alert latency, last ${chartHours} h</h2>
    ${latencyChart(latency, now, chartHours)}`
}

export interface AlertRow {
  readonly id: number
  readonly route: string
  readonly alert: Alert
  readonly deliveredAt: number
  readonly edits: number
  readonly outcome: TrackedOutcome | null
}

const movePct = (outcome: TrackedOutcome | null, price: (o: TrackedOutcome) => number | null): string => {
  if (outcome === null || outcome.priceAtAlert === null || outcome.priceAtAlert === 0) return dash
  const later = price(outcome)
  if (later === null) return dash
  const pct = ((later - outcome.priceAtAlert) * 100) / outcome.priceAtAlert
  return `${pct >= 0 ? "+" : ""}${pct.toFixed(1)}%`
}

const latencyOf = (alert: Alert, deliveredAt: number): string => {
  const published = alert.item.published === null ? Number.NaN : Date.parse(alert.item.published)
  return Number.isNaN(published) ? dash : formatSeconds(Math.max(0, (deliveredAt - published) / 1000))
}

export const alertsLive = (rows: ReadonlyArray<AlertRow>): Html =>
  rows.length === 0
    ? html`<p id="no-alerts">No alert delivered yet.</p>`
    : html`<table id="alerts">
        <thead>
          <tr>
            <th>Delivered</th>
            <th>Ticker</th>
            <th>Headline</th>
            <th>Category</th>
            <th>Score</th>
            <th>Routes</th>
            <th>Latency</th>
            <th>Edits</th>
            <th>+15 min</th>
            <th>+1 h</th>
          </tr>
        </thead>
        <tbody>
          ${rows.map(
            (row) =>
              html`<tr data-alert="${row.id}">
                <td>${clock(row.deliveredAt)}</td>
                <td>${row.alert.ticker.symbol}</td>
                <td class="headline">
                  <a href="${safeHref(row.alert.item.link)}" rel="noreferrer noopener">${row.alert.item.title}</a>
                  <span class="muted">${row.alert.item.source}</span>
                </td>
                <td>${row.alert.classification.categories.join(", ") || dash}</td>
                <td>${row.alert.classification.score.toFixed(1)}</td>
                <td>${row.route}</td>
                <td>${latencyOf(row.alert, row.deliveredAt)}</td>
                <td>${row.edits}</td>
                <td>${movePct(row.outcome, (o) => o.price15m)}</td>
                <td>${movePct(row.outcome, (o) => o.price1h)}</td>
              </tr>`
          )}
        </tbody>
      </table>`

export interface ItemsQuery {
  readonly q: string
  readonly ticker: string
  readonly source: string
  readonly hours: number
}

const outcomeWords = (item: FoundItem, routes: ReadonlyMap<string, ReadonlyArray<string>>): string => {
  switch (item.outcome) {
    case "alerted":
      return `alerted (${routes.get(item.itemId)?.join(", ") ?? "no route"})`
    case "filtered":
      return "filtered"
    case "duplicate":
      return "duplicate"
    case "held":
      return "held"
    default:
      return item.outcome
  }
}

export const itemsBody = (
  query: ItemsQuery,
  sources: ReadonlyArray<string>,
  found: ReadonlyArray<FoundItem>,
  routes: ReadonlyMap<string, ReadonlyArray<string>>
): Html =>
  html`<h1>Items</h1>
    <p>Every item the bot decided on, with what it decided and why: the place to ask "why didn't this alert?".</p>
    <form method="get" action="/items" class="search">
      <label>Text or ticker <input type="search" name="q" value="${query.q}" autofocus /></label>
      <label>Ticker <input name="ticker" value="${query.ticker}" size="6" /></label>
      <label
        >Source
        <select name="source">
          <option value="">any</option>
          ${sources.map((source) => html`<option${source === query.source ? html` selected` : ""}>${source}</option>`)}
        </select></label
      >
      <label>Last <input name="hours" type="number" min="1" value="${query.hours}" size="4" /> h</label>
      <button>Search</button>
    </form>
    ${
      found.length === 0
        ? html`<p id="no-items">Nothing archived matches.</p>`
        : html`<table id="items">
            <thead>
              <tr>
                <th>Archived</th>
                <th>Source</th>
                <th>Ticker</th>
                <th>Headline</th>
                <th>Score</th>
                <th>Outcome</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              ${found.map(
                (item) =>
                  html`<tr class="${item.outcome}">
                    <td>${new Date(item.archivedAt).toISOString().slice(0, 19).replace("T", " ")}</td>
                    <td>${item.source}</td>
                    <td>${item.ticker ?? dash}</td>
                    <td class="headline">
                      <a href="${safeHref(item.link)}" rel="noreferrer noopener">${item.title}</a>
                    </td>
                    <td>${item.score === null ? dash : item.score.toFixed(1)}</td>
                    <td class="outcome">${outcomeWords(item, routes)}</td>
                    <td class="reason">${item.reason ?? dash}</td>
                  </tr>`
              )}
            </tbody>
          </table>`
    }`

const statsTable = (heading: string, rows: ReadonlyArray<GroupStats>): Html =>
  html`<h2>${heading}</h2>
    <table>
      <thead>
        <tr>
          <th></th>
          <th>Alerts</th>
          <th>Tracked</th>
          <th>Hits</th>
          <th>Hit rate</th>
          <th>Mean move</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (row) =>
            html`<tr>
              <td>${row.key}</td>
              <td>${row.alerts}</td>
              <td>${row.tracked}</td>
              <td>${row.hits}</td>
              <td>${row.hitRate === null ? dash : `${(row.hitRate * 100).toFixed(0)}%`}</td>
              <td>${row.meanMovePct === null ? dash : `${row.meanMovePct.toFixed(1)}%`}</td>
            </tr>`
        )}
      </tbody>
    </table>`

export const outcomesBody = (report: OutcomeReport, days: number): Html =>
  html`<h1>Outcomes, last ${days} days</h1>
    <p>
      A hit moved at least ${report.hitPct}% in the catalyst's direction within an hour. ${report.total.alerts} alerts,
      ${report.total.tracked} tracked, hit rate
      ${report.total.hitRate === null ? dash : `${(report.total.hitRate * 100).toFixed(0)}%`}; ${report.stillTracking}
      still being tracked.
    </p>
    ${report.byCategory.some((row) => row.hitRate !== null) ? html`<img class="chart" src="/outcomes/chart.png?days=${days}" alt="Hit rate by category" width="800" height="450" />` : ""}
    ${statsTable("By category", report.byCategory)} ${statsTable("By source", report.bySource)}
    ${statsTable("By form", report.byFormType)}
    <h2>Missed: filtered items that moved ≥ ${report.missedPct}%</h2>
    ${
      report.missed.opportunities.length === 0
        ? html`<p>None among ${report.missed.filteredTracked} tracked filtered items.</p>`
        : html`<table>
            <thead>
              <tr>
                <th>At</th>
                <th>Ticker</th>
                <th>Headline</th>
                <th>Why filtered</th>
                <th>Best 1 h move</th>
              </tr>
            </thead>
            <tbody>
              ${report.missed.opportunities.map(
                (missed) =>
                  html`<tr>
                    <td>${missed.at.slice(0, 16).replace("T", " ")}</td>
                    <td>${missed.ticker}</td>
                    <td>${missed.title}</td>
                    <td>${missed.reason ?? dash}</td>
                    <td>${missed.maxFavourable1hPct.toFixed(1)}%</td>
                  </tr>`
              )}
            </tbody>
          </table>`
    }`

export const settingsBody = (report: DoctorReport): Html =>
  html`<h1>Settings</h1>
    <p>
      The effective configuration, secrets redacted, and the checks of <code>catalyst-bot doctor</code> (refreshed every
      few minutes).
    </p>
    <table id="checks">
      <thead>
        <tr>
          <th>Check</th>
          <th>Verdict</th>
          <th>Detail</th>
        </tr>
      </thead>
      <tbody>
        ${report.checks.map(
          (check) =>
            html`<tr class="${check.verdict === "ok" ? "ok" : check.verdict === "warn" ? "warn" : "bad"}">
              <td>${check.name}</td>
              <td>${check.verdict.toUpperCase()}</td>
              <td>${check.detail}</td>
            </tr>`
        )}
      </tbody>
    </table>
    <h2>Configuration</h2>
    <pre id="settings">${report.lines.filter((line) => line.startsWith("  ")).map((line) => `${line.trim()}\n`)}</pre>`

export const loginBody = (failed: boolean): Html =>
  html`<h1>catalyst-bot dashboard</h1>
    ${failed ? html`<p class="bad">That token is not the one in DASHBOARD_TOKEN.</p>` : ""}
    <form method="post" action="/login" class="search">
      <label>Token <input type="password" name="token" autocomplete="current-password" autofocus /></label>
      <button>Sign in</button>
    </form>`
