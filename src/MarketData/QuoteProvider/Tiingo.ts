import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Clock, ConfigError, Duration, Effect, flow, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { AppConfig } from "../../Kernel/AppConfig.js"
import type { Bar, BarSeries } from "../../Kernel/Domain.js"
import {
  type BarsRequest,
  describeHttpFailure,
  found,
  paced,
  type QuoteLookup,
  QuoteProvider,
  QuoteProviderError,
  unknown
} from "../QuoteProvider.js"

/**
 * Tiingo (keyed, https://www.tiingo.com/documentation/iex and /end-of-day). The key goes in the
 * `Authorization: Token …` header, never in the URL, so no error message can leak it.
 * - `GET /iex/?tickers=a,b,c` is a real batch: one array element per known ticker; unknown ones are left out.
 * - `GET /iex/{ticker}` answers `[]` (or 404 `{"detail":"Not found."}`) for an unknown ticker.
 * - `GET /iex/{ticker}/prices?startDate&resampleFreq=5min&afterHours=true` gives intraday bars with pre/post market.
 * - `GET /tiingo/daily/{ticker}/prices?startDate` gives daily bars (404 for an unknown ticker).
 *
 * IEX reports only its own exchange's volume, a small fraction of the consolidated day volume, so
 * quotes carry no volume: MIN_VOLUME can't judge them and relative volume stays empty.
 */

const OptionalNumber = Schema.optional(Schema.NullOr(Schema.Number))

const IexQuote = Schema.Struct({
  ticker: Schema.String,
  last: OptionalNumber,
  tngoLast: OptionalNumber,
  prevClose: OptionalNumber
})
type IexQuote = typeof IexQuote.Type
const IexQuotes = Schema.Array(IexQuote)

const PriceBar = Schema.Struct({
  date: Schema.String,
  open: Schema.NullOr(Schema.Number),
  high: Schema.NullOr(Schema.Number),
  low: Schema.NullOr(Schema.Number),
  close: Schema.NullOr(Schema.Number),
  volume: OptionalNumber
})
const PriceBars = Schema.Array(PriceBar)

const newYorkDate = new Intl.DateTimeFormat("en-CA", { timeZone: "America/New_York" })
const newYorkOffset = new Intl.DateTimeFormat("en-US", { timeZone: "America/New_York", timeZoneName: "shortOffset" })

/** Minutes east of UTC in New York at that instant, e.g. -300 in winter. */
const offsetMinutesAt = (epochMillis: number): number => {
  const label = newYorkOffset.formatToParts(new Date(epochMillis)).find((p) => p.type === "timeZoneName")?.value ?? ""
  const match = /GMT([+-])(\d{1,2})(?::(\d{2}))?/.exec(label)
  if (match === null) return 0
  const minutes = Number(match[2]) * 60 + Number(match[3] ?? 0)
  return match[1] === "-" ? -minutes : minutes
}

const wallClock = (date: string, time: string, reference: number) =>
  Date.parse(`${date}T${time}:00Z`) - offsetMinutesAt(reference) * 60_000

const toQuote = (symbol: string, row: IexQuote): QuoteLookup => {
  const price = row.last ?? row.tngoLast
  if (price == null) return unknown
  const previousClose = row.prevClose ?? null
  return found({
    symbol,
    price,
    previousClose,
    changePct: previousClose ? ((price - previousClose) / previousClose) * 100 : null,
    volume: null,
    relativeVolume: null
  })
}

const toBars = (rows: typeof PriceBars.Type): Array<Bar> =>
  rows.flatMap(({ date, open, high, low, close, volume }) =>
    open === null || high === null || low === null || close === null
      ? []
      : [{ time: Date.parse(date), open, high, low, close, volume: volume ?? 0 }]
  )

export const layer = Layer.effect(
  QuoteProvider,
  Effect.gen(function* () {
    const { market } = yield* AppConfig
    const apiKey = yield* Option.match(market.tiingoApiKey, {
      onNone: () =>
        Effect.fail(ConfigError.MissingData(["TIINGO_API_KEY"], "is required when MARKET_DATA_PROVIDER=tiingo")),
      onSome: Effect.succeed
    })
    const http = yield* HttpClient.HttpClient
    const name = "tiingo"

    const client = http.pipe(
      HttpClient.mapRequest(
        flow(
          HttpClientRequest.prependUrl(market.tiingoBaseUrl),
          HttpClientRequest.setHeader("Authorization", `Token ${Redacted.value(apiKey)}`),
          HttpClientRequest.acceptJson
        )
      ),
      HttpClient.filterStatus((status) => (status >= 200 && status < 300) || status === 404),
      HttpClient.transformResponse((attempt) =>
        paced(Effect.timeout(attempt, Duration.seconds(market.timeoutSeconds)))
      ),
      HttpClient.retryTransient({
        schedule: Schedule.exponential("250 millis").pipe(Schedule.jittered),
        times: market.retries
      })
    )

    /** GET a JSON array; a 404 is "nothing known" (empty). */
    const getArray = <A, I>(what: string, path: string, schema: Schema.Schema<A, I>, urlParams = {}) =>
      client.get(path, { urlParams }).pipe(
        Effect.flatMap((response) =>
          response.status === 404
            ? Effect.succeed(Option.none<A>())
            : Effect.asSome(HttpClientResponse.schemaBodyJson(schema)(response))
        ),
        Effect.mapError(
          (error) =>
            new QuoteProviderError({
              provider: name,
              reason: `${what}: ${describeHttpFailure(error, market.timeoutSeconds)}`
            })
        )
      )

    const ticker = (symbol: string) => encodeURIComponent(symbol.toLowerCase())

    const quoteBatch = (symbols: ReadonlyArray<string>) =>
      getArray(`batch of ${symbols.length}`, "/iex/", IexQuotes, {
        tickers: symbols.map((symbol) => symbol.toLowerCase()).join(",")
      }).pipe(
        Effect.map((rows) => {
          const byTicker = new Map(Option.getOrElse(rows, () => []).map((row) => [row.ticker.toUpperCase(), row]))
          return new Map(
            symbols.map((symbol) => {
              const row = byTicker.get(symbol.toUpperCase())
              return [symbol, row === undefined ? unknown : toQuote(symbol, row)] as const
            })
          )
        })
      )

    const quote = (symbol: string) =>
      getArray(symbol, `/iex/${ticker(symbol)}`, IexQuotes).pipe(
        Effect.map((rows) => {
          const row = Option.getOrElse(rows, () => [])[0]
          return row === undefined ? unknown : toQuote(symbol, row)
        })
      )

    const bars = ({ symbol, interval, lookbackDays }: BarsRequest) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        if (interval === "1d") {
          const start = newYorkDate.format(new Date(now - lookbackDays * 86_400_000))
          const rows = yield* getArray(symbol, `/tiingo/daily/${ticker(symbol)}/prices`, PriceBars, {
            startDate: start
          })
          const series = toBars(Option.getOrElse(rows, () => []))
          return series.length === 0
            ? Option.none<BarSeries>()
            : Option.some<BarSeries>({
                symbol,
                interval,
                bars: series,
                previousClose: null,
                regularStart: null,
                regularEnd: null
              })
        }
        const today = newYorkDate.format(new Date(now))
        const [rows, latest] = yield* Effect.all(
          [
            getArray(symbol, `/iex/${ticker(symbol)}/prices`, PriceBars, {
              startDate: today,
              resampleFreq: "5min",
              afterHours: "true",
              columns: "open,high,low,close,volume"
            }),
            quote(symbol)
          ],
          { concurrency: 2 }
        )
        const series = toBars(Option.getOrElse(rows, () => []))
        if (series.length === 0) return Option.none<BarSeries>()
        const day = newYorkDate.format(new Date(series[series.length - 1]!.time))
        return Option.some<BarSeries>({
          symbol,
          interval,
          bars: series,
          previousClose: latest._tag === "Found" ? latest.quote.previousClose : null,
          regularStart: wallClock(day, "09:30", now),
          regularEnd: wallClock(day, "16:00", now)
        })
      })

    return QuoteProvider.of({ name, quote, quoteBatch, bars })
  })
)
