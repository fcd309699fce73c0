import { PlatformConfigProvider } from "@effect/platform"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { Config, ConfigProvider, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { ChartRenderer } from "../Charts/ChartRenderer.js"
import { Classifier } from "../Classification/Classifier.js"
import * as AdminDiscord from "../Delivery/AdminDiscord.js"
import * as DiscordSink from "../Delivery/AlertSink/Discord.js"
import * as StdoutSink from "../Delivery/AlertSink/Stdout.js"
import { Delivery, DeliveryWorker } from "../Delivery/Delivery.js"
import { DiscordWebhooks } from "../Delivery/Discord/DiscordWebhooks.js"
import { Outbox } from "../Delivery/Outbox.js"
import { CikTickers } from "../Feeds/CikTickers.js"
import { AdminChannel, AdminErrorLogger, AdminQueue } from "../Kernel/AdminChannel.js"
import { AlertLatency } from "../Kernel/AlertLatency.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { ErrorTracker } from "../Kernel/ErrorTracker.js"
import { SecClient } from "../Kernel/SecClient.js"
import { SqlLive } from "../Kernel/Sql.js"
import { StatusBoard } from "../Kernel/StatusBoard.js"
import { TracingLive } from "../Kernel/Tracing.js"
import { Backtest } from "../Outcomes/Backtest.js"
import { ItemArchive } from "../Outcomes/ItemArchive.js"
import { OutcomeTracker, OutcomeTrackerLoop } from "../Outcomes/OutcomeTracker.js"
import { Report } from "../Outcomes/Report.js"
import { Runner, RunnerLoop } from "../Runner/Runner.js"
import { AdminHeartbeat } from "./AdminHeartbeat.js"
import { HealthServerLive } from "./HealthCheck.js"

/**
 * The composition root: every command, the demo, the world tests and the benches build the bot
 * from here. Configuration is the only thing a caller changes (`withConfig`); the quote provider
 * and the LLM provider are chosen by MarketData and LlmAnalyst themselves, from the same config.
 */

/** Discord when DISCORD_WEBHOOK_URL is set, else stdout (ALERTS_STDOUT_FORMAT); same outbox either way. */
const AlertSinkLive = Layer.unwrapEffect(
  Effect.map(AppConfig, ({ discord, delivery }) =>
    Option.match(discord.webhookUrl, {
      onNone: () => StdoutSink.layer(delivery.stdoutFormat),
      onSome: (url) => DiscordSink.layer(url)
    })
  )
)

/** Admin notices go to DISCORD_ADMIN_WEBHOOK when set (with the errors digest), else only to the log. */
const AdminPosterLive = Layer.unwrapEffect(
  Effect.map(AppConfig, ({ discord }) =>
    Option.match(discord.adminWebhookUrl, {
      onNone: () => Layer.empty,
      onSome: (url) => Layer.merge(AdminDiscord.layer(url), AdminErrorLogger)
    })
  )
)

/** HttpClient, configuration and the one SQLite client (built once: see `SqlLive`). */
const Infrastructure = SqlLive.pipe(
  Layer.provideMerge(AppConfig.Default),
  Layer.provideMerge(NodeHttpClient.layerUndici)
)

/** Everything a cycle, a delivery and an outcome check need: the service graph of `run` and `once`. */
export const Services = Layer.mergeAll(
  Runner.Default,
  Outbox.Default,
  AdminChannel.Default,
  AdminQueue.Default,
  ChartRenderer.Default,
  Delivery.Default,
  StatusBoard.Default,
  ErrorTracker.Default,
  AlertLatency.Default,
  OutcomeTracker.Default
).pipe(
  Layer.provideMerge(AlertSinkLive),
  Layer.provideMerge(DiscordWebhooks.Default),
  Layer.provideMerge(Infrastructure)
)

/** The polling loop and the delivery fiber. */
const PipelineLoops = Layer.mergeAll(RunnerLoop, DeliveryWorker)

/** What runs beside the pipeline: the admin heartbeat, the health/metrics server and outcome tracking. */
const Companions = Layer.mergeAll(AdminHeartbeat, HealthServerLive, OutcomeTrackerLoop)

/**
 * `loops` over the services. The admin poster comes first, so its error logger sees every loop's
 * logs; tracing is provided outermost, so its scope closes last and the final export carries every span.
 */
const overServices = <ROut, E, RIn>(loops: Layer.Layer<ROut, E, RIn>) =>
  loops.pipe(Layer.provide(AdminPosterLive), Layer.provideMerge(Services), Layer.provide(TracingLive))

/** `run`: polling, delivery, admin heartbeat, health server and outcome tracking, until SIGINT/SIGTERM. */
export const Bot = overServices(Layer.merge(PipelineLoops, Companions))

/**
 * `Bot` without `PipelineLoops`, for callers that run cycles and drain the outbox themselves
 * (`runner.runCycle`, `delivery.awaitSettled`): the world fault tests and bench:cycle.
 */
export const SteppedBot = overServices(Companions)

/** `once`: the services, with tracing outermost; no loops, no admin poster. */
export const OnceLive = Services.pipe(Layer.provide(TracingLive))

/** `classify`: the keyword classifier and, with LLM_PROVIDER set, the LLM (its cache is in SQLite). */
export const ClassifyLive = Classifier.Default.pipe(Layer.provide(Layer.mergeAll(NodeHttpClient.layerUndici, SqlLive)))

/** `doctor`: configuration, the database and an HttpClient for the endpoint checks. */
export const DoctorLive = Layer.mergeAll(AppConfig.Default, SqlLive, NodeHttpClient.layerUndici)

/** `parse`: SEC filings get their tickers from the CIK map, as in a cycle. */
export const ParseLive = Layer.mergeAll(CikTickers.Default, SecClient.Default).pipe(Layer.provideMerge(DoctorLive))

/** `report`: delivered alerts' outcomes. */
export const ReportLive = Layer.mergeAll(Report.Default, AppConfig.Default)

/**
 * `backtest`: the archive through the classifier and filters, sending nothing. The classifier's LLM
 * stage wants an HttpClient; with LLM_PROVIDER=none (as the command sets) it never uses it.
 * The archive and SQL client are exposed too, for bench:backtest to seed them.
 */
export const BacktestLive = Layer.mergeAll(Backtest.Default, ItemArchive.Default, SqlLive).pipe(
  Layer.provide(NodeHttpClient.layerUndici)
)

/** `layer` configured by `values` alone: no environment, no .env (the demo, tests and benches). */
export const withConfig =
  (values: Record<string, string | number | boolean>) =>
  <ROut, E, RIn>(layer: Layer.Layer<ROut, E, RIn>) =>
    Layer.provide(
      layer,
      Layer.setConfigProvider(
        ConfigProvider.fromMap(new Map(Object.entries(values).map(([key, value]) => [key, String(value)])))
      )
    )

/** Logs go to stderr, so stdout stays clean for alert cards and JSON output. */
export const LoggingLive = Layer.unwrapEffect(
  Effect.map(Config.logLevel("LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info)), (level) =>
    Layer.merge(
      Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true })),
      Logger.minimumLogLevel(level)
    )
  )
)

/** `.env` in the working directory, for the variables the environment leaves unset. */
export const DotEnvLive = PlatformConfigProvider.layerDotEnvAdd(".env").pipe(Layer.provide(NodeContext.layer))
