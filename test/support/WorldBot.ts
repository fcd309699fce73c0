import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Option, Redacted } from "effect"
import { AdminChannel, AdminQueue } from "../../src/AdminChannel.js"
import * as DiscordSink from "../../src/AlertSink/Discord.js"
import { AlertLatency } from "../../src/AlertLatency.js"
import { ChartRenderer } from "../../src/ChartRenderer.js"
import { AppConfig } from "../../src/Config.js"
import { Delivery } from "../../src/Delivery.js"
import { DiscordWebhooks } from "../../src/Discord/Webhook.js"
import { ErrorTracker } from "../../src/ErrorTracker.js"
import { Outbox } from "../../src/Outbox.js"
import { Runner } from "../../src/Runner.js"
import { SqlLive } from "../../src/Sql.js"
import { StatusBoard } from "../../src/StatusBoard.js"
import type { World } from "../../src/World/World.js"
import { configLayer } from "./TestLayers.js"

/**
 * The bot's pipeline as `run` composes it (real Runner, Cycle, Delivery and Discord sink over
 * HttpClient and SQLite), pointed at a simulated world, for in-process fault tests. The loops are
 * not started: tests call `runner.runCycle` and `delivery.drainOnce` themselves.
 */
export const worldBot = (world: World, overrides: Record<string, string | number> = {}) =>
  Layer.mergeAll(
    Runner.Default,
    Outbox.Default,
    AdminChannel.Default,
    AdminQueue.Default,
    ChartRenderer.Default,
    Delivery.Default,
    StatusBoard.Default,
    ErrorTracker.Default,
    AlertLatency.Default
  ).pipe(
    Layer.provideMerge(
      Layer.unwrapEffect(
        Effect.map(AppConfig, ({ discord }) =>
          DiscordSink.layer(Option.getOrElse(discord.webhookUrl, () => Redacted.make("")))
        )
      )
    ),
    Layer.provideMerge(DiscordWebhooks.Default),
    Layer.provideMerge(SqlLive),
    Layer.provideMerge(AppConfig.Default),
    Layer.provideMerge(NodeHttpClient.layerUndici),
    Layer.provide(
      configLayer({
        FEED_RETRIES: 0,
        FEED_TIMEOUT_SECONDS: 2,
        LLM_RETRIES: 0,
        ALERTS_PER_TICKER_PER_MINUTE: 0,
        DELIVERY_RETRY_BASE_SECONDS: 0.05,
        ...world.env,
        ...overrides
      })
    )
  )
