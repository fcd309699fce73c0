import { Effect, Option } from "effect"
import { Classifier } from "../Classification/Classifier.js"
import { Routes } from "../Delivery/Routes.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { Alert, MarketSnapshot } from "../Kernel/Domain.js"
import { rejectBeforeMarket, rejectOnMarket, watchlistFilters } from "../MarketData/Filters.js"
import { Watchlist } from "../MarketData/Watchlist.js"
import { ItemArchive } from "./ItemArchive.js"

export interface RouteExample {
  readonly at: string
  readonly ticker: string
  readonly source: string
  readonly title: string
}

export interface RouteTally {
  readonly route: string
  readonly alerts: number
  /** The first three, oldest first. */
  readonly examples: ReadonlyArray<RouteExample>
}

export interface RouteReplayResult {
  readonly scanned: number
  /** Items that pass classification and the filters today. */
  readonly wouldAlert: number
  /** Of those, how many no route takes. */
  readonly unrouted: number
  /** Every route of the file, in file order, with what it would have received. */
  readonly routes: ReadonlyArray<RouteTally>
}

const pageSize = 5_000
const examplesPerRoute = 3
const notPriced: MarketSnapshot = { _tag: "PriceUnavailable", reason: "not priced when archived" }

/**
 * `catalyst-bot routes test`: the item archive through today's classifier, filters and ROUTES_FILE,
 * sending nothing; per route, how many alerts it would have received, with examples.
 */
export class RouteReplay extends Effect.Service<RouteReplay>()("Outcomes/RouteReplay", {
  effect: Effect.gen(function* () {
    const { filters } = yield* AppConfig
    const classifier = yield* Classifier
    const archive = yield* ItemArchive
    const routes = yield* Routes
    // Optional so a replay can be built without one; `routes test` (App/Layers.ts) provides it.
    const watchlist = yield* Effect.serviceOption(Watchlist)

    const run = Effect.fn("RouteReplay.run")(function* (since: number) {
      const tallies = new Map(
        routes.routes.map((route) => [route.name, { alerts: 0, examples: [] as Array<RouteExample> }])
      )
      let scanned = 0
      let wouldAlert = 0
      let unrouted = 0
      let afterId = 0
      const watched = Option.isSome(watchlist) ? yield* watchlist.value.current() : null
      for (;;) {
        const page = yield* archive.page({ afterId, since, limit: pageSize })
        if (page.length === 0) break
        afterId = page[page.length - 1]!.id
        scanned += page.length
        const archived = new Map(page.map((entry) => [entry.item.id, entry]))
        const alertable = page.filter((entry) => entry.item.tickers.length > 0).map((entry) => entry.item)
        for (const classified of yield* classifier.classify(alertable)) {
          const entry = archived.get(classified.item.id)!
          const market = entry.market ?? notPriced
          const ticker = classified.item.tickers[0]
          if (ticker === undefined) continue
          const mark = watched?.markOf(classified.item)
          const settings = mark !== undefined && watched?.bypassFilters === true ? watchlistFilters(filters) : filters
          if (rejectBeforeMarket(settings, classified) ?? rejectOnMarket(settings, { ...classified, market })) continue
          const decidedAt = new Date(entry.archivedAt).toISOString()
          const alert: Alert = {
            ...classified,
            ticker,
            market,
            decidedAt,
            ...(mark !== undefined && { watchlist: mark })
          }
          wouldAlert += 1
          const names = routes.routesFor(alert)
          if (names.length === 0) unrouted += 1
          for (const name of names) {
            const tally = tallies.get(name)!
            tally.alerts += 1
            if (tally.examples.length < examplesPerRoute)
              tally.examples.push({
                at: decidedAt,
                ticker: ticker.symbol,
                source: alert.item.source,
                title: alert.item.title
              })
          }
        }
      }
      return {
        scanned,
        wouldAlert,
        unrouted,
        routes: [...tallies].map(([route, tally]): RouteTally => ({ route, ...tally }))
      } satisfies RouteReplayResult
    })

    return { run } as const
  }),
  dependencies: [AppConfig.Default, Classifier.Default, ItemArchive.Default, Routes.Default]
}) {}

export const renderRouteReplay = (result: RouteReplayResult, days: number): string =>
  [
    `${result.scanned} archived item(s) of the last ${days} day(s); ${result.wouldAlert} would alert with today's settings` +
      (result.unrouted > 0 ? `, ${result.unrouted} of them on no route` : ""),
    ...result.routes.flatMap((tally) => [
      "",
      `route ${tally.route}: ${tally.alerts} alert(s)`,
      ...tally.examples.map((example) => `  ${example.at} ${example.ticker} (${example.source}): ${example.title}`)
    ])
  ].join("\n")
