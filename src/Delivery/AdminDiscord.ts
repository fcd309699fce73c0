import { Clock, Duration, Effect, Layer, type Redacted, Schedule } from "effect"
import { type AdminEvent, AdminQueue } from "../Kernel/AdminChannel.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { noticeMessage, NoticeColours, type WebhookMessage } from "./Discord/Embed.js"
import { DiscordWebhooks, type WebhookError } from "./Discord/DiscordWebhooks.js"

/** At most this many notices per minute reach the webhook; the rest are folded into the next digest. */
const noticesPerMinute = 6
const digestLines = 20

interface DigestEntry {
  count: number
  readonly message: string
}

/**
 * Posts admin notices to DISCORD_ADMIN_WEBHOOK: the same key and title within ADMIN_DEDUPE_MINUTES
 * is posted once (repeats are counted into the next post); errors and throttled notices are
 * gathered into one digest every ADMIN_DIGEST_MINUTES. The same rate limiter as alerts applies.
 */
export const layer = (url: Redacted.Redacted<string>) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const queue = yield* AdminQueue
      const webhooks = yield* DiscordWebhooks
      const { delivery } = yield* AppConfig
      const target = { label: "admin", url }
      const dedupeMs = delivery.adminDedupeMinutes * 60_000
      const lastPosted = new Map<string, { at: number; suppressed: number }>()
      const recentPosts: Array<number> = []
      const digest = new Map<string, DigestEntry>()
      let unusable = false

      /** Waits out 429s, retries transient failures a few times; gives up quietly on a dead webhook. */
      const post = (message: WebhookMessage) =>
        webhooks.execute(target, message).pipe(
          Effect.catchTag("WebhookError", (error: WebhookError) =>
            error.failure._tag === "RateLimited"
              ? Effect.zipRight(Effect.sleep(Duration.millis(error.failure.retryAfterMs)), Effect.fail(error))
              : Effect.fail(error)
          ),
          Effect.retry({
            times: 4,
            schedule: Schedule.exponential("1 second").pipe(Schedule.jittered),
            while: (error) => error.failure._tag === "RateLimited" || error.failure._tag === "Transient"
          }),
          Effect.catchTag("WebhookError", (error) =>
            Effect.gen(function* () {
              if (error.failure._tag === "Unusable") unusable = true
              yield* Effect.logWarning(`admin notice not posted: ${error.message}`)
            })
          )
        )

      const addToDigest = (key: string, message: string) => {
        const entry = digest.get(key)
        if (entry) entry.count += 1
        else digest.set(key, { count: 1, message })
      }

      const handleNotice = Effect.fn("AdminChannel.post")(function* (event: AdminEvent) {
        const now = yield* Clock.currentTimeMillis
        // Keys such as `dead-letter:<id>` never repeat: forget them once their window has passed.
        for (const [key, posted] of lastPosted) if (now - posted.at >= dedupeMs) lastPosted.delete(key)
        const dedupeKey = `${event.key}\u0000${event.title}`
        const previous = lastPosted.get(dedupeKey)
        if (previous !== undefined && now - previous.at < dedupeMs) {
          previous.suppressed += 1
          return
        }
        while (recentPosts.length > 0 && recentPosts[0]! <= now - 60_000) recentPosts.shift()
        if (recentPosts.length >= noticesPerMinute) {
          addToDigest(`notice:${dedupeKey}`, `${event.title}: ${event.detail}`)
          return
        }
        recentPosts.push(now)
        lastPosted.set(dedupeKey, { at: now, suppressed: 0 })
        const repeats =
          previous !== undefined && previous.suppressed > 0
            ? `\n(${previous.suppressed} repeats since the last post)`
            : ""
        yield* post(noticeMessage(event.title, event.detail + repeats, NoticeColours.warning))
      })

      const flushDigest = Effect.gen(function* () {
        if (digest.size === 0 || unusable) return
        const entries = Array.from(digest.values()).sort((a, b) => b.count - a.count)
        const total = entries.reduce((sum, entry) => sum + entry.count, 0)
        digest.clear()
        const lines = entries.slice(0, digestLines).map((entry) => `• ${entry.count}× ${entry.message.split("\n")[0]}`)
        if (entries.length > digestLines) lines.push(`… and ${entries.length - digestLines} more`)
        yield* post(
          noticeMessage(
            `${total} error(s) or held-back notice(s) in the last ${delivery.adminDigestMinutes} min`,
            lines.join("\n"),
            NoticeColours.error
          )
        )
      })

      const consume = queue.take.pipe(
        Effect.flatMap((message) =>
          unusable
            ? Effect.void
            : message._tag === "Notice"
              ? handleNotice(message.event)
              : Effect.sync(() => addToDigest(message.key, message.message))
        ),
        Effect.catchAllCause((cause) => Effect.logError("admin poster error", cause)),
        Effect.forever
      )
      const digestLoop = flushDigest.pipe(
        Effect.catchAllCause((cause) => Effect.logError("admin digest error", cause)),
        Effect.repeat(Schedule.spaced(Duration.minutes(delivery.adminDigestMinutes)))
      )
      yield* Effect.forkScoped(consume)
      yield* Effect.forkScoped(Effect.delay(digestLoop, Duration.minutes(delivery.adminDigestMinutes)))
      // A last digest on shutdown, so errors just before a stop aren't lost.
      yield* Effect.addFinalizer(() => flushDigest.pipe(Effect.timeout("3 seconds"), Effect.ignore))
    }).pipe(Effect.annotateLogs("module", "AdminChannel"))
  )
