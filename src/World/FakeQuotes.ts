import { Effect } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A local quote API speaking two real wire formats (docs/ARCHITECTURE.md, "Quotes"):
 * - Yahoo `GET /v8/finance/chart/{SYM}` (keyless), including its oddities: nulls inside the arrays,
 *   an empty range with no `timestamp` key and `quote:[{}]`, and the 404 "No data found, symbol may be delisted".
 * - Tiingo `GET /iex/?tickers=`, `/iex/{t}`, `/iex/{t}/prices`, `/tiingo/daily/{t}/prices` with
 *   `Authorization: Token …`.
 *
 * Every symbol has deterministic data (price from a hash of its name) unless scripted. All data
 * describes one session (`sessionDate`, New York, EST): pre-market 04:00, regular 09:30–16:00, post until 20:00.
 */

export type SymbolMode = "normal" | "empty" | "nulls" | "delisted"

export interface SymbolScript {
  readonly mode?: SymbolMode
  /** Answer every request for this symbol with this HTTP status (429, 500, 503, …). */
  readonly status?: number
  readonly price?: number
  readonly previousClose?: number
  readonly volume?: number
  /** Volume of each earlier day, for relative volume. */
  readonly averageVolume?: number
}

export type QuoteApi = "yahoo-chart" | "tiingo-batch" | "tiingo-quote" | "tiingo-intraday" | "tiingo-daily"

export interface QuoteRequestRecord {
  /** Epoch ms when the server received the request. */
  readonly at: number
  readonly api: QuoteApi
  readonly symbols: ReadonlyArray<string>
  readonly query: Readonly<Record<string, string>>
  readonly status: number
}

export interface FakeQuotesOptions {
  readonly tiingoKey?: string
  readonly latencyMs?: number
  /** YYYY-MM-DD, a weekday. */
  readonly sessionDate?: string
  /** Older records are dropped past this many, so a long demo can't grow memory. */
  readonly maxRecords?: number
}

const estOffsetSeconds = -5 * 3600
const fiveMinutes = 300
const daySeconds = 86_400

const hash = (text: string): number => {
  let h = 2166136261
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
  return h >>> 0
}

interface Profile {
  readonly mode: SymbolMode
  readonly price: number
  readonly previousClose: number
  readonly volume: number
  readonly averageVolume: number
}

const round = (n: number) => Math.round(n * 10_000) / 10_000

/** The session the fake describes, in epoch seconds. */
const sessionOf = (date: string) => {
  const midnight = Date.parse(`${date}T00:00:00Z`) / 1000 - estOffsetSeconds
  return {
    midnight,
    pre: { start: midnight + 4 * 3600, end: midnight + 9.5 * 3600 },
    regular: { start: midnight + 9.5 * 3600, end: midnight + 16 * 3600 },
    post: { start: midnight + 16 * 3600, end: midnight + 20 * 3600 }
  }
}

/** The `count` weekdays before `midnight` (epoch s), oldest first, each as its regular-session open. */
const earlierWeekdays = (midnight: number, count: number): Array<number> => {
  const days: Array<number> = []
  for (let day = midnight - daySeconds; days.length < count; day -= daySeconds) {
    const weekday = new Date((day - estOffsetSeconds) * 1000).getUTCDay()
    if (weekday !== 0 && weekday !== 6) days.unshift(day + 9.5 * 3600)
  }
  return days
}

/** Regular-session opens of the weekdays between two instants (epoch s). */
const weekdaysBetween = (from: number, to: number): Array<number> => {
  const days: Array<number> = []
  const firstMidnight = Math.floor((from + estOffsetSeconds) / daySeconds) * daySeconds - estOffsetSeconds
  for (let day = firstMidnight; day <= to && days.length < 5_000; day += daySeconds) {
    const open = day + 9.5 * 3600
    const weekday = new Date((day + estOffsetSeconds + 12 * 3600) * 1000).getUTCDay()
    if (weekday !== 0 && weekday !== 6 && open >= from && open <= to) days.push(open)
  }
  return days
}

interface Candle {
  readonly time: number
  readonly open: number
  readonly high: number
  readonly low: number
  readonly close: number
  readonly volume: number
}

/** A price walk from `from` to `to` over `times`, with a little wiggle. */
const walk = (times: ReadonlyArray<number>, from: number, to: number, volume: number): Array<Candle> =>
  times.map((time, i) => {
    const t = times.length === 1 ? 1 : i / (times.length - 1)
    const close = round(from + (to - from) * t)
    const open = round(i === 0 ? from : from + (to - from) * ((i - 1) / Math.max(1, times.length - 1)))
    const wiggle = Math.max(open, close) * 0.002
    return {
      time,
      open,
      high: round(Math.max(open, close) + wiggle),
      low: round(Math.min(open, close) - wiggle),
      close,
      volume
    }
  })

export const make = (options: FakeQuotesOptions = {}) => {
  const session = sessionOf(options.sessionDate ?? "2026-11-27")
  const maxRecords = options.maxRecords ?? 10_000
  const scripts = new Map<string, SymbolScript>()
  let records: Array<QuoteRequestRecord> = []
  let failBatchesWith: number | null = null
  let failNext: Array<number> = []
  /** Every request answers this: a status (an outage) or "garbage" (200 with a body that isn't JSON). */
  let outage: number | "garbage" | null = null
  let latencyMs = options.latencyMs ?? 0

  const profile = (symbol: string): Profile & { readonly status?: number } => {
    const script = scripts.get(symbol.toUpperCase()) ?? {}
    const h = hash(symbol.toUpperCase())
    const price = script.price ?? 0.5 + (h % 2000) / 100
    const volume = script.volume ?? 500_000 + (h % 1000) * 1000
    return {
      mode: script.mode ?? "normal",
      price,
      previousClose: script.previousClose ?? round(price / 1.1),
      volume,
      averageVolume: script.averageVolume ?? Math.round(volume / 2.5),
      ...(script.status === undefined ? {} : { status: script.status })
    }
  }

  const record = (entry: QuoteRequestRecord) => {
    records.push(entry)
    if (records.length > maxRecords) records = records.slice(-maxRecords)
  }

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = typeof body === "string" ? body : JSON.stringify(body)
    res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json" })
    res.end(text)
  }

  /** Yahoo's replies to a rate limit and to a server error. */
  const yahooFailure = (res: ServerResponse, status: number) =>
    status === 429
      ? send(res, 429, "Too Many Requests")
      : send(res, status, { finance: { result: null, error: { code: "internal-error", description: "Server error" } } })

  const chartMeta = (symbol: string, p: Profile, range: string, granularity: string) => ({
    currency: "USD",
    symbol,
    exchangeName: "NMS",
    instrumentType: "EQUITY",
    regularMarketPrice: p.price,
    regularMarketTime: session.regular.end,
    regularMarketVolume: p.volume,
    gmtoffset: estOffsetSeconds,
    timezone: "EST",
    exchangeTimezoneName: "America/New_York",
    chartPreviousClose: range === "1d" ? p.previousClose : round(p.previousClose * 0.9),
    ...(range === "1d" ? { previousClose: p.previousClose } : {}),
    currentTradingPeriod: {
      pre: { timezone: "EST", start: session.pre.start, end: session.pre.end, gmtoffset: estOffsetSeconds },
      regular: { timezone: "EST", start: session.regular.start, end: session.regular.end, gmtoffset: estOffsetSeconds },
      post: { timezone: "EST", start: session.post.start, end: session.post.end, gmtoffset: estOffsetSeconds }
    },
    dataGranularity: granularity,
    range
  })

  const chartBody = (symbol: string, p: Profile, query: Record<string, string>) => {
    const interval = query.interval ?? "1d"
    const range = query.range ?? ""
    const meta = chartMeta(symbol, p, range, interval)
    if (p.mode === "empty") return { chart: { result: [{ meta, indicators: { quote: [{}] } }], error: null } }
    let candles: Array<Candle>
    if (interval === "5m") {
      const times: Array<number> = []
      for (let t = session.pre.start; t < session.post.end; t += fiveMinutes) times.push(t)
      candles = walk(times, p.previousClose, p.price, Math.round(p.volume / times.length))
    } else {
      const days =
        range === "1mo"
          ? earlierWeekdays(session.midnight, 20)
          : weekdaysBetween(Number(query.period1 ?? 0), Number(query.period2 ?? session.regular.end))
      candles = [
        ...walk(days, round(p.previousClose * 0.9), p.previousClose, p.averageVolume),
        ...(range === "1mo" ? walk([session.regular.start], p.previousClose, p.price, p.volume) : [])
      ]
    }
    const column = (pick: (c: Candle) => number) =>
      candles.map((c, i) => (p.mode === "nulls" && i % 5 === 2 ? null : pick(c)))
    return {
      chart: {
        result: [
          {
            meta,
            timestamp: candles.map((c) => c.time),
            indicators: {
              quote: [
                {
                  open: column((c) => c.open),
                  high: column((c) => c.high),
                  low: column((c) => c.low),
                  close: column((c) => c.close),
                  volume: column((c) => c.volume)
                }
              ]
            }
          }
        ],
        error: null
      }
    }
  }

  const iexRow = (symbol: string, p: Profile) => ({
    ticker: symbol.toUpperCase(),
    timestamp: new Date(session.regular.end * 1000).toISOString(),
    lastSaleTimestamp: new Date(session.regular.end * 1000).toISOString(),
    quoteTimestamp: new Date(session.regular.end * 1000).toISOString(),
    open: p.previousClose,
    high: round(p.price * 1.01),
    low: round(p.previousClose * 0.99),
    mid: null,
    tngoLast: p.price,
    last: p.mode === "nulls" ? null : p.price,
    lastSize: p.mode === "nulls" ? null : 100,
    bidSize: null,
    bidPrice: null,
    askPrice: null,
    askSize: null,
    volume: Math.round(p.volume / 40),
    prevClose: p.previousClose
  })

  const tiingoBar = (c: Candle) => ({
    date: new Date(c.time * 1000).toISOString(),
    open: c.open,
    high: c.high,
    low: c.low,
    close: c.close,
    volume: c.volume
  })

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const at = Date.now()
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    const query = Object.fromEntries(url.searchParams)
    const parts = url.pathname
      .split("/")
      .filter((part) => part !== "")
      .map(decodeURIComponent)
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs))

    const respond = (api: QuoteApi, symbols: ReadonlyArray<string>, status: number, body: unknown) => {
      record({ at, api, symbols, query, status })
      return send(res, status, body)
    }
    const injected = failNext.shift()
    if (outage === "garbage") {
      record({ at, api: "yahoo-chart", symbols: parts.slice(3, 4), query, status: 200 })
      res.writeHead(200, { "content-type": "application/json" })
      return res.end('{"chart":{"result":[{"meta":{"regularMarketPrice":"n/a"')
    }
    if (outage !== null) {
      record({ at, api: "yahoo-chart", symbols: parts.slice(3, 4), query, status: outage })
      return yahooFailure(res, outage)
    }

    if (parts[0] === "v8" && parts[1] === "finance" && parts[2] === "chart" && parts[3] !== undefined) {
      const symbol = parts[3]
      const p = profile(symbol)
      const status = injected ?? p.status
      if (status !== undefined) {
        record({ at, api: "yahoo-chart", symbols: [symbol], query, status })
        return yahooFailure(res, status)
      }
      if (p.mode === "delisted") {
        return respond("yahoo-chart", [symbol], 404, {
          chart: { result: null, error: { code: "Not Found", description: "No data found, symbol may be delisted" } }
        })
      }
      return respond("yahoo-chart", [symbol], 200, chartBody(symbol, p, query))
    }

    if (parts[0] === "iex" || (parts[0] === "tiingo" && parts[1] === "daily")) {
      const api: QuoteApi =
        parts[0] === "tiingo"
          ? "tiingo-daily"
          : parts[1] === undefined
            ? "tiingo-batch"
            : parts[2] === "prices"
              ? "tiingo-intraday"
              : "tiingo-quote"
      const symbols =
        api === "tiingo-batch"
          ? (query.tickers ?? "").split(",").filter((t) => t !== "")
          : [(api === "tiingo-daily" ? parts[2] : parts[1]) ?? ""]
      if (options.tiingoKey !== undefined && req.headers.authorization !== `Token ${options.tiingoKey}`) {
        return respond(api, symbols, 401, { detail: "Invalid token." })
      }
      const status = injected ?? (api === "tiingo-batch" ? (failBatchesWith ?? undefined) : profile(symbols[0]!).status)
      if (status !== undefined)
        return respond(api, symbols, status, status === 429 ? "Too Many Requests" : "Server Error")
      if (api === "tiingo-batch") {
        const rows = symbols.flatMap((symbol) => {
          const p = profile(symbol)
          return p.mode === "delisted" || p.mode === "empty" ? [] : [iexRow(symbol, p)]
        })
        return respond(api, symbols, 200, rows)
      }
      const symbol = symbols[0]!
      const p = profile(symbol)
      if (p.mode === "delisted") {
        return respond(
          api,
          symbols,
          404,
          api === "tiingo-daily"
            ? { detail: `Error: Ticker '${symbol.toUpperCase()}' not found` }
            : { detail: "Not found." }
        )
      }
      if (p.mode === "empty") return respond(api, symbols, 200, [])
      if (api === "tiingo-quote") return respond(api, symbols, 200, [iexRow(symbol, p)])
      if (api === "tiingo-intraday") {
        const times: Array<number> = []
        for (let t = session.pre.start; t < session.post.end; t += fiveMinutes) times.push(t)
        return respond(api, symbols, 200, walk(times, p.previousClose, p.price, 1000).map(tiingoBar))
      }
      const since = Date.parse(`${query.startDate ?? "1970-01-01"}T00:00:00Z`) / 1000
      const days = earlierWeekdays(session.midnight, 400).filter((day) => day >= since)
      return respond(
        api,
        symbols,
        200,
        walk(days, round(p.previousClose * 0.9), p.previousClose, p.averageVolume).map((c) => ({
          ...tiingoBar({ ...c, time: c.time - 9.5 * 3600 + estOffsetSeconds }),
          adjClose: c.close,
          adjHigh: c.high,
          adjLow: c.low,
          adjOpen: c.open,
          adjVolume: c.volume,
          divCash: 0,
          splitFactor: 1
        }))
      )
    }

    return send(res, 404, { detail: "Not found." })
  }

  return Effect.acquireRelease(
    Effect.async<ReturnType<typeof createServer>>((resume) => {
      const server = createServer((req, res) => void handle(req, res))
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(
    Effect.map((server) => ({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      /** The session's regular hours, in epoch ms, for assertions. */
      session: { regularStart: session.regular.start * 1000, regularEnd: session.regular.end * 1000 },
      requests: (): ReadonlyArray<QuoteRequestRecord> => records,
      /** When the server received each request naming `symbol` (optionally only on one API). */
      requestTimes: (symbol: string, api?: QuoteApi): ReadonlyArray<number> =>
        records
          .filter(
            (r) =>
              (api === undefined || r.api === api) && r.symbols.some((s) => s.toUpperCase() === symbol.toUpperCase())
          )
          .map((r) => r.at),
      script: (symbol: string, script: SymbolScript) => void scripts.set(symbol.toUpperCase(), script),
      /** The Tiingo batch endpoint answers this status until set back to null. */
      failBatches: (status: number | null) => void (failBatchesWith = status),
      /** The next `count` requests, of any kind, answer `status`. */
      failNextRequests: (count: number, status: number) =>
        void (failNext = Array.from({ length: count }, () => status)),
      setLatency: (ms: number) => void (latencyMs = ms),
      /** Every request answers `status`, or a truncated JSON body for "garbage", until set back to null. */
      setOutage: (status: number | "garbage" | null) => void (outage = status),
      clearRequests: () => void (records = []),
      reset: () => {
        scripts.clear()
        records = []
        failBatchesWith = null
        failNext = []
        outage = null
        latencyMs = options.latencyMs ?? 0
      }
    }))
  )
}

export type FakeQuotes = Effect.Effect.Success<ReturnType<typeof make>>
