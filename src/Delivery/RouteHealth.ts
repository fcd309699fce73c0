import { Effect, Metric, Option } from "effect"
import { StatusBoard } from "../Kernel/StatusBoard.js"
import { DiscordStatus, type Headroom } from "./Discord/DiscordRateLimiter.js"
import { Outbox } from "./Outbox.js"
import { Routes } from "./Routes.js"

/** 429s per route; labelled by the route's name, never its webhook URL. */
export const routeRateLimited = Metric.counter("route_rate_limited_total", {
  description: "429 responses from Discord, per route",
  incremental: true
})
export const routeAlerts = Metric.gauge("route_alerts", {
  description: "Alerts per route by state (delivered, deferred, failed)"
})
export const routeRemaining = Metric.gauge("route_ratelimit_remaining", {
  description: "Requests left in the Discord rate-limit bucket of each route's webhook"
})

/** One route as /health, /metrics and the heartbeat show it. */
export interface RouteReport {
  readonly route: string
  readonly delivered: number
  /** Waiting: queued, deferred, or in flight. */
  readonly deferred: number
  /** Dead-lettered, expired or uncertain. */
  readonly failed: number
  /** 429s since start-up. */
  readonly rateLimited: number
  /** The webhook's Discord bucket as the limiter last saw it (null: no request yet, or stdout). */
  readonly headroom: { readonly remaining: number; readonly limit: number; readonly resetAfterMs: number } | null
}

export const describeRoute = (report: RouteReport): string =>
  `route ${report.route}: ${report.delivered} delivered, ${report.deferred} deferred, ${report.failed} failed, ${report.rateLimited} 429s` +
  (report.headroom === null
    ? ""
    : `, headroom ${report.headroom.remaining}/${report.headroom.limit} (reset in ${Math.round(report.headroom.resetAfterMs)} ms)`)

/** Each route's delivery counts (from the outbox), 429s and Discord headroom. */
export class RouteHealth extends Effect.Service<RouteHealth>()("Delivery/RouteHealth", {
  effect: Effect.gen(function* () {
    const routes = yield* Routes
    const outbox = yield* Outbox
    const board = yield* StatusBoard

    const report = Effect.fn("RouteHealth.report")(function* () {
      const counts = yield* outbox.countsByRoute()
      const webhooks = Option.match(yield* board.get(DiscordStatus), {
        onNone: () => [] as ReadonlyArray<Headroom>,
        onSome: (status) => status.webhooks
      })
      return yield* Effect.forEach(routes.routes, (route) =>
        Effect.gen(function* () {
          const rows = counts.get(route.name)
          // The limiter knows a route's webhook by the route's name, or "alerts" for the one default webhook.
          const label = routes.fromFile ? route.name : "alerts"
          const seen = webhooks.find((webhook) => webhook.label === label)
          const limited = yield* Metric.value(Metric.tagged(routeRateLimited, "route", route.name))
          const entry: RouteReport = {
            route: route.name,
            delivered: rows?.delivered ?? 0,
            deferred: (rows?.pending ?? 0) + (rows?.deferred ?? 0) + (rows?.sending ?? 0),
            failed: (rows?.dead ?? 0) + (rows?.expired ?? 0) + (rows?.uncertain ?? 0),
            rateLimited: limited.count,
            headroom:
              seen === undefined
                ? null
                : { remaining: seen.remaining, limit: seen.limit, resetAfterMs: seen.resetAfterMs }
          }
          return entry
        })
      )
    })

    /** Sets the per-route gauges, for a scrape of /metrics. */
    const sample = Effect.fn("RouteHealth.sample")(function* () {
      for (const entry of yield* report()) {
        const tagged = (state: string) =>
          Metric.tagged(Metric.tagged(routeAlerts, "route", entry.route), "state", state)
        yield* Metric.set(tagged("delivered"), entry.delivered)
        yield* Metric.set(tagged("deferred"), entry.deferred)
        yield* Metric.set(tagged("failed"), entry.failed)
        if (entry.headroom !== null)
          yield* Metric.set(Metric.tagged(routeRemaining, "route", entry.route), entry.headroom.remaining)
      }
    })

    return { report, sample } as const
  }),
  dependencies: [Routes.Default, Outbox.Default, StatusBoard.Default]
}) {}
