import * as FileSystem from "@effect/platform/FileSystem"
import * as PlatformConfigProvider from "@effect/platform/PlatformConfigProvider"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Config, ConfigProvider, Effect, FiberRef, Layer, Logger, LogLevel, Option, Schedule } from "effect"
import { resolve } from "node:path"
import { ChartRenderer } from "../Charts/ChartRenderer.js"
import { Classifier } from "../Classification/Classifier.js"
import * as AdminDiscord from "../Delivery/AdminDiscord.js"
import * as DiscordSink from "../Delivery/AlertSink/Discord.js"
import * as StdoutSink from "../Delivery/AlertSink/Stdout.js"
import { Delivery, DeliveryWorker } from "../Delivery/Delivery.js"
import { FollowUp, FollowUpWorker } from "../Delivery/FollowUp.js"
import { LateDetails } from "../Delivery/LateDetails.js"
import { DiscordWebhooks } from "../Delivery/Discord/DiscordWebhooks.js"
import { Outbox } from "../Delivery/Outbox.js"
import { Routes } from "../Delivery/Routes.js"
import { CikTickers } from "../Feeds/CikTickers.js"
import { AdminChannel, AdminErrorLogger, AdminQueue } from "../Kernel/AdminChannel.js"
import { AlertLatency } from "../Kernel/AlertLatency.js"
import { AppConfig, type DotEnvSource, dotEnvSource } from "../Kernel/AppConfig.js"
import { ErrorTracker } from "../Kernel/ErrorTracker.js"
import { InstanceLockLive } from "../Kernel/InstanceLock.js"
import { HttpClientLive } from "../Kernel/HttpClientLive.js"
import { SecClient } from "../Kernel/SecClient.js"
import { DatabaseLocked, SqlLive, SqlWritable } from "../Kernel/Sql.js"
import { StatusBoard } from "../Kernel/StatusBoard.js"
import { TracingLive } from "../Kernel/Tracing.js"
import { Backtest } from "../Outcomes/Backtest.js"
import { MuteList } from "../MarketData/MuteList.js"
import { Watchlist } from "../MarketData/Watchlist.js"
import { ItemArchive } from "../Outcomes/ItemArchive.js"
import { OutcomeTracker, OutcomeTrackerLoop } from "../Outcomes/OutcomeTracker.js"
import { Report } from "../Outcomes/Report.js"
import { RouteReplay } from "../Outcomes/RouteReplay.js"
import { Pollers } from "../Runner/Pollers.js"
import { WorkOwners } from "../Kernel/WorkOwners.js"
import { Runner } from "../Runner/Runner.js"
import { AdminHeartbeat } from "./AdminHeartbeat.js"
import { HealthServerLive } from "./HealthServer.js"

/**
 * The composition root: every command, the demo, the world tests and the benches build the bot
 * from here. Configuration is the only thing a caller changes (`withConfig`); the quote provider
 * and the LLM provider are chosen by MarketData and LlmAnalyst themselves, from the same config.
 */

/**
 * The routes of ROUTES_FILE, each to its Discord webhook; without it, Discord when DISCORD_WEBHOOK_URL
 * is set, else stdout (ALERTS_STDOUT_FORMAT); same outbox either way.
 */
const AlertSinkLive = Layer.unwrapEffect(
  Effect.map(AppConfig, ({ discord, delivery, routing }) =>
    Option.isSome(routing.routesFile)
      ? DiscordSink.routedLayer
      : Option.match(discord.webhookUrl, {
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
const Infrastructure = SqlWritable.pipe(Layer.provideMerge(AppConfig.Default), Layer.provideMerge(HttpClientLive))

/** Everything a cycle, a delivery and an outcome check need: the service graph of `run` and `once`. */
export const Services = Layer.mergeAll(
  Runner.Default,
  Outbox.Default,
  AdminChannel.Default,
  AdminQueue.Default,
  ChartRenderer.Default,
  Delivery.Default,
  FollowUp.Default,
  StatusBoard.Default,
  ErrorTracker.Default,
  AlertLatency.Default,
  OutcomeTracker.Default,
  LateDetails.Default,
  WorkOwners.Default
).pipe(
  Layer.provideMerge(AlertSinkLive),
  Layer.provideMerge(MuteList.Default),
  Layer.provideMerge(Watchlist.Default),
  Layer.provideMerge(DiscordWebhooks.Default),
  Layer.provideMerge(Infrastructure)
)

/**
 * Cluster mode's loops, its modules imported only when CLUSTER=1: @effect/cluster and the RPC stack under it
 * would otherwise stay resident in every single-process bot (bench:memory's idle figure).
 */
const ClusterLoops = Layer.unwrapEffect(
  Effect.promise(() =>
    Promise.all([
      import("./Cluster.js"),
      import("../Runner/ClusterPollers.js"),
      import("../Delivery/ClusterDelivery.js")
    ])
  ).pipe(
    Effect.map(([{ ShardingLive }, { ClusterPollers }, { ClusterFollowUps, ClusterRoutes }]) =>
      Layer.mergeAll(ClusterPollers, DeliveryWorker, ClusterRoutes, ClusterFollowUps).pipe(
        Layer.provide(ShardingLive),
        Layer.provide(Routes.Default)
      )
    )
  )
)

/**
 * The per-source pollers, the delivery fiber and its follow-ups (LLM verdicts and edits). With CLUSTER=1
 * the pollers, each route's delivery and the follow-ups are cluster singletons shared out among the
 * runners on DATABASE_URL; every runner's delivery fiber sends only the routes it holds.
 */
const PipelineLoops = Layer.unwrapEffect(
  Effect.map(AppConfig, ({ cluster }) =>
    cluster.enabled ? ClusterLoops : Layer.mergeAll(Pollers, DeliveryWorker, FollowUpWorker)
  )
)

/** What runs beside the pipeline: the admin heartbeat, the health/metrics server and outcome tracking. */
const Companions = Layer.mergeAll(AdminHeartbeat, HealthServerLive, OutcomeTrackerLoop)

/**
 * `loops` over the services. The admin poster comes first, so its error logger sees every loop's
 * logs; tracing is provided outermost, so its scope closes last and the final export carries every span.
 */
const overServices = <ROut, E, RIn>(loops: Layer.Layer<ROut, E, RIn>) =>
  loops.pipe(Layer.provide(AdminPosterLive), Layer.provideMerge(Services), Layer.provide(TracingLive))

/** One line at start-up: where the settings came from and where alerts will go (never the webhook URL: it is a secret). */
const StartupNotice = Layer.effectDiscard(
  Effect.gen(function* () {
    const { discord, delivery, storage, routing } = yield* AppConfig
    const dotEnv = yield* FiberRef.get(dotEnvSource)
    const settings =
      dotEnv === null
        ? "no .env read"
        : dotEnv.found
          ? `.env read from ${dotEnv.path}`
          : `no .env (looked for ${dotEnv.path})`
    const alerts = Option.isSome(routing.routesFile)
      ? `alerts go to the routes of ROUTES_FILE ${routing.routesFile.value}`
      : Option.isSome(discord.webhookUrl)
        ? "alerts go to the Discord webhook in DISCORD_WEBHOOK_URL"
        : `alerts go to stdout (${delivery.stdoutFormat}; DISCORD_WEBHOOK_URL is unset)`
    yield* Effect.logInfo(`catalyst-bot starting: ${settings}; ${alerts}; DATA_DIR ${resolve(storage.dataDir)}`)
  })
).pipe(Layer.provide(AppConfig.Default))

/**
 * `run`: polling, delivery, admin heartbeat, health server and outcome tracking, until SIGINT/SIGTERM.
 * The instance lock is taken before anything else is built, and held until the process ends.
 */
export const Bot = overServices(Layer.merge(PipelineLoops, Companions)).pipe(
  Layer.provide(StartupNotice),
  Layer.provide(InstanceLockLive)
)

/** Start-up retries on a locked database: after 2 s, then doubling, at most a minute apart. */
const lockedBackoff = Schedule.exponential("2 seconds").pipe(
  Schedule.union(Schedule.spaced("1 minute")),
  Schedule.jittered
)

/**
 * `run` launches `Bot`; a database locked by another process at start-up is waited out with
 * backoff, one line per attempt, instead of ending the process. Each attempt builds the graph anew.
 */
export const launchBot = Layer.launch(Bot).pipe(
  Effect.tapError((error) =>
    error instanceof DatabaseLocked ? Effect.logWarning(`${error.message}; trying again`) : Effect.void
  ),
  Effect.retry({ schedule: lockedBackoff, while: (error) => error instanceof DatabaseLocked })
)

/**
 * `Bot` without `PipelineLoops`, for callers that run cycles and drain the outbox themselves
 * (`runner.runCycle`, `delivery.awaitSettled`): the world fault tests and bench:cycle.
 */
export const SteppedBot = overServices(Companions)

/** `once`: the services, with tracing outermost; no loops, no admin poster; the instance lock first. */
export const OnceLive = Services.pipe(
  Layer.provide(TracingLive),
  Layer.provide(StartupNotice),
  Layer.provide(InstanceLockLive)
)

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

/** `routes test`: the archive through the classifier, the filters and ROUTES_FILE, sending nothing. */
export const RouteReplayLive = RouteReplay.Default.pipe(
  Layer.provide(Watchlist.Default),
  Layer.provide(NodeHttpClient.layerUndici)
)

/** `watch add|remove|list`: only the settings (WATCHLIST_FILE); the file is edited directly. */
export const WatchLive = AppConfig.Default

/** `migrate --to`: only the settings (DATA_DIR and the SQLite ones); the copier builds both clients itself. */
export const MigrateLive = AppConfig.Default

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

const dotEnvKeys = (text: string): Array<string> =>
  text.split(/\r?\n/).flatMap((line) => {
    const match = /^\s*(?:export\s+)?([\w.-]+)\s*=/.exec(line)
    return match?.[1] === undefined ? [] : [match[1]]
  })

/**
 * A `.env` file, for the variables the environment leaves unset. Which file was looked for, and
 * which variables it supplied, is kept for the start-up log and for config errors.
 */
export const dotEnvLayer = (path: string) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const text = yield* fs.readFileString(path).pipe(Effect.option)
      const source: DotEnvSource = {
        path,
        found: Option.isSome(text),
        keys: new Set(Option.getOrElse(Option.map(text, dotEnvKeys), () => []).filter((key) => !(key in process.env)))
      }
      return Layer.merge(PlatformConfigProvider.layerDotEnvAdd(path), Layer.locallyScoped(dotEnvSource, source))
    })
  ).pipe(Layer.provide(NodeContext.layer))

/** `.env` in the working directory. */
export const DotEnvLive = Layer.suspend(() => dotEnvLayer(resolve(".env")))
