import { Clock, Duration, Effect, Metric, Ref } from "effect"
import { Secrets } from "./Secrets.js"

export interface ErrorEvent {
  /** Where it surfaced: `cycle`, `feed`, `delivery`, … */
  readonly stage: string
  /** What kind: an error `_tag`, or a short name such as `TimedOut`. */
  readonly tag: string
  readonly message: string
  /** Feed name, ticker, … when there is one. */
  readonly subject?: string
}

export interface ErrorSample extends ErrorEvent {
  readonly at: number
}

export interface ErrorCount {
  readonly stage: string
  readonly tag: string
  readonly total: number
  /** Within the recent window (`recentWindow`). */
  readonly recent: number
  readonly lastAt: number
  readonly lastMessage: string
}

export interface ErrorReport {
  readonly windowMinutes: number
  readonly recentTotal: number
  readonly counts: ReadonlyArray<ErrorCount>
  readonly samples: ReadonlyArray<ErrorSample>
}

/** Errors counted in /health as "recent". */
export const recentWindow = Duration.minutes(15)
/** Bounded memory: the newest samples overall, plus one timestamp per error in the recent window (capped). */
const maxSamples = 50
const maxRecentPerKey = 1_000

export const errorsTotal = Metric.counter("errors_total", { description: "Errors by stage and tag" })

interface Entry {
  readonly stage: string
  readonly tag: string
  total: number
  recent: Array<number>
  lastAt: number
  lastMessage: string
}

interface State {
  readonly entries: Map<string, Entry>
  samples: Array<ErrorSample>
}

/**
 * One place that counts errors by stage and tag and keeps the latest samples, so /health can say
 * what has been going wrong lately, and operators get one throttled digest instead of a flood.
 */
export class ErrorTracker extends Effect.Service<ErrorTracker>()("Kernel/ErrorTracker", {
  effect: Effect.gen(function* () {
    const state = yield* Ref.make<State>({ entries: new Map(), samples: [] })
    const windowMillis = Duration.toMillis(recentWindow)
    const { scrub } = yield* Secrets

    const record = Effect.fn("ErrorTracker.record")(function* (reported: ErrorEvent) {
      // Messages end up in /health, the heartbeat and admin digests: no secret may ride along.
      const event: ErrorEvent = {
        ...reported,
        message: scrub(reported.message),
        ...(reported.subject === undefined ? {} : { subject: scrub(reported.subject) })
      }
      const at = yield* Clock.currentTimeMillis
      yield* Ref.update(state, (current) => {
        const key = `${event.stage}\u0000${event.tag}`
        const entry = current.entries.get(key) ?? {
          stage: event.stage,
          tag: event.tag,
          total: 0,
          recent: [],
          lastAt: at,
          lastMessage: ""
        }
        entry.total += 1
        entry.recent = [...entry.recent.filter((t) => t > at - windowMillis), at].slice(-maxRecentPerKey)
        entry.lastAt = at
        entry.lastMessage = event.message
        current.entries.set(key, entry)
        current.samples = [...current.samples, { ...event, at }].slice(-maxSamples)
        return current
      })
      yield* Metric.increment(Metric.tagged(Metric.tagged(errorsTotal, "stage", event.stage), "tag", event.tag))
    })

    const report: Effect.Effect<ErrorReport> = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const { entries, samples } = yield* Ref.get(state)
      const counts = Array.from(entries.values(), (entry) => ({
        stage: entry.stage,
        tag: entry.tag,
        total: entry.total,
        recent: entry.recent.filter((t) => t > now - windowMillis).length,
        lastAt: entry.lastAt,
        lastMessage: entry.lastMessage
      })).sort((a, b) => b.recent - a.recent || b.lastAt - a.lastAt)
      return {
        windowMinutes: Duration.toMinutes(recentWindow),
        recentTotal: counts.reduce((sum, count) => sum + count.recent, 0),
        counts,
        samples: samples.filter((sample) => sample.at > now - windowMillis).reverse()
      }
    }).pipe(Effect.withSpan("ErrorTracker.report"))

    return { record, report } as const
  }),
  dependencies: [Secrets.Default]
}) {}
