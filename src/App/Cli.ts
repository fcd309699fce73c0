import { Args, Command, Options, ValidationError } from "@effect/cli"
import {
  Cause,
  Chunk,
  Clock,
  ConfigError,
  ConfigProvider,
  Console,
  Data,
  Duration,
  Effect,
  FiberRef,
  Option,
  Redacted
} from "effect"
import type { NormalizedItem } from "../Kernel/Domain.js"
import { Backtest, renderBacktest } from "../Outcomes/Backtest.js"
import { Classifier } from "../Classification/Classifier.js"
import { AppConfig, describeConfigError, dotEnvSource, isDatabaseUrl } from "../Kernel/AppConfig.js"
import { copySqliteToPostgres } from "../Kernel/DatabaseCopy.js"
import { StorageError } from "../Kernel/Sql.js"
import { FollowUp } from "../Delivery/FollowUp.js"
import { Delivery } from "../Delivery/Delivery.js"
import { ErrorTracker } from "../Kernel/ErrorTracker.js"
import { Outbox } from "../Delivery/Outbox.js"
import { parseLookback, renderMarkdown, Report, writeReport } from "../Outcomes/Report.js"
import { RouteReplay, renderRouteReplay } from "../Outcomes/RouteReplay.js"
import {
  editWatchlistFile,
  listWatchlistFile,
  type WatchlistEdit,
  WatchlistEditError,
  type WatchlistEntry
} from "../MarketData/Watchlist.js"
import { Runner } from "../Runner/Runner.js"
import * as Layers from "./Layers.js"
import { outboxCommand } from "./OutboxCommand.js"
import { version } from "./Version.js"

/** The command already explained itself; only the exit code is left to set. */
class CommandFailed extends Data.TaggedError("CommandFailed") {}

/** A module only one command uses, imported when that command runs: `run` never loads the demo's world or doctor. */
const withModule = <M, A, E, R>(load: () => Promise<M>, use: (module: M) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.promise(load), use)

const run = Command.make("run", {}, () => Layers.launchBot).pipe(
  Command.withDescription("Poll the feeds and deliver alerts, forever (the default)")
)

const once = Command.make("once", {}, () =>
  Effect.gen(function* () {
    const runner = yield* Runner
    const delivery = yield* Delivery
    const followUp = yield* FollowUp
    const outbox = yield* Outbox
    const errors = yield* ErrorTracker
    const { delivery: settings } = yield* AppConfig
    yield* delivery.recover()
    // Everything due is drained, rows an earlier process left included; the counts are this run's.
    const before = yield* outbox.counts()
    const result = yield* runner.runCycle
    const settled = yield* delivery.awaitSettled(0, Duration.seconds(settings.onceDrainSeconds))
    // LLM verdicts (LLM_MODE=enrich), late charts, and edits an earlier process left pending.
    const edits = yield* followUp.drain(Duration.seconds(settings.onceDrainSeconds))
    const after = yield* outbox.counts()
    const drained = {
      delivered: after.delivered - before.delivered,
      deferred: after.pending + after.sending + after.deferred,
      failed: after.dead + after.uncertain - (before.dead + before.uncertain),
      dropped: after.dropped - before.dropped,
      timedOut: settled.timedOut
    }
    const sendErrors = (yield* errors.report).counts.filter((count) => count.stage === "delivery")
    // A failed send whose row is still open (a dead webhook, connection refused) is a failed delivery.
    const deliveryFailed = drained.failed > 0 || (sendErrors.length > 0 && after.pending + after.sending > 0)
    if (result._tag !== "Completed") {
      yield* Console.error(
        result._tag === "Failed"
          ? `cycle failed: ${result.reason}`
          : result._tag === "TimedOut"
            ? "cycle timed out"
            : "cycle stopped: the database went away (DATABASE_URL)"
      )
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
    const routes = yield* outbox.routesOf(
      summary.outcomes.filter((item) => item.outcome === "alerted").map((item) => item.itemId)
    )
    for (const item of summary.outcomes) {
      // Only with ROUTES_FILE: without it every alert takes the one `default` route.
      const taken = routes.get(item.itemId) ?? []
      const routed = taken.length > 0 && taken.join() !== "default" ? ` → routes: ${taken.join(", ")}` : ""
      yield* Console.log(
        `${item.outcome.padEnd(9)} ${item.source}: ${item.title}${item.reason ? ` — ${item.reason}` : ""}${routed}`
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
    if (edits.sent + edits.pending > 0) {
      yield* Console.log(`edits: ${edits.sent} sent, ${edits.pending} still queued`)
    }
    const failedFeeds = summary.feeds.filter((feed) => feed.status._tag === "Failed")
    if (summary.feeds.length > 0 && failedFeeds.length === summary.feeds.length) {
      yield* Console.error("every feed failed")
      return yield* Effect.fail(new CommandFailed())
    }
    if (deliveryFailed) {
      const last = sendErrors.map((count) => count.lastMessage).at(-1)
      yield* Console.error(`delivery failed${last === undefined ? "" : `: ${last}`}`)
      return yield* Effect.fail(new CommandFailed())
    }
  }).pipe(Effect.provide(Layers.OnceLive))
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
    }).pipe(Effect.provide(Layers.ClassifyLive))
).pipe(
  Command.withDescription(
    "Print the keyword classification of a headline as JSON, and the LLM's when LLM_PROVIDER is set"
  )
)

const doctor = Command.make(
  "doctor",
  { all: Options.boolean("all").pipe(Options.withDescription("list every setting, defaults included")) },
  ({ all }) =>
    withModule(
      () => import("./Doctor.js"),
      ({ runDoctor }) => runDoctor({ all })
    ).pipe(
      Effect.flatMap((report) => (report.failed ? Effect.fail(new CommandFailed()) : Effect.void)),
      Effect.provide(Layers.DoctorLive)
    )
).pipe(Command.withDescription("Check configuration, database and endpoints, with a verdict for each"))

const parse = Command.make(
  "parse",
  {
    input: Args.text({ name: "file-or-url" }),
    kind: Options.choice("kind", ["auto", "rss", "atom", "sec-atom"]).pipe(Options.withDefault("auto" as const))
  },
  ({ input, kind }) =>
    withModule(
      () => import("../Feeds/Inspect.js"),
      ({ inspectFeed }) => inspectFeed(input, kind)
    ).pipe(
      Effect.flatMap((items) => Effect.forEach(items, (item) => Console.log(JSON.stringify(item)), { discard: true })),
      Effect.catchTag("InspectError", (error) =>
        Effect.zipRight(Console.error(error.message), Effect.fail(new CommandFailed()))
      ),
      Effect.provide(Layers.ParseLive)
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
    }).pipe(Effect.provide(Layers.ReportLive))
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
      Effect.provide(Layers.BacktestLive),
      withOverrides({
        LLM_PROVIDER: "none",
        ...Option.match(minScore, { onNone: () => ({}), onSome: (score) => ({ MIN_SCORE: String(score) }) }),
        ...Option.match(keywords, { onNone: () => ({}), onSome: (file) => ({ KEYWORDS_FILE: file }) })
      })
    )
).pipe(Command.withDescription("Re-run classification and filters over archived items, send nothing, score the result"))

const routesTest = Command.make(
  "test",
  {
    days: Options.integer("days").pipe(Options.withDefault(7), Options.withDescription("look back this many days"))
  },
  ({ days }) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const result = yield* (yield* RouteReplay).run(now - days * 86_400_000)
      yield* Console.log(renderRouteReplay(result, days))
    }).pipe(Effect.provide(Layers.RouteReplayLive), withOverrides({ LLM_PROVIDER: "none" }))
).pipe(
  Command.withDescription(
    "Replay the item archive of the last N days through ROUTES_FILE: alerts per route, 3 examples each"
  )
)

const routes = Command.make("routes", {}, () => Effect.void).pipe(
  Command.withDescription("Check what ROUTES_FILE does"),
  Command.withSubcommands([routesTest])
)

/** WATCHLIST_FILE, which `watch` edits: the file the running bot re-reads. */
const watchlistPath = Effect.flatMap(AppConfig, ({ routing }) =>
  Option.match(routing.watchlistFile, {
    onNone: () => new WatchlistEditError({ message: "WATCHLIST_FILE is not set: it names the watchlist file to edit" }),
    onSome: Effect.succeed
  })
)

const watchLine = (entry: WatchlistEntry) =>
  [
    entry.ticker,
    ...((entry.tags ?? []).length === 0 ? [] : [`tags ${entry.tags!.join(", ")}`]),
    ...(entry.note === undefined ? [] : [`note: ${entry.note}`])
  ].join("  ")

/** A watch command's failure is one line (the file or the ticker at fault), and a non-zero exit. */
const watchCommand = <A, R>(body: (path: string) => Effect.Effect<A, WatchlistEditError, R>) =>
  Effect.flatMap(watchlistPath, body).pipe(
    Effect.catchTag("WatchlistEditError", (error) =>
      Effect.zipRight(Console.error(error.message), Effect.fail(new CommandFailed()))
    ),
    Effect.provide(Layers.WatchLive)
  )

const editWatchlist = (edit: WatchlistEdit, done: string) =>
  watchCommand((path) =>
    Effect.flatMap(editWatchlistFile(path, edit), (entries) =>
      Console.log(`${done} (${path}: ${entries.length} ticker(s))`)
    )
  )

const watchTicker = Args.text({ name: "ticker" }).pipe(Args.withDescription("the ticker, e.g. ACME or BRK-B"))

const watchAdd = Command.make(
  "add",
  {
    ticker: watchTicker,
    note: Options.text("note").pipe(Options.optional, Options.withDescription("why it is watched")),
    tags: Options.text("tag").pipe(
      Options.repeated,
      Options.withDescription("a tag routes can select on (watchlist_tags); repeat for several")
    )
  },
  ({ ticker, note, tags }) =>
    editWatchlist(
      { _tag: "Add", ticker, tags, ...Option.match(note, { onNone: () => ({}), onSome: (text) => ({ note: text }) }) },
      `${ticker.toUpperCase()} is on the watchlist`
    )
).pipe(Command.withDescription("Add a ticker to WATCHLIST_FILE, or give a listed one a note or more tags"))

const watchRemove = Command.make("remove", { ticker: watchTicker }, ({ ticker }) =>
  editWatchlist({ _tag: "Remove", ticker }, `${ticker.toUpperCase()} is off the watchlist`)
).pipe(Command.withDescription("Remove a ticker from WATCHLIST_FILE"))

const watchList = Command.make("list", {}, () =>
  watchCommand((path) =>
    Effect.flatMap(listWatchlistFile(path), (entries) =>
      Console.log(entries.length === 0 ? `${path}: no tickers` : entries.map(watchLine).join("\n"))
    )
  )
).pipe(Command.withDescription("Print the tickers of WATCHLIST_FILE with their tags and notes"))

const watch = Command.make("watch", {}, () => Effect.void).pipe(
  Command.withDescription("Edit WATCHLIST_FILE (the running bot picks up the change without a restart)"),
  Command.withSubcommands([watchAdd, watchRemove, watchList])
)

const demo = Command.make(
  "demo",
  {
    output: Options.directory("output").pipe(
      Options.withDefault("demo-output"),
      Options.withDescription("where each alert's embed JSON and chart PNGs are written")
    )
  },
  ({ output }) =>
    withModule(
      () => import("./Demo.js"),
      ({ runDemo }) => runDemo({ outputDir: output, pollSeconds: 2, drainTimeout: Duration.seconds(20) })
    )
).pipe(
  Command.withDescription(
    "Start a simulated market on 127.0.0.1 and run the bot against it; alerts land in demo-output/"
  )
)

const migrate = Command.make(
  "migrate",
  {
    to: Options.text("to").pipe(
      Options.withDescription("PostgreSQL URL (postgres://…) to copy the SQLite database in DATA_DIR into")
    )
  },
  ({ to }) =>
    Effect.gen(function* () {
      // Never echoed: the URL may carry a password.
      if (!isDatabaseUrl(to)) {
        return yield* new StorageError({ message: "--to: expected a postgres:// or postgresql:// URL" })
      }
      const copies = yield* copySqliteToPostgres(Redacted.make(to.trim()))
      for (const { table, rows, copied } of copies) {
        const kept = rows - copied
        yield* Console.log(`${table}: ${rows} rows, ${copied} copied${kept > 0 ? `, ${kept} already there` : ""}`)
      }
    }).pipe(Effect.provide(Layers.MigrateLive))
).pipe(
  Command.withDescription(
    "Copy every table of the SQLite database in DATA_DIR to PostgreSQL (migrating it first); running it again copies nothing twice"
  )
)

const root = Command.make("catalyst-bot", {}, () => Layers.launchBot).pipe(
  Command.withDescription("Catalyst alerts for small-cap traders, from press-release wires and SEC EDGAR"),
  Command.withSubcommands([
    run,
    once,
    classify,
    doctor,
    parse,
    report,
    backtest,
    demo,
    outboxCommand,
    routes,
    watch,
    migrate
  ])
)

export const cli = Command.run(root, { name: "catalyst-bot", version })

/** User errors get one readable message; only genuine bugs print a stack trace. */
export const reportFailure = (cause: Cause.Cause<unknown>) => {
  const failure = Chunk.head(Cause.failures(cause))
  if (Option.isNone(failure)) {
    return Cause.isInterruptedOnly(cause) ? Effect.void : Console.error(Cause.pretty(cause))
  }
  const error = failure.value
  if (ConfigError.isConfigError(error)) {
    return Effect.flatMap(FiberRef.get(dotEnvSource), (dotEnv) =>
      Console.error(
        `Invalid configuration:\n${describeConfigError(error, dotEnv)
          .map((line) => `  ${line}`)
          .join("\n")}`
      )
    )
  }
  if (ValidationError.isValidationError(error) || error instanceof CommandFailed) return Effect.void
  const tagged = error as { _tag?: string; message?: string }
  return Console.error(`${tagged._tag ?? "Error"}: ${tagged.message ?? String(error)}`)
}
