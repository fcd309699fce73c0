import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import { HttpClient } from "@effect/platform/HttpClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Deferred, Duration, Effect, Option, Redacted, Ref, Schedule, Stream } from "effect"
import { Outbox } from "../Delivery/Outbox.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { ItemArchive } from "../Outcomes/ItemArchive.js"
import { OutcomeStore } from "../Outcomes/OutcomeStore.js"
import { Report } from "../Outcomes/Report.js"
import { dashboardScript, dashboardStyle } from "./Dashboard/Assets.js"
import { isAuthorized, sessionCookieName, sessionValue, tokenMatches } from "./Dashboard/Auth.js"
import type { Html } from "./Dashboard/Html.js"
import * as Pages from "./Dashboard/Pages.js"
import { doctorReport } from "./Doctor.js"
import { HealthCheck } from "./HealthCheck.js"

/** Live views re-render at most this often, however many browsers watch them. */
const liveTick = Duration.millis(250)
/** Open live streams; one more gets 503 (each costs a connection, not a render: renders are shared). */
export const maxLiveClients = 32
const latencyChartHours = 6
const alertsListed = 50
const itemsListed = 200
const outcomesDays = 30

/** No inline script or style, nothing from elsewhere: a headline that slipped through escaping still couldn't run. */
export const contentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

const secured = (response: HttpServerResponse.HttpServerResponse) =>
  HttpServerResponse.setHeaders(response, {
    "content-security-policy": contentSecurityPolicy,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store"
  })

const htmlResponse = (markup: Html, status = 200) =>
  secured(HttpServerResponse.text(markup.markup, { status, contentType: "text/html; charset=utf-8" }))

const firstParam = (params: Readonly<Record<string, string | ReadonlyArray<string>>>, name: string): string => {
  const value = params[name]
  return (typeof value === "string" ? value : (value?.[0] ?? "")).trim()
}

/**
 * What the dashboard shows, gathered from the services that own it, read-only. The live views are
 * rendered once per tick and shared by every open stream, so more browsers cost connections, not work.
 */
export class Dashboard extends Effect.Service<Dashboard>()("App/Dashboard", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const health = yield* HealthCheck
    const outbox = yield* Outbox
    const archive = yield* ItemArchive
    const outcomeStore = yield* OutcomeStore
    const report = yield* Report
    const doctorContext = yield* Effect.context<AppConfig | SqlClient.SqlClient | HttpClient>()
    const liveClients = yield* Ref.make(0)
    const closing = yield* Deferred.make<void>()

    /** The chart's points change slowly; decoding hours of payloads on every tick would not. */
    const latencyPoints = yield* Effect.cachedWithTTL(
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const delivered = yield* outbox.deliveredSince(now - latencyChartHours * 3_600_000, 5_000)
        return delivered.flatMap(({ alert, deliveredAt }) => {
          const published = alert.item.published === null ? Number.NaN : Date.parse(alert.item.published)
          return Number.isNaN(published)
            ? []
            : [{ at: deliveredAt, seconds: Math.max(0, (deliveredAt - published) / 1000) }]
        })
      }),
      Duration.seconds(5)
    )

    const overviewLive = Effect.fn("Dashboard.overviewLive")(function* () {
      const now = yield* Clock.currentTimeMillis
      return Pages.overviewLive({
        now,
        health: yield* health.report(),
        latency: yield* latencyPoints,
        chartHours: latencyChartHours
      })
    })

    const alertsLive = Effect.fn("Dashboard.alertsLive")(function* () {
      const delivered = yield* outbox.latestDelivered(alertsListed)
      const outcomes = yield* outcomeStore.forItems(delivered.map((row) => row.alert.item.id))
      return Pages.alertsLive(delivered.map((row) => ({ ...row, outcome: outcomes.get(row.alert.item.id) ?? null })))
    })

    const overviewShared = yield* Effect.cachedWithTTL(overviewLive(), liveTick)
    const alertsShared = yield* Effect.cachedWithTTL(alertsLive(), liveTick)
    const liveView = (view: "overview" | "alerts") => (view === "overview" ? overviewShared : alertsShared)

    const overview = Effect.fn("Dashboard.overview")(function* () {
      return Pages.page("overview", "Overview", Pages.live(yield* overviewShared))
    })

    const alerts = Effect.fn("Dashboard.alerts")(function* () {
      return Pages.page("alerts", "Alerts", Pages.live(yield* alertsShared))
    })

    const items = Effect.fn("Dashboard.items")(function* (query: Pages.ItemsQuery) {
      const now = yield* Clock.currentTimeMillis
      const found = yield* archive.search({
        ...(query.q === "" ? {} : { text: query.q }),
        ...(query.ticker === "" ? {} : { ticker: query.ticker }),
        ...(query.source === "" ? {} : { source: query.source }),
        since: now - query.hours * 3_600_000,
        limit: itemsListed
      })
      const sources = (yield* health.report()).sources.map((source) => source.name)
      const routes = yield* outbox.routesOf(found.flatMap((item) => (item.outcome === "alerted" ? [item.itemId] : [])))
      return Pages.page("items", "Items", Pages.itemsBody(query, sources, found, routes))
    })

    const outcomes = Effect.fn("Dashboard.outcomes")(function* (days: number) {
      return Pages.page("outcomes", "Outcomes", Pages.outcomesBody(yield* report.build(days * 86_400_000), days))
    })

    const outcomesChart = Effect.fn("Dashboard.outcomesChart")(function* (days: number) {
      const built = yield* report.build(days * 86_400_000)
      // ECharts is loaded on the first chart asked for, as `report` does: a bot nobody browses never loads it.
      const { renderHitRateChart } = yield* Effect.promise(() => import("../Outcomes/HitRateChart.js"))
      return renderHitRateChart(built.byCategory, `Hit rate by category, last ${days} days`)
    })

    /** The doctor probes every endpoint: once per few minutes is plenty for a page, and polite to them. */
    const doctor = yield* Effect.cachedWithTTL(
      doctorReport({ all: true }).pipe(Effect.provide(doctorContext), Effect.orDie),
      Duration.minutes(5)
    )
    const settings = Effect.fn("Dashboard.settings")(function* () {
      return Pages.page("settings", "Settings", Pages.settingsBody(yield* doctor))
    })

    /**
     * The view's live section as Server-Sent Events: now, then whenever it changes (checked every
     * tick). Ends when the server shuts down; None when `maxLiveClients` are already watching.
     */
    const liveEvents = Effect.fn("Dashboard.liveEvents")(function* (view: "overview" | "alerts") {
      const admitted = yield* Ref.modify(liveClients, (n) => (n >= maxLiveClients ? [false, n] : [true, n + 1]))
      if (!admitted) return Option.none()
      return Option.some(
        Stream.repeatEffectWithSchedule(liveView(view), Schedule.spaced(liveTick)).pipe(
          Stream.map((fragment) => fragment.markup),
          Stream.changes,
          Stream.map((markup) => `data: ${JSON.stringify(markup)}\n\n`),
          Stream.interruptWhen(Deferred.await(closing)),
          Stream.ensuring(Ref.update(liveClients, (n) => n - 1)),
          Stream.encodeText
        )
      )
    })

    /** Ends every live stream, so the server's close isn't held up by browsers that never hang up. */
    const closeStreams = Deferred.succeed(closing, undefined)

    const token = Option.map(config.observability.dashboardToken, Redacted.value)

    return { overview, alerts, items, outcomes, outcomesChart, settings, liveEvents, closeStreams, token } as const
  }),
  dependencies: [
    AppConfig.Default,
    HealthCheck.Default,
    Outbox.Default,
    ItemArchive.Default,
    OutcomeStore.Default,
    Report.Default
  ]
}) {}

const unauthorized = (request: HttpServerRequest.HttpServerRequest) =>
  (request.headers["accept"] ?? "").includes("text/html")
    ? htmlResponse(Pages.page("overview", "Sign in", Pages.loginBody(false)), 401)
    : secured(
        HttpServerResponse.text("401: the dashboard needs DASHBOARD_TOKEN (Authorization: Bearer <token>)\n", {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="catalyst-bot"' }
        })
      )

/** The handler, behind DASHBOARD_TOKEN when one is set (it must be on a non-loopback HEALTH_HOST). */
const guarded = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.gen(function* () {
    const { token } = yield* Dashboard
    const request = yield* HttpServerRequest.HttpServerRequest
    if (Option.isSome(token)) {
      const allowed = isAuthorized(
        { authorization: request.headers["authorization"], cookie: request.cookies[sessionCookieName] },
        token.value
      )
      if (!allowed) return unauthorized(request)
    }
    return yield* handler
  })

const page = (render: (dashboard: Dashboard) => Effect.Effect<Html>) =>
  guarded(Effect.flatMap(Dashboard, (dashboard) => Effect.map(render(dashboard), (markup) => htmlResponse(markup))))

const itemsQuery = Effect.map(HttpServerRequest.ParsedSearchParams, (params): Pages.ItemsQuery => {
  const hours = Number(firstParam(params, "hours"))
  return {
    q: firstParam(params, "q"),
    ticker: firstParam(params, "ticker"),
    source: firstParam(params, "source"),
    hours: Number.isFinite(hours) && hours >= 1 ? Math.min(hours, 24 * 366) : 24
  }
})

const login = Effect.gen(function* () {
  const { token } = yield* Dashboard
  const request = yield* HttpServerRequest.HttpServerRequest
  if (Option.isNone(token)) return HttpServerResponse.redirect("/", { status: 303 })
  const body = yield* request.urlParamsBody.pipe(Effect.orElseSucceed(() => UrlParams.empty))
  const given = Option.getOrElse(UrlParams.getFirst(body, "token"), () => "")
  if (!tokenMatches(given, token.value)) {
    return htmlResponse(Pages.page("overview", "Sign in", Pages.loginBody(true)), 401)
  }
  return yield* secured(HttpServerResponse.redirect("/", { status: 303 })).pipe(
    HttpServerResponse.setCookie(sessionCookieName, sessionValue(token.value), {
      httpOnly: true,
      sameSite: "strict",
      path: "/"
    }),
    Effect.orDie
  )
})

const events = guarded(
  Effect.gen(function* () {
    const params = yield* HttpServerRequest.ParsedSearchParams
    const view = firstParam(params, "view") === "alerts" ? "alerts" : "overview"
    const stream = yield* (yield* Dashboard).liveEvents(view)
    if (Option.isNone(stream)) {
      return HttpServerResponse.text(`503: ${maxLiveClients} live views are open already\n`, { status: 503 })
    }
    return secured(
      HttpServerResponse.stream(stream.value, {
        contentType: "text/event-stream",
        headers: { "x-accel-buffering": "no" }
      })
    )
  })
)

/** `/` and its pages, served by the health server next to /health and /metrics. */
export const dashboardRouter = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/",
    page((dashboard) => dashboard.overview())
  ),
  HttpRouter.get(
    "/alerts",
    page((dashboard) => dashboard.alerts())
  ),
  HttpRouter.get(
    "/items",
    guarded(
      Effect.gen(function* () {
        const query = yield* itemsQuery
        return htmlResponse(yield* (yield* Dashboard).items(query))
      })
    )
  ),
  HttpRouter.get(
    "/outcomes",
    page((dashboard) => dashboard.outcomes(outcomesDays))
  ),
  HttpRouter.get(
    "/outcomes/chart.png",
    guarded(
      Effect.map(
        Effect.flatMap(Dashboard, (dashboard) => dashboard.outcomesChart(outcomesDays)),
        (png) => secured(HttpServerResponse.uint8Array(png, { contentType: "image/png" }))
      )
    )
  ),
  HttpRouter.get(
    "/settings",
    page((dashboard) => dashboard.settings())
  ),
  HttpRouter.get("/events", events),
  HttpRouter.get("/login", Effect.succeed(htmlResponse(Pages.page("overview", "Sign in", Pages.loginBody(false))))),
  HttpRouter.post("/login", login),
  HttpRouter.get(
    "/dashboard.js",
    Effect.succeed(secured(HttpServerResponse.text(dashboardScript, { contentType: "text/javascript; charset=utf-8" })))
  ),
  HttpRouter.get(
    "/dashboard.css",
    Effect.succeed(secured(HttpServerResponse.text(dashboardStyle, { contentType: "text/css; charset=utf-8" })))
  )
)
