import { HttpClient, HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Cause, Data, Duration, Effect, Either, Metric, MetricBoundaries, Schedule, Stream } from "effect"
import { createHash } from "node:crypto"
import { AppConfig } from "../Kernel/AppConfig.js"
import { SecClient } from "../Kernel/SecClient.js"
import { decodeBody } from "./Charset.js"
import { FeedStateRepo, type Validators } from "./FeedStateRepo.js"
import type { FeedSource } from "./Sources.js"

export const feedFetchLatency = Metric.histogram(
  "feed_fetch_duration_seconds",
  MetricBoundaries.exponential({ start: 0.025, factor: 2, count: 10 }),
  "Wall time of one feed fetch, retries included"
)
export const feedFailures = Metric.counter("feed_failures_total", {
  description: "Feed fetches or parses that failed"
})

/** Why a feed produced nothing this time; `reason` is one readable line, never a stack trace. */
export class FeedFetchError extends Data.TaggedError("FeedFetchError")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

class FeedTooLarge extends Data.TaggedError("FeedTooLarge")<{ readonly limit: number }> {}

interface Received {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer | null
}

/** `retryAt`: epoch ms before which the server asked not to be asked again (Retry-After, Cache-Control max-age). */
export type FetchOutcome =
  | {
      readonly _tag: "NotModified"
      readonly status: number
      readonly why: "304" | "same body"
      readonly retryAt?: number
    }
  | {
      readonly _tag: "Fetched"
      readonly retryAt?: number
      readonly status: number
      readonly bytes: number
      readonly text: string
      /** Persists the validators; call it only once the body was parsed, so a bad body is refetched. */
      readonly commit: Effect.Effect<void>
    }

const transientStatuses = new Set([408, 429, 500, 502, 503, 504])

/** Worth another attempt: a timeout, a connection failure, or a status that says "try again later". */
const isTransient = (error: unknown): boolean =>
  Cause.isTimeoutException(error) ||
  (HttpClientError.isHttpClientError(error) &&
    (error._tag === "RequestError"
      ? error.reason === "Transport"
      : error.reason === "StatusCode" && transientStatuses.has(error.response.status)))

/** SEC's fair-access rules apply to every sec.gov request, and to any feed declared as sec-atom. */
export const needsSecClient = (source: Pick<FeedSource, "kind" | "url">): boolean =>
  source.kind === "sec-atom" || /(^|\.)sec\.gov$/i.test(new URL(source.url).hostname)

const accept =
  "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"

/**
 * Conditional GETs for feeds: per-host concurrency limit, timeout per attempt, jittered exponential
 * retries of transient failures, a response-size cap while streaming, charset decoding, and
 * ETag/Last-Modified/body-hash state in SQLite (read by the caller for all feeds at once, saved
 * here). sec.gov traffic goes through SecClient.
 */
export class FeedFetcher extends Effect.Service<FeedFetcher>()("Feeds/FeedFetcher", {
  effect: Effect.gen(function* () {
    const { feeds: settings } = yield* AppConfig
    const repo = yield* FeedStateRepo
    const sec = yield* SecClient
    const timeout = Duration.seconds(settings.timeoutSeconds)

    const acceptStatus = <E, R>(client: HttpClient.HttpClient.With<E, R>) =>
      HttpClient.filterStatus(client, (status) => (status >= 200 && status < 300) || status === 304)
    const wireClient = acceptStatus(
      (yield* HttpClient.HttpClient).pipe(
        HttpClient.mapRequest(HttpClientRequest.setHeader("User-Agent", "catalyst-bot/0.1 (feed reader)"))
      )
    )
    const secClient = Either.map(yield* Effect.either(sec.client), acceptStatus)
    const retrySchedule = Schedule.exponential(Duration.millis(settings.retryBaseMillis)).pipe(Schedule.jittered)

    const hostLimits = new Map<string, Effect.Semaphore>()
    const hostLimit = (host: string) => {
      const known = hostLimits.get(host)
      if (known !== undefined) return known
      const created = Effect.unsafeMakeSemaphore(settings.perHostConcurrency)
      hostLimits.set(host, created)
      return created
    }

    /** Reads the body, failing as soon as it passes FEED_MAX_BYTES (the rest is never buffered). */
    const readCapped = (
      response: HttpClientResponse.HttpClientResponse
    ): Effect.Effect<Buffer, FeedTooLarge | HttpClientError.ResponseError> => {
      const declared = Number(response.headers["content-length"])
      if (Number.isFinite(declared) && declared > settings.maxBytes) {
        return Effect.fail(new FeedTooLarge({ limit: settings.maxBytes }))
      }
      // A declared length within the cap bounds the body (the HTTP parser reads exactly that many
      // bytes), so it's read in one go; only a chunked body needs counting as it streams.
      if (Number.isFinite(declared)) return Effect.map(response.arrayBuffer, (bytes) => Buffer.from(bytes))
      const initial: { readonly chunks: Array<Uint8Array>; size: number } = { chunks: [], size: 0 }
      return Stream.runFoldEffect(
        response.stream,
        initial,
        (acc, chunk): Effect.Effect<typeof initial, FeedTooLarge> => {
          acc.size += chunk.byteLength
          if (acc.size > settings.maxBytes) return Effect.fail(new FeedTooLarge({ limit: settings.maxBytes }))
          acc.chunks.push(chunk)
          return Effect.succeed(acc)
        }
      ).pipe(Effect.map(({ chunks }) => Buffer.concat(chunks)))
    }

    const describe = (error: unknown): string => {
      const tagged = error as { _tag?: string; reason?: string; response?: { status: number }; cause?: unknown }
      switch (tagged._tag) {
        case "TimeoutException":
          return `timed out after ${Duration.format(timeout)}`
        case "FeedTooLarge":
          return `body exceeds FEED_MAX_BYTES=${settings.maxBytes}`
        case "SecUserAgentMissing":
          return "SEC feeds are off until SEC_USER_AGENT is set"
        case "FeedFetchError":
          return tagged.reason ?? "failed"
        case "ResponseError":
          return tagged.reason === "StatusCode"
            ? `HTTP ${tagged.response?.status}`
            : "the response body couldn't be read"
        case "RequestError": {
          const cause = tagged.cause as { code?: unknown; cause?: { code?: unknown } } | undefined
          const code = cause?.code ?? cause?.cause?.code
          return `connection failed${typeof code === "string" ? ` (${code})` : ""}`
        }
        default:
          return String(error)
      }
    }

    const fetch = Effect.fn("FeedFetcher.fetch")(
      function* (source: FeedSource, validators: Validators | null) {
        const client = needsSecClient(source) ? yield* secClient : wireClient
        const request = HttpClientRequest.get(source.url).pipe(
          HttpClientRequest.setHeader("Accept", accept),
          validators?.etag ? HttpClientRequest.setHeader("If-None-Match", validators.etag) : (r) => r,
          validators?.lastModified
            ? HttpClientRequest.setHeader("If-Modified-Since", validators.lastModified)
            : (r) => r
        )
        const limit = hostLimit(new URL(source.url).host)
        // One deadline per attempt covers the headers and the body; only transient failures are retried.
        const attempt = client.execute(request).pipe(
          Effect.flatMap((response): Effect.Effect<Received, unknown> =>
            response.status === 304
              ? Effect.succeed({ status: 304, headers: response.headers, body: null })
              : Effect.map(readCapped(response), (body) => ({
                  status: response.status,
                  headers: response.headers,
                  body
                }))
          ),
          Effect.scoped,
          Effect.timeout(timeout)
        )
        const response = yield* limit.withPermits(1)(
          Effect.retry(attempt, { schedule: retrySchedule, times: settings.retries, while: isTransient })
        )
        yield* Effect.annotateCurrentSpan({ "feed.url": source.url, "http.status": response.status })
        if (response.body === null) return { _tag: "NotModified", status: 304, why: "304" } as FetchOutcome
        const bodyHash = createHash("sha256").update(response.body).digest("hex")
        yield* Effect.annotateCurrentSpan("feed.bytes", response.body.byteLength)
        const next = {
          etag: response.headers["etag"] ?? null,
          lastModified: response.headers["last-modified"] ?? null,
          bodyHash
        }
        if (validators?.bodyHash === bodyHash) {
          yield* repo.save(source.url, next)
          return { _tag: "NotModified", status: response.status, why: "same body" } as FetchOutcome
        }
        return {
          _tag: "Fetched",
          status: response.status,
          bytes: response.body.byteLength,
          text: decodeBody(response.body, response.headers["content-type"] ?? null),
          commit: repo.save(source.url, next)
        } as FetchOutcome
      },
      (effect, source) =>
        effect.pipe(
          Effect.mapError((error) => new FeedFetchError({ reason: describe(error) })),
          Metric.trackDurationWith(Metric.tagged(feedFetchLatency, "feed", source.name), Duration.toSeconds)
        )
    )

    return { fetch } as const
  }),
  dependencies: [AppConfig.Default, FeedStateRepo.Default, SecClient.Default]
}) {}
