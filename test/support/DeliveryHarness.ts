import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import { ChartRenderer } from "../../src/Charts/ChartRenderer.js"
import * as DiscordSink from "../../src/Delivery/AlertSink/Discord.js"
import { Delivery } from "../../src/Delivery/Delivery.js"
import { DiscordWebhooks } from "../../src/Delivery/Discord/DiscordWebhooks.js"
import { Outbox } from "../../src/Delivery/Outbox.js"
import { EditOutbox } from "../../src/Delivery/EditOutbox.js"
import { AdminChannel, AdminQueue } from "../../src/Kernel/AdminChannel.js"
import { AlertLatency } from "../../src/Kernel/AlertLatency.js"
import { AppConfig } from "../../src/Kernel/AppConfig.js"
import { ErrorTracker } from "../../src/Kernel/ErrorTracker.js"
import { SqlLive } from "../../src/Kernel/Sql.js"
import { StatusBoard } from "../../src/Kernel/StatusBoard.js"
import { configLayer } from "./TestLayers.js"
import { DatabaseWatch } from "../../src/Kernel/DatabaseWatch.js"

const NoCharts = ChartRenderer.Test({ forAlert: () => Effect.succeed({ _tag: "NoBars" } as const) })

/**
 * Delivery as the bot builds it, to a Discord webhook at `url`, with the outbox in `dataDir` and the
 * settings of `config` (the environment, as strings). Charts are skipped unless `charts` draws them.
 */
export const discordDelivery = (
  url: string,
  dataDir: string,
  config: Record<string, string | number> = {},
  charts: Layer.Layer<ChartRenderer> = NoCharts
) =>
  Delivery.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(DiscordSink.layer(Redacted.make(url))),
    Layer.provideMerge(
      Layer.mergeAll(
        Outbox.Default,
        EditOutbox.Default,
        charts,
        AdminChannel.Default,
        AdminQueue.Default,
        DiscordWebhooks.Default,
        ErrorTracker.Default,
        AlertLatency.Default,
        DatabaseWatch.Default
      )
    ),
    Layer.provideMerge(Layer.mergeAll(NodeHttpClient.layerUndici, SqlLive, StatusBoard.Default, AppConfig.Default)),
    Layer.provide(configLayer({ DATA_DIR: dataDir, ALERTS_PER_TICKER_PER_MINUTE: 0, ...config })),
    // Each failed attempt logs a warning; with 25 alerts failing on purpose, only errors are worth seeing.
    Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
  )

export interface OutboxRecord {
  readonly id: number
  readonly status: string
  readonly attempts: number
  readonly message_id: string | null
  readonly last_error: string | null
  readonly maybe_sent: number
}

export const outboxRecords = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<OutboxRecord>`SELECT id, status, attempts, message_id, last_error, maybe_sent FROM outbox ORDER BY id`
)

type Embed = { readonly title: string; readonly footer?: { readonly text: string } }

export const embedOf = (payload: Record<string, unknown>) => (payload["embeds"] as ReadonlyArray<Embed>)[0]!

/** Every alert embed Discord received, in order, with the id of the message that carried it (packed or alone). */
export const embedsOf = (messages: ReadonlyArray<{ readonly id: string; readonly payload: Record<string, unknown> }>) =>
  messages.flatMap((message) =>
    (message.payload["embeds"] as ReadonlyArray<Embed>).map((embed) => ({
      messageId: message.id,
      title: embed.title,
      footer: embed.footer?.text ?? "",
      repeat: (embed.footer?.text ?? "").split(" · ").includes("possible repeat")
    }))
  )

/** Marked by the bot as a send that may repeat an earlier one. */
export const markedAsRepeat = (payload: Record<string, unknown>) =>
  (embedOf(payload).footer?.text ?? "").split(" · ").includes("possible repeat")

/** Resolves after `ms` of real time, whatever clock the test runs on. */
export const realPause = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

export const waitUntil = (what: string, condition: () => boolean, timeoutMs = 20_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${what}`)
      yield* realPause(20)
    }
  })
