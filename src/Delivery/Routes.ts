import { ConfigError, Effect, Either, Option, Redacted, Schema } from "effect"
import { readFileSync } from "node:fs"
import { itemNumbers, loadFile, shipped } from "../Classification/Keywords.js"
import { catalystForms } from "../Feeds/SecEntry.js"
import { AppConfig, isHttpUrl } from "../Kernel/AppConfig.js"
import { decodeJsonFile } from "../Kernel/DecodeProblems.js"
import type { Alert } from "../Kernel/Domain.js"
import { type Session, sessionAt } from "../Kernel/MarketHours.js"

/**
 * ROUTES_FILE: which alerts go to which Discord webhook. Without it there is one route, `default`,
 * to DISCORD_WEBHOOK_URL (or stdout), and every alert takes it: the bot as it always was. The
 * outbox stores a route's name, never its webhook URL; the URL is resolved at send time.
 */

export const defaultRouteName = "default"

export const RouteKinds = ["wire", "sec", "insider"] as const
export type RouteKind = (typeof RouteKinds)[number]

const sessionNames = { pre: "pre-market", regular: "regular", after: "after-hours", closed: "closed" } as const
type SessionName = keyof typeof sessionNames

const Range = Schema.Struct({
  min: Schema.optional(Schema.Number),
  max: Schema.optional(Schema.Number)
})

const RouteRule = Schema.Struct({
  sources: Schema.optional(Schema.Array(Schema.String)),
  kinds: Schema.optional(Schema.Array(Schema.Literal(...RouteKinds))),
  forms: Schema.optional(Schema.Array(Schema.String)),
  items: Schema.optional(Schema.Array(Schema.String.pipe(Schema.pattern(/^\d{1,2}\.\d{2}$/)))),
  categories: Schema.optional(Schema.Array(Schema.String)),
  sentiment: Schema.optional(Schema.Literal("positive", "negative")),
  min_score: Schema.optional(Schema.Number),
  price: Schema.optional(Range),
  market_cap: Schema.optional(Range),
  sessions: Schema.optional(Schema.Array(Schema.Literal("pre", "regular", "after", "closed"))),
  tickers: Schema.optional(Schema.Array(Schema.String.pipe(Schema.pattern(/^[A-Za-z][A-Za-z0-9.-]{0,9}$/)))),
  /** WATCHLIST_FILE: alerts for watchlist tickers (with `tickers`: either). */
  watchlist: Schema.optional(Schema.Literal(true)),
  /** Alerts for watchlist tickers with one of these tags (with `tickers`: either). */
  watchlist_tags: Schema.optional(Schema.Array(Schema.String.pipe(Schema.minLength(1))))
})

const RouteEntry = Schema.Struct({
  name: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/)),
  // The URL holds the webhook's token: a bad one is reported without echoing it.
  webhook: Schema.String.pipe(
    Schema.filter((url) => isHttpUrl(url) || "Expected an http(s) webhook URL (the value is a secret, not shown)")
  ),
  thread_id: Schema.optional(Schema.String.pipe(Schema.pattern(/^\d+$/))),
  thread_name: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100))),
  /** Role ids to ping, or "@here". */
  mentions: Schema.optional(
    Schema.Array(Schema.Union(Schema.Literal("@here"), Schema.String.pipe(Schema.pattern(/^\d+$/))))
  ),
  match: Schema.optional(RouteRule),
  stop: Schema.optional(Schema.Boolean)
})

const RoutesFile = Schema.Struct({ routes: Schema.Array(RouteEntry) })
type RouteEntry = typeof RouteEntry.Type

const decodeRoutesFile = Schema.decodeUnknownEither(RoutesFile, { errors: "all", onExcessProperty: "error" })

/** A route as delivery uses it: the webhook stays redacted from the moment the file is read. */
export interface Route {
  readonly name: string
  /** None: the implicit default route to stdout (no DISCORD_WEBHOOK_URL). */
  readonly webhook: Option.Option<Redacted.Redacted<string>>
  readonly threadId: string | null
  readonly threadName: string | null
  readonly roles: ReadonlyArray<string>
  readonly here: boolean
  readonly stop: boolean
  readonly matches: (alert: Alert, context: MatchContext) => boolean
}

/** What matching needs beyond the alert: computed once per alert, shared by every route. */
export interface MatchContext {
  readonly session: Session
}

export const matchContextOf = (alert: Alert): MatchContext => {
  const decided = Date.parse(alert.decidedAt)
  return { session: sessionAt(Number.isNaN(decided) ? Date.now() : decided) }
}

export const kindOf = (alert: Alert): RouteKind => {
  const form = alert.item.sec?.formType
  if (form === undefined) return "wire"
  return /^[345](\/A)?$/i.test(form.trim()) ? "insider" : "sec"
}

/** Market cap, when the market-data stage knew the company's size. */
const marketCapOf = (alert: Alert): number | null => alert.size?.marketCapUsd ?? null

const sentimentOf = (alert: Alert): number =>
  alert.classification.llm._tag === "Analysed"
    ? alert.classification.llm.analysis.sentiment
    : alert.classification.sentiment

const inRange = (value: number | null, range: typeof Range.Type | undefined): boolean =>
  range === undefined ||
  (value !== null && (range.min === undefined || value >= range.min) && (range.max === undefined || value <= range.max))

/** Each present condition must hold; a list matches when any of its entries does. An empty rule matches all. */
export const compileRule = (rule: typeof RouteRule.Type | undefined): Route["matches"] => {
  if (rule === undefined) return () => true
  const sources = rule.sources === undefined ? null : new Set(rule.sources.map((source) => source.toLowerCase()))
  const kinds = rule.kinds === undefined ? null : new Set<string>(rule.kinds)
  const forms = rule.forms === undefined ? null : new Set(rule.forms.map((form) => form.toUpperCase()))
  const items = rule.items === undefined ? null : new Set(rule.items)
  const categories = rule.categories === undefined ? null : new Set(rule.categories)
  const sessions =
    rule.sessions === undefined ? null : new Set<Session>(rule.sessions.map((name: SessionName) => sessionNames[name]))
  const tickers = rule.tickers === undefined ? null : new Set(rule.tickers.map((ticker) => ticker.toUpperCase()))
  const watchTags = rule.watchlist_tags === undefined ? null : new Set(rule.watchlist_tags)
  const watchlist = rule.watchlist === true || watchTags !== null
  // "tickers or watchlists": one condition, met by a listed ticker or by the watchlist (and its tags).
  const onWatchlist = (alert: Alert) =>
    alert.watchlist !== undefined && (watchTags === null || alert.watchlist.tags.some((tag) => watchTags.has(tag)))
  return (alert, context) => {
    if (sources !== null && !sources.has(alert.item.source.toLowerCase())) return false
    if (kinds !== null && !kinds.has(kindOf(alert))) return false
    if (forms !== null && !forms.has((alert.item.sec?.formType ?? "").toUpperCase())) return false
    if (items !== null && !itemNumbers(alert.item.sec?.items ?? []).some((item) => items.has(item))) return false
    if (categories !== null && !alert.classification.categories.some((category) => categories.has(category)))
      return false
    if (rule.sentiment !== undefined) {
      const negative = alert.classification.negative || sentimentOf(alert) < 0
      if (rule.sentiment === "negative" ? !negative : negative || sentimentOf(alert) <= 0) return false
    }
    if (rule.min_score !== undefined && alert.classification.score < rule.min_score) return false
    if (rule.price !== undefined) {
      const price = alert.market._tag === "Priced" ? alert.market.quote.price : null
      if (!inRange(price, rule.price)) return false
    }
    if (rule.market_cap !== undefined && !inRange(marketCapOf(alert), rule.market_cap)) return false
    if (sessions !== null && !sessions.has(context.session)) return false
    if (tickers !== null || watchlist) {
      const listed = tickers !== null && tickers.has(alert.ticker.symbol.toUpperCase())
      if (!listed && !(watchlist && onWatchlist(alert))) return false
    }
    return true
  }
}

/**
 * The routes an alert goes to, in file order; a matching route with `stop` ends the search.
 * An alert no route takes goes nowhere (its item's outcome says so).
 */
export const routesFor = (routes: ReadonlyArray<Route>, alert: Alert): ReadonlyArray<string> => {
  const context = matchContextOf(alert)
  const names: Array<string> = []
  for (const route of routes) {
    if (!route.matches(alert, context)) continue
    names.push(route.name)
    if (route.stop) break
  }
  return names
}

/** Problems the schema can't see: names used twice, values outside what the bot knows. */
const semanticProblems = (
  entries: ReadonlyArray<RouteEntry>,
  knownCategories: ReadonlySet<string>
): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const seen = new Set<string>()
  const knownForm = (form: string) => {
    const upper = form.trim().toUpperCase()
    const base = upper.replace(/\/A$/, "")
    return catalystForms.some((known) => known === base) || /^[345]$/.test(base)
  }
  entries.forEach((entry, index) => {
    const where = `routes[${index}] ${JSON.stringify(entry.name)}`
    if (seen.has(entry.name)) problems.push(`${where}, field name: duplicate route name`)
    seen.add(entry.name)
    if (entry.thread_id !== undefined && entry.thread_name !== undefined)
      problems.push(`${where}, field thread_name: give thread_id or thread_name, not both`)
    entry.match?.categories?.forEach((category, at) => {
      if (!knownCategories.has(category))
        problems.push(`${where}, field match.categories[${at}]: unknown category ${JSON.stringify(category)}`)
    })
    entry.match?.forms?.forEach((form, at) => {
      if (!knownForm(form))
        problems.push(
          `${where}, field match.forms[${at}]: unknown form ${JSON.stringify(form)} (known: ${[...catalystForms, "3", "4", "5"].join(", ")}, and their /A amendments)`
        )
    })
    for (const [field, range] of [
      ["price", entry.match?.price],
      ["market_cap", entry.match?.market_cap]
    ] as const) {
      if (range?.min !== undefined && range.max !== undefined && range.min > range.max)
        problems.push(`${where}, field match.${field}: min is above max`)
    }
  })
  return problems
}

const toRoute = (entry: RouteEntry): Route => ({
  name: entry.name,
  webhook: Option.some(Redacted.make(entry.webhook)),
  threadId: entry.thread_id ?? null,
  threadName: entry.thread_name ?? null,
  roles: (entry.mentions ?? []).filter((mention) => mention !== "@here"),
  here: (entry.mentions ?? []).includes("@here"),
  stop: entry.stop ?? false,
  matches: compileRule(entry.match)
})

/**
 * Parses a routes file's text. Every problem comes back at once, each one line naming the file,
 * the route and the field.
 */
export const parseRoutes = (
  path: string,
  text: string,
  knownCategories: ReadonlySet<string>
): Either.Either<ReadonlyArray<Route>, ReadonlyArray<string>> => {
  const decoded = decodeJsonFile(path, text, decodeRoutesFile)
  if (Either.isLeft(decoded)) return Either.left(decoded.left)
  const problems = semanticProblems(decoded.right.routes, knownCategories)
  if (problems.length > 0) return Either.left(problems.map((line) => `${path}: ${line}`))
  return Either.right(decoded.right.routes.map(toRoute))
}

const invalid = (lines: ReadonlyArray<string>): ConfigError.ConfigError =>
  lines
    .map((line) => ConfigError.InvalidData(["ROUTES_FILE"], line))
    .reduce((left, right) => ConfigError.And(left, right))

/** The implicit route when there is no ROUTES_FILE: every alert, to DISCORD_WEBHOOK_URL or stdout. */
export const defaultRoute = (webhook: Option.Option<Redacted.Redacted<string>>): Route => ({
  name: defaultRouteName,
  webhook,
  threadId: null,
  threadName: null,
  roles: [],
  here: false,
  stop: false,
  matches: () => true
})

export interface RoutesInForce {
  /** False: no ROUTES_FILE, the one implicit `default` route. */
  readonly fromFile: boolean
  readonly routes: ReadonlyArray<Route>
  readonly routesFor: (alert: Alert) => ReadonlyArray<string>
}

/** The routes in force, read once at start-up; a bad file stops start-up with one line per problem. */
export class Routes extends Effect.Service<Routes>()("Delivery/Routes", {
  effect: Effect.gen(function* (): Effect.fn.Return<RoutesInForce, ConfigError.ConfigError, AppConfig> {
    const { discord, routing, classify } = yield* AppConfig
    const path = Option.getOrUndefined(routing.routesFile)
    if (path === undefined) {
      const routes = [defaultRoute(discord.webhookUrl)]
      const everyAlert: ReadonlyArray<string> = [defaultRouteName]
      return { fromFile: false, routes, routesFor: (_alert: Alert) => everyAlert }
    }
    const keywords = yield* Option.match(classify.keywordsFile, {
      onNone: () => shipped,
      onSome: (file) => loadFile(file).pipe(Effect.orElse(() => shipped))
    })
    const categories = new Set(keywords.categories.map((category) => category.name))
    const text = yield* Effect.try({
      try: () => readFileSync(path, "utf8"),
      catch: (error) => invalid([`can't read ${path}: ${(error as Error).message}`])
    })
    const routes = yield* Either.mapLeft(parseRoutes(path, text, categories), invalid)
    return { fromFile: true, routes, routesFor: (alert: Alert) => routesFor(routes, alert) }
  }),
  dependencies: [AppConfig.Default]
}) {}
