import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Duration, Effect, Option, Ref, Schema } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { Ticker } from "../Kernel/Domain.js"
import { SecClient } from "../Kernel/SecClient.js"
import { SqlLive } from "../Kernel/Sql.js"
import { normalizeExchange, normalizeSymbol } from "./Tickers.js"

/** `{"0":{"cik_str":789019,"ticker":"MSFT","title":"MICROSOFT CORP"},...}` (https://www.sec.gov/os/accessing-edgar-data). */
const CompanyTickers = Schema.Record({
  key: Schema.String,
  value: Schema.Struct({ cik_str: Schema.Number, ticker: Schema.String, title: Schema.String })
})

/**
 * `{"fields":["cik","name","ticker","exchange"],"data":[[320193,"Apple Inc.","AAPL","Nasdaq"],...]}`
 * (https://www.sec.gov/files/company_tickers_exchange.json): the same map with each listing's
 * exchange (`Nasdaq`, `NYSE`, `OTC`, `CBOE`; sometimes none).
 */
const CompanyTickersExchange = Schema.Struct({
  fields: Schema.Array(Schema.String),
  data: Schema.Array(Schema.Array(Schema.Union(Schema.String, Schema.Number, Schema.Null)))
})

/** Either file: SEC_TICKERS_URL may still name the older company_tickers.json, which has no exchanges. */
const TickerFile = Schema.Union(CompanyTickersExchange, CompanyTickers)

export interface TickerRow {
  readonly cik: number
  readonly ticker: string
  readonly title: string
  readonly exchange: string | null
}

const exchangeRows = (file: typeof CompanyTickersExchange.Type): ReadonlyArray<TickerRow> => {
  const column = (name: string) => file.fields.indexOf(name)
  const [cik, name, ticker, exchange] = [column("cik"), column("name"), column("ticker"), column("exchange")]
  return file.data.flatMap((row) => {
    const [rowCik, rowTicker, rowName, rowExchange] = [row[cik], row[ticker], row[name], row[exchange]]
    if (typeof rowCik !== "number" || typeof rowTicker !== "string") return []
    const listed = typeof rowExchange === "string" && rowExchange.trim() !== "" ? rowExchange.trim() : null
    return [
      {
        cik: rowCik,
        ticker: rowTicker,
        title: typeof rowName === "string" ? rowName : "",
        exchange: listed === null ? null : (normalizeExchange(listed) ?? listed)
      }
    ]
  })
}

const isExchangeFile = Schema.is(CompanyTickersExchange)

const rowsOf = (file: typeof TickerFile.Type): ReadonlyArray<TickerRow> =>
  isExchangeFile(file)
    ? exchangeRows(file)
    : Object.values(file).map((entry) => ({
        cik: entry.cik_str,
        ticker: entry.ticker,
        title: entry.title,
        exchange: null
      }))

/** The rows of either ticker file, in SEC's order, or None when the body is neither. */
export const tickerRows = (json: unknown): Option.Option<ReadonlyArray<TickerRow>> =>
  Option.map(Schema.decodeUnknownOption(TickerFile)(json), rowsOf)

/** SEC regenerates the file daily; fetching it more often only spends fair-access budget. */
const refreshEvery = Duration.hours(24)
/** After a failed refresh, the cached map keeps serving; try again after this long, not every cycle. */
const retryAfterFailure = Duration.minutes(30)

type TickerMap = ReadonlyMap<string, ReadonlyArray<Ticker>>

/** Warrants, units and rights (ABCDW, ABCD-WT, ABCD-UN) after the common and class shares. */
const isDerivative = (symbol: string) => /-(WT|WS|U|UN|R|RT)$/.test(symbol)

const buildMap = (rows: ReadonlyArray<{ cik: number; ticker: string; exchange: string | null }>): TickerMap => {
  const map = new Map<string, Array<Ticker>>()
  for (const row of rows) {
    const cik = String(row.cik).padStart(10, "0")
    const list = map.get(cik) ?? []
    list.push({ symbol: row.ticker, exchange: row.exchange })
    map.set(cik, list)
  }
  for (const list of map.values()) list.sort((a, b) => Number(isDerivative(a.symbol)) - Number(isDerivative(b.symbol)))
  return map
}

/**
 * SEC CIK → tickers with their exchanges, from company_tickers_exchange.json fetched through the shared SecClient at most daily
 * and cached in SQLite, so a restart doesn't refetch and an SEC outage doesn't lose the map.
 */
export class CikTickers extends Effect.Service<CikTickers>()("Feeds/CikTickers", {
  effect: Effect.gen(function* () {
    const { feeds } = yield* AppConfig
    const sec = yield* SecClient
    const sql = yield* SqlClient.SqlClient
    const loaded = yield* Ref.make<Option.Option<TickerMap>>(Option.none())
    const nextAttempt = yield* Ref.make(0)

    const loadCached = sql<{ cik: number; ticker: string; exchange: string | null }>`
      SELECT cik, ticker, exchange FROM sec_company_tickers ORDER BY cik, position`.pipe(
      Effect.map(buildMap),
      Effect.orDie
    )

    const fetchedAt = sql<{ fetched_at: number }>`SELECT fetched_at FROM sec_company_tickers_meta WHERE id = 1`.pipe(
      Effect.map((rows) => rows[0]?.fetched_at ?? 0),
      Effect.orDie
    )

    const download = Effect.gen(function* () {
      const client = yield* sec.client
      const entries = yield* client
        .execute(HttpClientRequest.get(feeds.secTickersUrl).pipe(HttpClientRequest.acceptJson))
        .pipe(
          Effect.flatMap(HttpClientResponse.filterStatusOk),
          Effect.flatMap(HttpClientResponse.schemaBodyJson(TickerFile)),
          Effect.scoped,
          Effect.timeout(Duration.seconds(Math.max(30, feeds.timeoutSeconds)))
        )
      const rows = rowsOf(entries).flatMap((entry, position) => {
        const ticker = normalizeSymbol(entry.ticker)
        return ticker === null
          ? []
          : [{ cik: entry.cik, ticker, title: entry.title, exchange: entry.exchange, position }]
      })
      const now = yield* Clock.currentTimeMillis
      yield* sql
        .withTransaction(
          Effect.gen(function* () {
            yield* sql`DELETE FROM sec_company_tickers`
            for (let start = 0; start < rows.length; start += 500) {
              yield* sql`INSERT INTO sec_company_tickers ${sql.insert(rows.slice(start, start + 500))} ON CONFLICT DO NOTHING`
            }
            yield* sql`INSERT INTO sec_company_tickers_meta (id, fetched_at, entries) VALUES (1, ${now}, ${rows.length})
              ON CONFLICT (id) DO UPDATE SET fetched_at = excluded.fetched_at, entries = excluded.entries`
          })
        )
        .pipe(Effect.orDie)
      yield* Effect.logInfo(`SEC ticker map refreshed: ${rows.length} tickers`)
    })

    /** Refreshes when the cached copy is over a day old; a failure keeps the cached map. */
    const ensureFresh = Effect.fn("CikTickers.ensureFresh")(function* () {
      const now = yield* Clock.currentTimeMillis
      const stale = now - (yield* fetchedAt) >= Duration.toMillis(refreshEvery)
      if (stale && now >= (yield* Ref.get(nextAttempt))) {
        yield* download.pipe(
          Effect.tap(() => Ref.set(loaded, Option.none())),
          Effect.catchAll((error) =>
            Effect.zipRight(
              Ref.set(nextAttempt, now + Duration.toMillis(retryAfterFailure)),
              Effect.logWarning(
                `SEC ticker map refresh failed (${error._tag === "SecUserAgentMissing" ? "SEC_USER_AGENT is not set" : error.message}); using the cached map`
              )
            )
          )
        )
      }
      const current = yield* Ref.get(loaded)
      if (Option.isSome(current)) return current.value
      const map = yield* loadCached
      yield* Ref.set(loaded, Option.some(map))
      return map
    })

    /** The lookup for one cycle: refresh if due, then answer from memory. */
    const lookup = Effect.map(ensureFresh(), (map) => (cik: string) => map.get(cik.padStart(10, "0")) ?? [])

    return { lookup, ensureFresh } as const
  }).pipe(Effect.annotateLogs("module", "CikTickers")),
  dependencies: [AppConfig.Default, SecClient.Default, SqlLive]
}) {}
