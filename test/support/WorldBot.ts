import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Option, Redacted } from "effect"
import { AdminChannel, AdminQueue } from "../../src/Kernel/AdminChannel.js"
import * as DiscordSink from "../../src/Delivery/AlertSink/Discord.js"
import { AlertLatency } from "../../src/Kernel/AlertLatency.js"
import { ChartRenderer } from "../../src/Charts/ChartRenderer.js"
import { AppConfig } from "../../src/Kernel/AppConfig.js"
import { Delivery } from "../../src/Delivery/Delivery.js"
import { DiscordWebhooks } from "../../src/Delivery/Discord/DiscordWebhooks.js"
import { ErrorTracker } from "../../src/Kernel/ErrorTracker.js"
import { Outbox } from "../../src/Delivery/Outbox.js"
import { Runner } from "../../src/Runner/Runner.js"
import { SqlLive } from "../../src/Kernel/Sql.js"
import { StatusBoard } from "../../src/Kernel/StatusBoard.js"
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
