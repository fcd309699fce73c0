import { Duration } from "effect"
import type { FeedSource } from "../Feeds/Sources.js"
import { sessionAt } from "../Kernel/MarketHours.js"

export interface CadenceSettings {
  readonly pollSeconds: number
  readonly pollSecondsClosed: number
  readonly secPollSeconds: number
}

const newYorkClock = new Intl.DateTimeFormat("en-US", {
  timeZone: "America/New_York",
  weekday: "short",
  hour: "2-digit",
  hourCycle: "h23"
})

/** EDGAR accepts and disseminates filings 06:00–22:00 ET on weekdays (EDGAR Filer Manual, Volume I). */
export const edgarOpenAt = (epochMillis: number): boolean => {
  const parts = Object.fromEntries(newYorkClock.formatToParts(new Date(epochMillis)).map((p) => [p.type, p.value]))
  if (parts.weekday === "Sat" || parts.weekday === "Sun") return false
  const hour = Number(parts.hour)
  return hour >= 6 && hour < 22
}

/**
 * A source's interval at `now`: its FEEDS_FILE override, else SEC_POLL_SECONDS for SEC feeds while
 * EDGAR disseminates, POLL_SECONDS while a US session is open, POLL_SECONDS_CLOSED otherwise.
 */
export const intervalSeconds = (source: FeedSource, now: number, settings: CadenceSettings): number => {
  const open = source.kind === "sec-atom" ? edgarOpenAt(now) : sessionAt(now) !== "closed"
  if (open) return source.pollSeconds ?? (source.kind === "sec-atom" ? settings.secPollSeconds : settings.pollSeconds)
  return source.pollSecondsClosed ?? settings.pollSecondsClosed
}

/** Failed polls back off by doubling from the interval, to at most this (or the interval, if longer). */
const maxFailureBackoffMillis = 5 * 60_000

/** After a failure the delay is stretched by up to this share, so sources failing together drift apart. */
const failureJitter = 0.25

/**
 * How long a poller sleeps before its next poll: its interval, doubled per consecutive failure, and
 * never before the moment the server asked for (`retryAt`, epoch ms). After a failure the delay is
 * also stretched by `jitter` (0 ≤ jitter < 1, random per poll) times a quarter: never shortened, so
 * Retry-After is still honoured, but pollers that failed together don't come back in step.
 * The interval runs from the poll's start (`startedAt`, epoch ms): a poll that spent a second
 * fetching and deciding doesn't push every later poll of its source a second back.
 */
export const pollDelay = (input: {
  readonly now: number
  readonly intervalSeconds: number
  readonly consecutiveFailures: number
  readonly retryAt?: number | undefined
  readonly jitter?: number
  readonly startedAt?: number
}): Duration.Duration => {
  const interval = input.intervalSeconds * 1000
  const backoff =
    input.consecutiveFailures === 0
      ? interval
      : Math.min(
          interval * 2 ** Math.min(input.consecutiveFailures - 1, 20),
          Math.max(interval, maxFailureBackoffMillis)
        )
  const hinted = input.retryAt === undefined ? 0 : input.retryAt - input.now
  const stretch = input.consecutiveFailures === 0 ? 1 : 1 + failureJitter * (input.jitter ?? 0)
  const elapsed = input.startedAt === undefined ? 0 : Math.max(0, input.now - input.startedAt)
  return Duration.millis(Math.round(Math.max(backoff * stretch - elapsed, hinted * stretch, 0)))
}
