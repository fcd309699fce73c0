import * as HttpClientError from "@effect/platform/HttpClientError"
import { Cause, Context, Data, Effect, FiberRef, Function, ParseResult } from "effect"
import type { Option } from "effect"
import type { BarInterval, BarSeries, Quote } from "../Kernel/Domain.js"

/** A provider's answer for one symbol: a quote, or a clear "no such (or delisted) symbol". */
export type QuoteLookup = { readonly _tag: "Found"; readonly quote: Quote } | { readonly _tag: "Unknown" }

export const found = (quote: Quote): QuoteLookup => ({ _tag: "Found", quote })
export const unknown: QuoteLookup = { _tag: "Unknown" }

/**
 * The provider could not answer (rate limit, 5xx, timeout, malformed reply). The reason never
 * carries a URL or a key, so it is safe to log and to show on an alert.
 */
export class QuoteProviderError extends Data.TaggedError("QuoteProviderError")<{
  readonly provider: string
  readonly reason: string
}> {
  override get message() {
    return `${this.provider}: ${this.reason}`
  }
}

export interface BarsRequest {
  readonly symbol: string
  readonly interval: BarInterval
  /** For daily bars: how many calendar days back. */
  readonly lookbackDays: number
}

/** A source of quotes and bars (Yahoo keyless, Tiingo keyed, …). */
export class QuoteProvider extends Context.Tag("MarketData/QuoteProvider")<
  QuoteProvider,
  {
    readonly name: string
    /**
     * Quotes for many symbols at once. The answer may leave symbols out (the caller then asks for
     * them one by one, paced); it fails only when nothing could be answered.
     */
    readonly quoteBatch: (
      symbols: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyMap<string, QuoteLookup>, QuoteProviderError>
    readonly quote: (symbol: string) => Effect.Effect<QuoteLookup, QuoteProviderError>
    /** None when the symbol is unknown or the range has no bars (weekend, holiday, halted all day). */
    readonly bars: (request: BarsRequest) => Effect.Effect<Option.Option<BarSeries>, QuoteProviderError>
  }
>() {}

type Pacer = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * Gate applied to every HTTP attempt an adapter makes (retries included). The market-data stage
 * sets it to its QUOTE_RPS limiter around per-symbol fallback calls, so even a retry can't make the
 * provider see requests faster than QUOTE_RPS.
 */
export const currentPacer = FiberRef.unsafeMake<Pacer>(Function.identity)

export const paced = <A, E, R>(attempt: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(FiberRef.get(currentPacer), (pace) => pace(attempt))

/** The one description of an HTTP failure adapters give: status or cause, never the URL (it may carry a key). */
export const describeHttpFailure = (error: unknown, timeoutSeconds: number): string => {
  if (Cause.isTimeoutException(error)) return `timed out after ${timeoutSeconds}s`
  if (HttpClientError.isHttpClientError(error)) {
    if (error._tag === "RequestError") return "connection failed"
    return error.response.status === 429 ? "rate limited (HTTP 429)" : `HTTP ${error.response.status}`
  }
  if (ParseResult.isParseError(error)) return "unexpected response shape"
  return "unexpected response"
}
