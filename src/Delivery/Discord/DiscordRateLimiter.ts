import { Clock, Duration, Effect, Metric, Schema } from "effect"
import { AppConfig } from "../../Kernel/AppConfig.js"
import { StatusBoard, StatusEntry } from "../../Kernel/StatusBoard.js"

/**
 * Discord rate limits, learned from the response headers instead of hard-coded
 * (https://discord.com/developers/docs/topics/rate-limits): a bucket per webhook from
 * X-RateLimit-Limit / -Remaining / -Reset-After / -Bucket (webhooks reporting the same bucket share
 * its state), 429 bodies with a float `retry_after`,
 * global 429s, the 50 requests/s global cap, and the invalid-request ban (10,000 401/403/429 in 10 min).
 */

/** Until a webhook's headers arrive: the per-webhook limit observed in practice, 5 requests per 2 s. */
export const cautiousDefault = { limit: 5, windowMs: 2_000 } as const
/** We stop sending well before Discord's 10,000 invalid responses per 10 minutes: a tenth of it. */
export const invalidBudget = { limit: 1_000, windowMs: 600_000 } as const
/** Timers and transit can make us a hair early for a reset; 5 ms cost 1% of a 500 ms window. */
const resetMarginMs = 5
/**
 * The global cap is counted over a slightly longer second than Discord's: our send times are
 * earlier than its receive times, and a request that slips through costs a 429.
 */
const globalWindowMs = 1_050

interface Bucket {
  /** From X-RateLimit-Bucket; null until the first response with headers. */
  bucket: string | null
  limit: number
  remaining: number
  resetAt: number
  blockedUntil: number
  /** Send times, for the cautious default before discovery. */
  recent: Array<number>
}

export interface RateLimitHeaders {
  readonly limit: number | null
  readonly remaining: number | null
  readonly resetAfterSeconds: number | null
  readonly bucket: string | null
}

export const Headroom = Schema.Struct({
  label: Schema.String,
  bucket: Schema.NullOr(Schema.String),
  discovered: Schema.Boolean,
  limit: Schema.Number,
  remaining: Schema.Number,
  resetAfterMs: Schema.Number
})
export type Headroom = typeof Headroom.Type

/** What the limiter publishes after every response: /health's `rateLimits` and the heartbeat's headroom line. */
export const DiscordStatus = StatusEntry(
  "discord",
  Schema.Struct({
    webhooks: Schema.Array(Headroom),
    globalRequestsLastSecond: Schema.Number,
    globalLimitPerSecond: Schema.Number,
    globalBlockedForMs: Schema.Number,
    invalidLast10Min: Schema.Number,
    invalidBudget: Schema.Number
  })
)
export type DiscordStatus = typeof DiscordStatus.schema.Type

export const remainingGauge = Metric.gauge("discord_ratelimit_remaining", {
  description: "Requests left in the current Discord rate-limit bucket, per webhook"
})
export const invalidGauge = Metric.gauge("discord_invalid_requests_10m", {
  description: "401/403/429 responses from Discord in the last 10 minutes (Discord bans at 10,000)"
})
export const rateLimitedCounter = Metric.counter("discord_rate_limited_total", {
  description: "429 responses from Discord"
})

const parseNumber = (value: string | undefined): number | null => {
  if (value === undefined || value.trim() === "") return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}

export const readRateLimitHeaders = (headers: Readonly<Record<string, string | undefined>>): RateLimitHeaders => ({
  limit: parseNumber(headers["x-ratelimit-limit"]),
  remaining: parseNumber(headers["x-ratelimit-remaining"]),
  resetAfterSeconds: parseNumber(headers["x-ratelimit-reset-after"]),
  bucket: headers["x-ratelimit-bucket"] ?? null
})

const prune = (times: Array<number>, since: number) => {
  while (times.length > 0 && times[0]! <= since) times.shift()
}

export class DiscordRateLimiter extends Effect.Service<DiscordRateLimiter>()("Delivery/Discord/DiscordRateLimiter", {
  effect: Effect.gen(function* () {
    const { delivery } = yield* AppConfig
    const status = yield* StatusBoard
    /** Webhook key → its bucket; webhooks that report the same X-RateLimit-Bucket hold the same object. */
    const buckets = new Map<string, Bucket>()
    /** Webhook key → the label it was acquired with: headroom is shown per webhook, shared or not. */
    const labels = new Map<string, string>()
    const byDiscordBucket = new Map<string, Bucket>()
    const globalSends: Array<number> = []
    const invalids: Array<number> = []
    let globalBlockedUntil = 0

    const bucketFor = (key: string, label: string): Bucket => {
      let bucket = buckets.get(key)
      if (bucket === undefined) {
        bucket = {
          bucket: null,
          limit: cautiousDefault.limit,
          remaining: cautiousDefault.limit,
          resetAt: 0,
          blockedUntil: 0,
          recent: []
        }
        buckets.set(key, bucket)
        labels.set(key, label)
      }
      return bucket
    }

    /** Milliseconds to wait before `bucket` may send; 0 means go (and the permit is then taken). */
    const delayFor = (bucket: Bucket, now: number): number => {
      prune(globalSends, now - globalWindowMs)
      prune(invalids, now - invalidBudget.windowMs)
      const waits = [globalBlockedUntil - now, bucket.blockedUntil - now]
      if (globalSends.length >= delivery.globalRequestsPerSecond) waits.push(globalSends[0]! + globalWindowMs - now)
      if (invalids.length >= invalidBudget.limit) waits.push(invalids[0]! + invalidBudget.windowMs - now)
      if (bucket.bucket === null) {
        prune(bucket.recent, now - cautiousDefault.windowMs)
        if (bucket.recent.length >= cautiousDefault.limit)
          waits.push(bucket.recent[0]! + cautiousDefault.windowMs - now)
      } else if (bucket.remaining <= 0) {
        waits.push(bucket.resetAt - now)
      }
      return Math.max(0, ...waits)
    }

    const headroom = (label: string, bucket: Bucket, now: number): Headroom => ({
      label,
      bucket: bucket.bucket,
      discovered: bucket.bucket !== null,
      limit: bucket.limit,
      remaining: bucket.bucket === null ? cautiousDefault.limit - bucket.recent.length : bucket.remaining,
      resetAfterMs: Math.max(0, bucket.resetAt - now)
    })

    const publish = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      prune(invalids, now - invalidBudget.windowMs)
      prune(globalSends, now - 1_000)
      const webhooks = Array.from(buckets, ([key, bucket]) => headroom(labels.get(key) ?? key, bucket, now))
      for (const entry of webhooks) {
        yield* Metric.set(Metric.tagged(remainingGauge, "webhook", entry.label), entry.remaining)
      }
      yield* Metric.set(invalidGauge, invalids.length)
      yield* status.set(DiscordStatus, {
        webhooks,
        globalRequestsLastSecond: globalSends.length,
        globalLimitPerSecond: delivery.globalRequestsPerSecond,
        globalBlockedForMs: Math.max(0, globalBlockedUntil - now),
        invalidLast10Min: invalids.length,
        invalidBudget: invalidBudget.limit
      })
    })

    /** Waits for a permit from the webhook's bucket and the global cap, then takes it. */
    const acquire = Effect.fn("DiscordRateLimiter.acquire")(function* (key: string, label: string) {
      while (true) {
        // Looked up each turn: the webhook may have turned out to share another one's bucket meanwhile.
        const bucket = bucketFor(key, label)
        const now = yield* Clock.currentTimeMillis
        if (bucket.bucket !== null && bucket.remaining <= 0 && now >= bucket.resetAt) bucket.remaining = bucket.limit
        const delay = delayFor(bucket, now)
        if (delay <= 0) {
          globalSends.push(now)
          bucket.recent.push(now)
          if (bucket.bucket !== null) bucket.remaining -= 1
          return
        }
        yield* Effect.sleep(Duration.millis(delay))
      }
    })

    /**
     * Requests the webhook's bucket would let go now without waiting (global limits aside): what
     * delivery weighs against the alerts waiting, to decide whether to pack them.
     */
    const available = Effect.fn("DiscordRateLimiter.available")(function* (key: string) {
      const bucket = buckets.get(key)
      if (bucket === undefined) return cautiousDefault.limit
      const now = yield* Clock.currentTimeMillis
      if (now < bucket.blockedUntil) return 0
      if (bucket.bucket !== null) return now >= bucket.resetAt ? bucket.limit : Math.max(0, bucket.remaining)
      prune(bucket.recent, now - cautiousDefault.windowMs)
      return Math.max(0, cautiousDefault.limit - bucket.recent.length)
    })

    /** Milliseconds until the webhook may send (its bucket, a 429's wait, the global cap); 0 means now. */
    const waitFor = Effect.fn("DiscordRateLimiter.waitFor")(function* (key: string) {
      const bucket = buckets.get(key)
      const now = yield* Clock.currentTimeMillis
      if (bucket === undefined) return Math.max(0, globalBlockedUntil - now)
      if (bucket.bucket !== null && bucket.remaining <= 0 && now >= bucket.resetAt) bucket.remaining = bucket.limit
      return delayFor(bucket, now)
    })

    /**
     * The first webhook to report a Discord bucket owns its state; another one reporting the same
     * bucket from then on waits on that state too, so together they stay within the one limit.
     */
    const shareBucket = (key: string, bucket: Bucket, discordBucket: string): Bucket => {
      const owner = byDiscordBucket.get(discordBucket)
      if (owner === undefined || owner === bucket) {
        bucket.bucket = discordBucket
        byDiscordBucket.set(discordBucket, bucket)
        return bucket
      }
      owner.blockedUntil = Math.max(owner.blockedUntil, bucket.blockedUntil)
      owner.recent.push(...bucket.recent)
      owner.recent.sort((a, b) => a - b)
      buckets.set(key, owner)
      return owner
    }

    /** Every response: the headers are the truth about the bucket. */
    const observe = Effect.fn("DiscordRateLimiter.observe")(function* (key: string, headers: RateLimitHeaders) {
      let bucket = buckets.get(key)
      if (bucket === undefined) return
      const now = yield* Clock.currentTimeMillis
      if (headers.bucket !== null) bucket = shareBucket(key, bucket, headers.bucket)
      if (headers.limit !== null) bucket.limit = headers.limit
      if (headers.remaining !== null) bucket.remaining = headers.remaining
      if (headers.resetAfterSeconds !== null) bucket.resetAt = now + headers.resetAfterSeconds * 1000 + resetMarginMs
      yield* publish
    })

    /** A 429: wait `retry_after` (float seconds) on the bucket, or on everything when it is global. */
    const rateLimited = Effect.fn("DiscordRateLimiter.rateLimited")(function* (
      key: string,
      limited: { readonly retryAfterMs: number; readonly global: boolean; readonly scope: string | null }
    ) {
      const now = yield* Clock.currentTimeMillis
      const until = now + limited.retryAfterMs + resetMarginMs
      if (limited.global) globalBlockedUntil = Math.max(globalBlockedUntil, until)
      else {
        const bucket = buckets.get(key)
        if (bucket !== undefined) {
          bucket.blockedUntil = Math.max(bucket.blockedUntil, until)
          bucket.remaining = 0
          bucket.resetAt = Math.max(bucket.resetAt, until)
        }
      }
      // Discord doesn't count 429s of scope "shared" towards the invalid-request ban.
      if (limited.scope !== "shared") invalids.push(now)
      yield* Metric.increment(Metric.tagged(rateLimitedCounter, "scope", limited.scope ?? "user"))
      yield* publish
    })

    /** 401 and 403 count towards the ban too. */
    const invalid = Effect.fn("DiscordRateLimiter.invalid")(function* () {
      invalids.push(yield* Clock.currentTimeMillis)
      yield* publish
    })

    return { acquire, available, waitFor, observe, rateLimited, invalid } as const
  }),
  dependencies: [AppConfig.Default, StatusBoard.Default]
}) {}
