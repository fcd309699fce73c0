import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Cache, Clock, Data, Duration, Effect, Either, Exit, Fiber, Option, Schema } from "effect"
import { CikTickers } from "../Feeds/CikTickers.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { CompanySize, EnrichedItem } from "../Kernel/Domain.js"
import { SecClient } from "../Kernel/SecClient.js"
import { SqlLive } from "../Kernel/Sql.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

class ConceptUnreadable extends Data.TaggedError("ConceptUnreadable")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** One XBRL fact as data.sec.gov's companyconcept API lists it (https://www.sec.gov/edgar/sec-api-documentation). */
const Fact = Schema.Struct({ val: Schema.Number, end: Schema.String, filed: Schema.String })
const Concept = Schema.Struct({ units: Schema.Record({ key: Schema.String, value: Schema.Array(Schema.Unknown) }) })

export interface ConceptFact {
  readonly value: number
  /** The period end the value was reported for. */
  readonly asOf: string
}

/**
 * The fact with the latest `end` (then the latest `filed`) in `unit`, or why there is none:
 * a body that isn't a company concept, or no facts in the unit the code knows.
 */
export const latestFact = (json: unknown, unit: string): Either.Either<ConceptFact, string> => {
  const concept = Schema.decodeUnknownOption(Concept)(json)
  if (Option.isNone(concept)) return Either.left("not a companyconcept answer")
  const facts = concept.value.units[unit]
  if (facts === undefined) {
    const units = Object.keys(concept.value.units).join(", ") || "none"
    return Either.left(`no facts in ${unit} (units: ${units})`)
  }
  let best: typeof Fact.Type | undefined
  for (const candidate of facts) {
    const fact = Schema.decodeUnknownOption(Fact)(candidate)
    if (Option.isNone(fact) || !Number.isFinite(fact.value.val)) continue
    const { end, filed } = fact.value
    if (best === undefined || end > best.end || (end === best.end && filed > best.filed)) best = fact.value
  }
  return best === undefined
    ? Either.left(`no usable fact in ${unit}`)
    : Either.right({ value: best.val, asOf: best.end })
}

/** What SEC knows about a company's size, before a price makes a market cap of it. */
interface SizeFacts {
  readonly shares: ConceptFact | null
  readonly publicFloat: ConceptFact | null
}

const cacheFor = Duration.days(1)
/** A slow lookup doesn't hold the alert past this when size filters need it: it goes out without, and the lookup finishes. */
export const sizeWaitForFilters = Duration.millis(1_500)

const concepts = {
  shares: { tag: "EntityCommonStockSharesOutstanding", unit: "shares" },
  publicFloat: { tag: "EntityPublicFloat", unit: "USD" }
} as const

const primarySymbol = (entry: EnrichedItem) => entry.item.tickers[0]?.symbol.trim().toUpperCase()

/**
 * Shares outstanding and public float per company from SEC's XBRL company-concept API, through the
 * shared SEC budget (background lane) and cached in SQLite for a day. SEC items name their CIK;
 * wire items reach it through the ticker map.
 */
export class CompanySizes extends Effect.Service<CompanySizes>()("MarketData/CompanySizes", {
  scoped: Effect.gen(function* () {
    const { sec: settings } = yield* AppConfig
    const sec = yield* SecClient
    const sql = yield* SqlClient.SqlClient
    const cikTickers = yield* CikTickers
    const scope = yield* Effect.scope

    const fetchConcept = (cik: string, which: keyof typeof concepts) =>
      Effect.gen(function* () {
        const { tag, unit } = concepts[which]
        const http = yield* sec.client
        const response = yield* http
          .execute(
            HttpClientRequest.get(`${settings.xbrlUrl}/api/xbrl/companyconcept/CIK${cik}/dei/${tag}.json`).pipe(
              HttpClientRequest.acceptJson
            )
          )
          .pipe(Effect.timeout(Duration.seconds(10)))
        // No such fact for this company: an answer, kept like one.
        if (response.status === 404) {
          return yield* Effect.as(
            Effect.logDebug(`XBRL dei:${tag} for CIK ${cik}: no facts (HTTP 404); left empty`),
            Option.none<ConceptFact>()
          )
        }
        if (response.status !== 200) return yield* new ConceptUnreadable({ reason: `HTTP ${response.status}` })
        const body = yield* response.json.pipe(Effect.mapError(() => new ConceptUnreadable({ reason: "not JSON" })))
        return yield* Either.match(latestFact(body, unit), {
          onRight: (fact) => Effect.succeed(Option.some(fact)),
          onLeft: (reason) =>
            Effect.as(Effect.logDebug(`XBRL dei:${tag} for CIK ${cik}: ${reason}; left empty`), Option.none())
        })
      }).pipe(
        Effect.scoped,
        // Unanswered (network, timeout, 5xx): left empty this time and not stored, so the next alert asks again.
        Effect.map((fact) => ({ fact, answered: true })),
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logDebug(
              `XBRL dei:${concepts[which].tag} for CIK ${cik} unavailable (${error._tag === "SecUserAgentMissing" ? "SEC_USER_AGENT is not set" : error.message}); left empty`
            ),
            { fact: Option.none<ConceptFact>(), answered: false }
          )
        )
      )

    const stored = (cik: string, now: number) =>
      sql<{
        shares_outstanding: number | null
        shares_as_of: string | null
        public_float_usd: number | null
        public_float_as_of: string | null
      }>`SELECT shares_outstanding, shares_as_of, public_float_usd, public_float_as_of FROM company_size
        WHERE cik = ${cik} AND fetched_at > ${now - Duration.toMillis(cacheFor)}`.pipe(
        Effect.map((rows) =>
          Option.map(Option.fromNullable(rows[0]), (row): SizeFacts => ({
            shares:
              row.shares_outstanding === null || row.shares_as_of === null
                ? null
                : { value: Number(row.shares_outstanding), asOf: row.shares_as_of },
            publicFloat:
              row.public_float_usd === null || row.public_float_as_of === null
                ? null
                : { value: Number(row.public_float_usd), asOf: row.public_float_as_of }
          }))
        ),
        Effect.orDie
      )

    /** Writes the row and drops rows past the day, so the table holds at most a day's companies. */
    const store = (cik: string, facts: SizeFacts, now: number) =>
      sql
        .withTransaction(
          Effect.zipRight(
            sql`DELETE FROM company_size WHERE fetched_at <= ${now - Duration.toMillis(cacheFor)}`,
            sql`INSERT INTO company_size ${sql.insert({
              cik,
              shares_outstanding: facts.shares?.value ?? null,
              shares_as_of: facts.shares?.asOf ?? null,
              public_float_usd: facts.publicFloat?.value ?? null,
              public_float_as_of: facts.publicFloat?.asOf ?? null,
              fetched_at: now
            })} ON CONFLICT (cik) DO UPDATE SET shares_outstanding = excluded.shares_outstanding,
              shares_as_of = excluded.shares_as_of, public_float_usd = excluded.public_float_usd,
              public_float_as_of = excluded.public_float_as_of, fetched_at = excluded.fetched_at`
          )
        )
        .pipe(Effect.orDie)

    const lookup = (cik: string) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const cached = yield* stored(cik, now)
        if (Option.isSome(cached)) return cached.value
        const [shares, publicFloat] = yield* Effect.all([fetchConcept(cik, "shares"), fetchConcept(cik, "publicFloat")])
        const facts: SizeFacts = {
          shares: Option.getOrNull(shares.fact),
          publicFloat: Option.getOrNull(publicFloat.fact)
        }
        if (shares.answered && publicFloat.answered) yield* store(cik, facts, yield* Clock.currentTimeMillis)
        return facts
      })

    // Single flight per company: two alerts on one issuer in one poll make one pair of requests.
    const memory = yield* Cache.makeWith({
      capacity: 2_000,
      lookup,
      timeToLive: (exit) => (Exit.isSuccess(exit) ? Duration.minutes(10) : Duration.zero)
    })

    /** Builds the ticker → CIK index once per ticker map. */
    let reverse: { readonly source: object; readonly index: Map<string, string> } | undefined
    const cikForTicker = Effect.map(cikTickers.ensureFresh(), (map) => {
      if (reverse?.source !== map) {
        const index = new Map<string, string>()
        for (const [cik, tickers] of map) {
          for (const ticker of tickers) if (!index.has(ticker.symbol)) index.set(ticker.symbol, cik)
        }
        reverse = { source: map, index }
      }
      const { index } = reverse
      return (symbol: string) => index.get(symbol)
    })

    const cikOf = (entry: EnrichedItem, bySymbol: (symbol: string) => string | undefined) => {
      if (entry.item.sec !== undefined) return entry.item.sec.cik.padStart(10, "0")
      const symbol = primarySymbol(entry)
      return symbol === undefined ? undefined : bySymbol(symbol)
    }

    /**
     * The size of each item's company, by item id, for those known within `wait` (`known`). Lookups
     * still running then carry on in the background and serve the next alert on that company; `late`
     * awaits them, by item id, for an edit (null: nothing known after all).
     */
    const sizes = Effect.fn("CompanySizes.sizes")(function* (
      items: ReadonlyArray<EnrichedItem>,
      wait: Duration.Duration = sizeWaitForFilters
    ) {
      const result = new Map<string, CompanySize>()
      const late = new Map<string, Effect.Effect<CompanySize | null>>()
      if (items.length === 0 || Option.isNone(sec.userAgent)) return { known: result, late }
      const bySymbol = yield* cikForTicker
      const ciks = new Map<string, string>()
      for (const entry of items) {
        const cik = cikOf(entry, bySymbol)
        if (cik !== undefined) ciks.set(entry.item.id, cik)
      }
      const fibers = new Map<string, Fiber.RuntimeFiber<SizeFacts>>()
      for (const cik of new Set(ciks.values())) fibers.set(cik, yield* Effect.forkIn(memory.get(cik), scope))
      const facts = new Map<string, SizeFacts>()
      yield* Effect.forEach(
        fibers,
        ([cik, fiber]) =>
          Fiber.join(fiber).pipe(
            Effect.timeout(wait),
            Effect.tap((found) => Effect.sync(() => facts.set(cik, found))),
            Effect.catchAll(() =>
              Effect.logDebug(`company size for CIK ${cik} not known in time; alert goes without it`)
            )
          ),
        { concurrency: "unbounded", discard: true }
      )
      const isEmpty = (found: SizeFacts) => found.shares === null && found.publicFloat === null
      for (const entry of items) {
        const cik = ciks.get(entry.item.id)
        const fiber = cik === undefined ? undefined : fibers.get(cik)
        if (cik === undefined || fiber === undefined) continue
        const known = facts.get(cik)
        if (known === undefined) {
          late.set(
            entry.item.id,
            Effect.map(Fiber.join(fiber), (found) => (isEmpty(found) ? null : sizeOf(found, entry)))
          )
        } else if (!isEmpty(known)) result.set(entry.item.id, sizeOf(known, entry))
      }
      return { known: result, late }
    })

    return { sizes } as const
  }).pipe(Effect.annotateLogs("module", "CompanySizes")),
  dependencies: [AppConfig.Default, SecClient.Default, CikTickers.Default, SqlLive]
}) {
  static readonly Test = makeTestLayer(CompanySizes)
}

const sizeOf = ({ shares, publicFloat }: SizeFacts, { market }: EnrichedItem): CompanySize => {
  const quote = market._tag === "Priced" ? market.quote : null
  const outstanding = shares !== null && shares.value > 0 ? shares.value : null
  return {
    sharesOutstanding: shares?.value ?? null,
    sharesAsOf: shares?.asOf ?? null,
    publicFloatUsd: publicFloat?.value ?? null,
    publicFloatAsOf: publicFloat?.asOf ?? null,
    marketCapUsd: quote === null || outstanding === null ? null : quote.price * outstanding,
    volumePctOfShares:
      quote === null || quote.volume === null || outstanding === null ? null : (quote.volume / outstanding) * 100
  }
}
