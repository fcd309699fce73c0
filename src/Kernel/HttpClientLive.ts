import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import Undici from "@effect/platform-node/Undici"
import { Effect, Layer } from "effect"

/** How long an idle connection stays open when the server doesn't say (its `Keep-Alive: timeout=` wins). */
const keepAliveMillis = 60_000

/**
 * The bot's HttpClient: undici, one connection pool per origin, connections kept between polls.
 * undici's own default closes an idle connection after 4 s (https://undici.nodejs.org/#/docs/api/Client),
 * so a feed polled every few seconds would reconnect, TLS handshake included, on every poll.
 */
export const HttpClientLive = NodeHttpClient.layerUndiciWithoutDispatcher.pipe(
  Layer.provide(
    Layer.scoped(
      NodeHttpClient.Dispatcher,
      Effect.acquireRelease(
        Effect.sync(() => new Undici.Agent({ keepAliveTimeout: keepAliveMillis, keepAliveMaxTimeout: 600_000 })),
        (agent) => Effect.promise(() => agent.destroy())
      )
    )
  )
)
