import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Clock, Data, Deferred, Duration, Effect, Metric, MetricBoundaries, Option, Queue } from "effect"
import { AppConfig } from "./AppConfig.js"

export class SecUserAgentMissing extends Data.TaggedError("SecUserAgentMissing") {
  override get message() {
    return 'SEC_USER_AGENT is not set. SEC fair-access policy requires a declared User-Agent such as "Example Capital ops@example.com"; SEC requests are refused until it is set.'
  }
}

type Lane = "priority" | "background"

export const secRequestWait = Metric.histogram(
  "sec_request_wait_seconds",
  MetricBoundaries.exponential({ start: 0.05, factor: 2, count: 10 }),
  "Time an SEC request waited for its slot in the shared budget, by lane"
)

/**
 * One SEC budget with two lanes: a dispenser hands out request slots spaced evenly (one per 1/rate s,
 * with 10% headroom), to a waiting live-feed request first, else to the oldest background one. Even
 * spacing rather than bursts means no one-second window at SEC's side sees more than SEC_RATE_LIMIT,
 * whatever the mix.
 */
const makeDispenser = (rate: number) =>
  Effect.gen(function* () {
    const spacing = Duration.millis(Math.ceil(1_100 / rate))
    const waiting: Record<Lane, Array<Deferred.Deferred<void>>> = { priority: [], background: [] }
    const wake = yield* Queue.sliding<void>(1)
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          const next = waiting.priority.shift() ?? waiting.background.shift()
          if (next === undefined) return yield* Queue.take(wake)
          // A waiter interrupted meanwhile has completed its own deferred: its slot goes to the next one.
          if (yield* Deferred.succeed(next, undefined)) yield* Effect.sleep(spacing)
        })
      )
    )
    return (lane: Lane) =>
      <A, E, R>(request: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
        Effect.gen(function* () {
          const slot = yield* Deferred.make<void>()
          waiting[lane].push(slot)
          const queuedAt = yield* Clock.currentTimeMillis
          yield* Queue.offer(wake, undefined)
          yield* Deferred.await(slot).pipe(Effect.onInterrupt(() => Deferred.interrupt(slot)))
          const waited = ((yield* Clock.currentTimeMillis) - queuedAt) / 1_000
          yield* Metric.update(Metric.tagged(secRequestWait, "lane", lane), waited)
          return yield* request
        })
  })

/**
 * The one door to sec.gov. Every SEC request, from any stage, passes one shared budget and carries
 * the declared User-Agent, so the process as a whole stays within fair access
 * (https://www.sec.gov/os/accessing-edgar-data). `priorityClient` is for the live filings feed,
 * whose latency is the alert's; `client` is for the rest (company_tickers.json, submissions,
 * filing documents), which waits while live-feed requests are queued.
 */
export class SecClient extends Effect.Service<SecClient>()("Kernel/SecClient", {
  scoped: Effect.gen(function* () {
    const { sec } = yield* AppConfig
    const http = yield* HttpClient.HttpClient
    const slot = yield* makeDispenser(sec.rateLimit)

    /** The configured client for a lane, or a clear refusal when SEC_USER_AGENT is unset. */
    const clientFor = (lane: Lane) =>
      Option.match(sec.userAgent, {
        onNone: () => Effect.fail(new SecUserAgentMissing()),
        onSome: (userAgent) =>
          Effect.succeed(
            http.pipe(
              HttpClient.mapRequest(HttpClientRequest.setHeader("User-Agent", userAgent)),
              HttpClient.transformResponse(slot(lane))
            )
          )
      })

    return { client: clientFor("background"), priorityClient: clientFor("priority"), userAgent: sec.userAgent } as const
  }),
  dependencies: [AppConfig.Default]
}) {}
