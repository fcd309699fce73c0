import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Data, Duration, Effect, Option, RateLimiter } from "effect"
import { AppConfig } from "./AppConfig.js"

export class SecUserAgentMissing extends Data.TaggedError("SecUserAgentMissing") {
  override get message() {
    return 'SEC_USER_AGENT is not set. SEC fair-access policy requires a declared User-Agent such as "Example Capital ops@example.com"; SEC requests are refused until it is set.'
  }
}

/**
 * The one door to sec.gov. Every SEC request, from any stage, passes one shared limiter and
 * carries the declared User-Agent, so the process as a whole stays within fair access.
 *
 * Requests are spaced evenly (one token per 1/rate s, with 10% headroom) rather than allowed to
 * burst, so no one-second window at SEC's side ever sees more than SEC_RATE_LIMIT requests.
 */
export class SecClient extends Effect.Service<SecClient>()("Kernel/SecClient", {
  scoped: Effect.gen(function* () {
    const { sec } = yield* AppConfig
    const http = yield* HttpClient.HttpClient
    const limit = yield* RateLimiter.make({
      limit: 1,
      interval: Duration.millis(Math.ceil(1_100 / sec.rateLimit)),
      algorithm: "token-bucket"
    })

    /** The configured client, or a clear refusal when SEC_USER_AGENT is unset. */
    const client = Option.match(sec.userAgent, {
      onNone: () => Effect.fail(new SecUserAgentMissing()),
      onSome: (userAgent) =>
        Effect.succeed(
          http.pipe(
            HttpClient.mapRequest(HttpClientRequest.setHeader("User-Agent", userAgent)),
            HttpClient.transformResponse(limit)
          )
        )
    })

    return { client, userAgent: sec.userAgent } as const
  }),
  dependencies: [AppConfig.Default]
}) {}
