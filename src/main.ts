#!/usr/bin/env node
import { Args, Command, Options, ValidationError } from "@effect/cli"
import { PlatformConfigProvider } from "@effect/platform"
import { NodeContext, NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import {
  Cause,
  Chunk,
  Clock,
  Config,
  ConfigError,
  ConfigProvider,
  Console,
  Data,
  Duration,
  Effect,
  Layer,
  Logger,
  LogLevel,
  Option
} from "effect"
import { AdminChannel, AdminErrorLogger, AdminQueue } from "./Kernel/AdminChannel.js"
import * as AdminDiscord from "./Delivery/AdminDiscord.js"
import { AdminHeartbeat } from "./App/AdminHeartbeat.js"
import * as DiscordSink from "./Delivery/AlertSink/Discord.js"
import { AlertLatency } from "./Kernel/AlertLatency.js"
import * as StdoutSink from "./Delivery/AlertSink/Stdout.js"
import { Backtest, renderBacktest } from "./Outcomes/Backtest.js"
import { ChartRenderer } from "./Charts/ChartRenderer.js"
import { Classifier } from "./Classification/Classifier.js"
import { AppConfig, describeConfigError } from "./Kernel/AppConfig.js"
import { Delivery, DeliveryWorker } from "./Delivery/Delivery.js"
import { runDemo } from "./App/Demo.js"
import { DiscordWebhooks } from "./Delivery/Discord/DiscordWebhooks.js"
import { CikTickers } from "./Feeds/CikTickers.js"
import { inspectFeed } from "./Feeds/Inspect.js"
import { runDoctor } from "./App/Doctor.js"
import type { NormalizedItem } from "./Kernel/Domain.js"
import { ErrorTracker } from "./Kernel/ErrorTracker.js"
import { HealthServerLive } from "./App/HealthCheck.js"
import { Outbox } from "./Delivery/Outbox.js"
import { outboxCommand } from "./App/OutboxCommand.js"
import { OutcomeTracker, OutcomeTrackerLoop } from "./Outcomes/OutcomeTracker.js"
import { parseLookback, renderMarkdown, Report, writeReport } from "./Outcomes/Report.js"
import { Runner, RunnerLoop } from "./Runner/Runner.js"
import { SecClient } from "./Kernel/SecClient.js"
import { SqlLive } from "./Kernel/Sql.js"
import { StatusBoard } from "./Kernel/StatusBoard.js"
import { TracingLive } from "./Kernel/Tracing.js"

/** The command already explained itself; only the exit code is left to set. */
class CommandFailed extends Data.TaggedError("CommandFailed") {}

/** Discord when DISCORD_WEBHOOK_URL is set, else stdout (ALERTS_STDOUT_FORMAT); same outbox either way. */
const SinkLive = Layer.unwrapEffect(
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

/** Everything a cycle needs, shared by `run` and `once`. */
const PipelineLive = Layer.mergeAll(
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
  Layer.provideMerge(SinkLive),
  Layer.provideMerge(DiscordWebhooks.Default),
  Layer.provideMerge(SqlLive),
  Layer.provideMerge(AppConfig.Default),
  Layer.provideMerge(NodeHttpClient.layerUndici)
)

/**
 * `run`: the polling loop, the delivery fiber, the admin heartbeat, the health server and outcome tracking, until
 * SIGINT/SIGTERM. Tracing is provided outermost: its scope closes last, so the final export carries every span.
 */
const BotLive = Layer.mergeAll(RunnerLoop, DeliveryWorker, AdminHeartbeat, HealthServerLive, OutcomeTrackerLoop).pipe(
  Layer.provide(AdminPosterLive),
  Layer.provide(PipelineLive),
  Layer.provide(TracingLive)
)

const run = Command.make("run", {}, () => Layer.launch(BotLive)).pipe(
  Command.withDescription("Poll the feeds and deliver alerts, forever (the default)")
)

const once = Command.make("once", {}, () =>
  Effect.gen(function* () {
    const runner = yield* Runner
    const delivery = yield* Delivery
    const outbox = yield* Outbox
    const { delivery: settings } = yield* AppConfig
    yield* delivery.recover()
    const before = yield* outbox.lastId
    const result = yield* runner.runCycle
    const drained = yield* delivery.awaitSettled(before, Duration.seconds(settings.onceDrainSeconds))
    if (result._tag !== "Completed") {
      yield* Console.error(result._tag === "Failed" ? `cycle failed: ${result.reason}` : "cycle timed out")
      return yield* Effect.fail(new CommandFailed())
    }
    const { summary } = result
    for (const feed of summary.feeds) {
      const status =
        feed.status._tag === "Ok"
          ? `ok: ${feed.status.items} items, ${feed.status.fresh} fresh`
          : feed.status._tag === "NotModified"
            ? "not modified"
            : `${feed.status._tag === "Failed" ? "failed" : "disabled"}: ${feed.status.reason}`
      yield* Console.log(`feed ${feed.name}: ${status}`)
    }
    for (const item of summary.outcomes) {
      yield* Console.log(
        `${item.outcome.padEnd(9)} ${item.source}: ${item.title}${item.reason ? ` — ${item.reason}` : ""}`
      )
    }
    for (const note of summary.notes) yield* Console.log(`note: ${note}`)
    yield* Console.log(
      `${summary.fetched} fetched, ${summary.new} new, ${summary.alerted} alerted in ${summary.durationMs} ms`
    )
    yield* Console.log(
      `delivery: ${drained.delivered} delivered, ${drained.deferred} deferred, ${drained.failed} failed` +
        (drained.dropped > 0 ? `, ${drained.dropped} dropped` : "") +
        (drained.timedOut ? ` (stopped waiting after ONCE_DRAIN_SECONDS=${settings.onceDrainSeconds})` : "")
    )
  }).pipe(Effect.provide(PipelineLive), Effect.provide(TracingLive))
).pipe(Command.withDescription("Run one cycle, print why each item did or didn't alert, then exit"))

const classify = Command.make(
  "classify",
  {
    headline: Args.text({ name: "headline" }).pipe(Args.withDescription("the headline to classify")),
    summary: Options.text("summary").pipe(Options.withDescription("the item's summary text"), Options.withDefault(""))
  },
  ({ headline, summary }) =>
    Effect.gen(function* () {
      const classifier = yield* Classifier
      const item: NormalizedItem = {
        id: "cli",
        source: "cli",
        kind: "rss",
        title: headline,
        summary,
        link: "",
        published: null,
        fetchedAt: new Date().toISOString(),
        tickers: []
      }
      const [classified] = yield* classifier.classify([item])
      const llm = classified?.classification.llm
      const output =
        llm === undefined || llm._tag === "Skipped"
          ? { keywords: classifier.keywords(item) }
          : { keywords: classifier.keywords(item), llm, combined: classified?.classification }
      yield* Console.log(JSON.stringify(output, null, 2))
    }).pipe(Effect.provide(Classifier.Default.pipe(Layer.provide(Layer.mergeAll(NodeHttpClient.layerUndici, SqlLive)))))
).pipe(
  Command.withDescription(
    "Print the keyword classification of a headline as JSON, and the LLM's when LLM_PROVIDER is set"
  )
)

const doctor = Command.make("doctor", {}, () =>
  runDoctor.pipe(
    Effect.flatMap((checks) =>
      checks.some((check) => check.verdict === "fail") ? Effect.fail(new CommandFailed()) : Effect.void
    ),
    Effect.provide(Layer.mergeAll(AppConfig.Default, SqlLive, NodeHttpClient.layerUndici))
  )
).pipe(Command.withDescription("Check configuration, database and endpoints, with a verdict for each"))

const parse = Command.make(
  "parse",
  {
    input: Args.text({ name: "file-or-url" }),
    kind: Options.choice("kind", ["auto", "rss", "atom", "sec-atom"]).pipe(Options.withDefault("auto" as const))
  },
  ({ input, kind }) =>
    inspectFeed(input, kind).pipe(
      Effect.flatMap((items) => Effect.forEach(items, (item) => Console.log(JSON.stringify(item)), { discard: true })),
      Effect.catchTag("InspectError", (error) =>
        Effect.zipRight(Console.error(error.message), Effect.fail(new CommandFailed()))
      ),
      Effect.provide(
        Layer.mergeAll(CikTickers.Default, SecClient.Default).pipe(
          Layer.provideMerge(Layer.mergeAll(AppConfig.Default, SqlLive, NodeHttpClient.layerUndici))
        )
      )
    )
).pipe(Command.withDescription("Print the normalised items of a feed file or URL, one JSON object per line"))

const format = Options.choice("format", ["md", "json"]).pipe(
  Options.withDefault("md" as const),
  Options.withDescription("md (tables) or json")
)

const report = Command.make(
  "report",
  {
    since: Options.text("since").pipe(
      Options.withDefault("7d"),
      Options.withDescription("look back: 30m, 24h, 7d, 2w")
    ),
    format,
    out: Options.text("out").pipe(
      Options.optional,
      Options.withDescription("directory for the report file and its chart (default DATA_DIR/reports)")
    )
  },
  ({ since, format, out }) =>
    Effect.gen(function* () {
      const lookback = yield* parseLookback("since", since)
      const outcomes = yield* (yield* Report).build(lookback)
      const text = format === "json" ? JSON.stringify(outcomes, null, 2) + "\n" : renderMarkdown(outcomes)
      const { storage } = yield* AppConfig
      const dir = Option.getOrElse(out, () => `${storage.dataDir}/reports`)
      const written = yield* writeReport(outcomes, text, format, dir)
      yield* Console.log(text)
      yield* Console.error(`wrote ${written.reportFile} and ${written.chartFile}`)
    }).pipe(Effect.provide(Layer.mergeAll(Report.Default, AppConfig.Default)))
).pipe(Command.withDescription("How delivered alerts moved the stock, per category, source and form type"))

/** The backtest's settings win over the environment; the LLM is never called for history. */
const withOverrides =
  (overrides: Record<string, string>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>) =>
    Effect.configProviderWith((current) =>
      Effect.withConfigProvider(
        self,
        ConfigProvider.fromMap(new Map(Object.entries(overrides))).pipe(ConfigProvider.orElse(() => current))
      )
    )

const backtest = Command.make(
  "backtest",
  {
    minScore: Options.float("min-score").pipe(Options.optional, Options.withDescription("MIN_SCORE to test")),
    keywords: Options.file("keywords", { exists: "yes" }).pipe(
      Options.optional,
      Options.withDescription("keyword file to test (as KEYWORDS_FILE)")
    ),
    since: Options.text("since").pipe(Options.optional, Options.withDescription("look back (default: whole archive)")),
    limit: Options.integer("limit").pipe(Options.withDefault(25), Options.withDescription("would-be alerts listed")),
    format
  },
  ({ minScore, keywords, since, limit, format }) =>
    Effect.gen(function* () {
      const lookback = Option.isSome(since) ? yield* parseLookback("since", since.value) : null
      const now = yield* Clock.currentTimeMillis
      const result = yield* (yield* Backtest).run({ since: lookback === null ? 0 : now - lookback, limit })
      yield* Console.log(
        format === "json" ? JSON.stringify(result, null, 2) : renderBacktest(result, Option.getOrNull(keywords))
      )
    }).pipe(
      // The classifier's LLM stage wants an HttpClient; with LLM_PROVIDER=none it never uses it.
      Effect.provide(Backtest.Default.pipe(Layer.provide(NodeHttpClient.layerUndici))),
      withOverrides({
        LLM_PROVIDER: "none",
        ...Option.match(minScore, { onNone: () => ({}), onSome: (score) => ({ MIN_SCORE: String(score) }) }),
        ...Option.match(keywords, { onNone: () => ({}), onSome: (file) => ({ KEYWORDS_FILE: file }) })
      })
    )
).pipe(Command.withDescription("Re-run classification and filters over archived items, send nothing, score the result"))

const demo = Command.make(
  "demo",
  {
    output: Options.directory("output").pipe(
      Options.withDefault("demo-output"),
      Options.withDescription("where each alert's embed JSON and chart PNGs are written")
    )
  },
  ({ output }) =>
    runDemo(
      // The whole bot, as `run` builds it, configured only by the world: no .env, no keys, no internet.
      (env) =>
        Layer.launch(BotLive).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
          Logger.withMinimumLogLevel(LogLevel.Warning)
        ),
      { outputDir: output, loopSeconds: 2, drainTimeout: Duration.seconds(20) }
    )
).pipe(
  Command.withDescription(
    "Start a simulated market on 127.0.0.1 and run the bot against it; alerts land in demo-output/"
  )
)

const root = Command.make("catalyst-bot", {}, () => Layer.launch(BotLive)).pipe(
  Command.withDescription("Catalyst alerts for small-cap traders, from press-release wires and SEC EDGAR"),
  Command.withSubcommands([run, once, classify, doctor, parse, report, backtest, demo, outboxCommand])
)

const cli = Command.run(root, { name: "catalyst-bot", version: "0.1.0" })

/** User errors get one readable message; only genuine bugs print a stack trace. */
const reportFailure = (cause: Cause.Cause<unknown>) => {
  const failure = Chunk.head(Cause.failures(cause))
  if (Option.isNone(failure)) {
    return Cause.isInterruptedOnly(cause) ? Effect.void : Console.error(Cause.pretty(cause))
  }
  const error = failure.value
  if (ConfigError.isConfigError(error)) {
    return Console.error(
      `Invalid configuration:\n${describeConfigError(error)
        .map((line) => `  ${line}`)
        .join("\n")}`
    )
  }
  if (ValidationError.isValidationError(error) || error instanceof CommandFailed) return Effect.void
  const tagged = error as { _tag?: string; message?: string }
  return Console.error(`${tagged._tag ?? "Error"}: ${tagged.message ?? String(error)}`)
}

/** Logs go to stderr, so stdout stays clean for alert cards and JSON output. */
const LoggingLive = Layer.unwrapEffect(
  Effect.map(Config.logLevel("LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info)), (level) =>
    Layer.merge(
      Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true })),
      Logger.minimumLogLevel(level)
    )
  )
)

const DotEnvLive = PlatformConfigProvider.layerDotEnvAdd(".env").pipe(Layer.provide(NodeContext.layer))

cli(process.argv).pipe(
  Effect.provide(LoggingLive),
  Effect.provide(NodeContext.layer),
  Effect.tapErrorCause(reportFailure),
  Effect.provide(DotEnvLive),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
