import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Cause, Clock, Data, Duration, Effect, Either, Metric, MetricBoundaries, Schedule, Stream } from "effect"
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

/**
 * Why a feed produced nothing this time; `reason` is one readable line, never a stack trace.
 * `retryAt` (epoch ms) is the server's "not before" (Retry-After, or a 429/503), when it gave one.
 */
export class FeedFetchError extends Data.TaggedError("FeedFetchError")<{
  readonly reason: string
  readonly retryAt?: number
}> {
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

/** `retryAt` (epoch ms): don't poll this feed again before it, as the server asked (Cache-Control, Retry-After). */
export type FetchOutcome =
  | {
      readonly _tag: "NotModified"
      readonly status: number
      readonly why: "304" | "same body"
      readonly retryAt?: number
    }
  | {
      readonly _tag: "Fetched"
      readonly status: number
      readonly bytes: number
      readonly text: string
      /** Persists the validators; call it only once the body was parsed, so a bad body is refetched. */
      readonly commit: Effect.Effect<void>
      readonly retryAt?: number
    }

/**
 * 429 and 503 are not among them: they say the server is overloaded, and another attempt within the
 * same poll only adds to it (and to SEC's count). The poller backs off instead (`Runner/Cadence`).
 */
const transientStatuses = new Set([408, 500, 502, 504])

/**
 * Worth another attempt: a timeout, a connection failure, or a status that says "try again later",
 * unless the server said when with Retry-After: then the caller waits as asked, not the retry loop.
 */
const isTransient = (error: unknown): boolean =>
  Cause.isTimeoutException(error) ||
  (HttpClientError.isHttpClientError(error) &&
    (error._tag === "RequestError"
      ? error.reason === "Transport"
      : error.reason === "StatusCode" &&
        transientStatuses.has(error.response.status) &&
        error.response.headers["retry-after"] === undefined))

/** A server's hint never silences a feed for longer than this. */
const maxHintMillis = 3_600_000
/** How long a 429 or 503 without Retry-After keeps a feed quiet. */
export const overloadedBackoffMillis = 30_000

/** Retry-After is delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
const retryAfterMillis = (value: string | undefined, now: number): number | null => {
  const trimmed = value?.trim() ?? ""
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1_000
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? null : Math.max(0, at - now)
}

/** How long the response stays fresh: max-age less the Age a cache already held it (RFC 9111 §4.2.1). */
const freshMillis = (cacheControl: string | undefined, age: string | undefined): number | null => {
  const maxAge = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl ?? "")?.[1]
  if (maxAge === undefined) return null
  return Math.max(0, (Number(maxAge) - (Number(age) || 0)) * 1_000)
}

/**
 * The epoch ms before which the server asked not to be polled again, if it did: Retry-After on any
 * answer, a 429/503 (with or without it), `Cache-Control: max-age` on a 2xx or 304. Capped at an hour.
 */
export const serverHint = (
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  now: number
): number | undefined => {
  const retryAfter = retryAfterMillis(headers["retry-after"], now)
  const waits =
    status === 429 || status === 503
      ? [retryAfter ?? overloadedBackoffMillis]
      : status === 304 || (status >= 200 && status < 300)
        ? [retryAfter ?? 0, freshMillis(headers["cache-control"], headers["age"]) ?? 0]
        : [retryAfter ?? 0]
  const wait = Math.min(Math.max(...waits), maxHintMillis)
  return wait > 0 ? now + wait : undefined
}

const withHint = <A extends object>(outcome: A, retryAt: number | undefined): A =>
  retryAt === undefined ? outcome : { ...outcome, retryAt }

/** SEC's fair-access rules apply to every sec.gov request, and to any feed declared as sec-atom. */
export const needsSecClient = (source: Pick<FeedSource, "kind" | "url">): boolean =>
  source.kind === "sec-atom" || /(^|\.)sec\.gov$/i.test(new URL(source.url).hostname)

const accept =
  "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"

/**
 * Conditional GETs for feeds: per-host concurrency limit, timeout per attempt, jittered exponential
 * retries of transient failures, a response-size cap while streaming, charset decoding, and
 * ETag/Last-Modified/body-hash state in SQLite (read by the caller for all feeds at once, saved
 * here). sec.gov traffic goes through SecClient, in its live-feed lane. The server's hints (Retry-After,
 * 429/503, Cache-Control: max-age) come back as `retryAt`, for the caller's next poll.
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
    const secClient = Either.map(yield* Effect.either(sec.priorityClient), acceptStatus)
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
        const retryAt = serverHint(response.status, response.headers, yield* Clock.currentTimeMillis)
        yield* Effect.annotateCurrentSpan({ "feed.url": source.url, "http.status": response.status })
        if (response.body === null) {
          return withHint<FetchOutcome>({ _tag: "NotModified", status: 304, why: "304" }, retryAt)
        }
        const bodyHash = createHash("sha256").update(response.body).digest("hex")
        yield* Effect.annotateCurrentSpan("feed.bytes", response.body.byteLength)
        const next = {
          etag: response.headers["etag"] ?? null,
          lastModified: response.headers["last-modified"] ?? null,
          bodyHash
        }
        if (validators?.bodyHash === bodyHash) {
          // A feed without validators (SEC's getcurrent) answers the same body every poll: nothing to store then.
          if (validators.etag !== next.etag || validators.lastModified !== next.lastModified)
            yield* repo.save(source.url, next)
          return withHint<FetchOutcome>({ _tag: "NotModified", status: response.status, why: "same body" }, retryAt)
        }
        return withHint<FetchOutcome>(
          {
            _tag: "Fetched",
            status: response.status,
            bytes: response.body.byteLength,
            text: decodeBody(response.body, response.headers["content-type"] ?? null),
            commit: repo.save(source.url, next)
          },
          retryAt
        )
      },
      (effect, source) =>
        effect.pipe(
          Effect.catchAll((error) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              const answer =
                HttpClientError.isHttpClientError(error) && error._tag === "ResponseError" ? error.response : null
              const retryAt = answer === null ? undefined : serverHint(answer.status, answer.headers, now)
              return Effect.fail(
                new FeedFetchError(withHint<{ reason: string; retryAt?: number }>({ reason: describe(error) }, retryAt))
              )
            })
          ),
          Metric.trackDurationWith(Metric.tagged(feedFetchLatency, "feed", source.name), Duration.toSeconds)
        )
    )

    return { fetch } as const
  }),
  dependencies: [AppConfig.Default, FeedStateRepo.Default, SecClient.Default]
}) {}
