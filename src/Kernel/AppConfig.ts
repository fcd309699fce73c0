import { Config, ConfigError, Effect, Either, FiberRef, Option, Redacted } from "effect"
import { redactUrl, scrubUrls } from "./Scrub.js"

/**
 * Every setting the bot reads, in one service, so that a bad value anywhere fails at start-up
 * before any work, and every bad variable is named in one message (Config.all accumulates errors).
 */

/** Whitespace inside is refused too: WHATWG URL parsing would quietly percent-encode it. */
export const isHttpUrl = (value: string): boolean => {
  if (/\s/.test(value)) return false
  try {
    const url = new URL(value)
    return url.protocol === "http:" || url.protocol === "https:"
  } catch {
    return false
  }
}

interface CheckOptions {
  /** Never echo the value. */
  readonly secret?: boolean
  /** Echo the value without its URL password and query values. */
  readonly url?: boolean
}

/** Like Config.validate, but the error names the variable, so the start-up report can too. */
const checked =
  <A>(name: string, message: string, valid: (value: A) => boolean, options?: CheckOptions) =>
  (self: Config.Config<A>): Config.Config<A> =>
    Config.mapOrFail(self, (value) => {
      if (valid(value)) return Either.right(value)
      if (options?.secret) return Either.left(ConfigError.InvalidData([name], message))
      const shown = options?.url && typeof value === "string" ? redactUrl(value) : value
      return Either.left(ConfigError.InvalidData([name], `${message}, got ${JSON.stringify(shown)}`))
    })

const integerAtLeast = (name: string, min: number, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    checked(name, `Expected an integer >= ${min}`, (n) => n >= min)
  )

const numberAtLeast = (name: string, min: number, fallback: number) =>
  Config.number(name).pipe(
    Config.withDefault(fallback),
    checked(name, `Expected a number >= ${min}`, (n) => n >= min)
  )

/** "1"/"0" and "true"/"false", as .env files commonly write them. */
const flag = (name: string, fallback: boolean) => Config.boolean(name).pipe(Config.withDefault(fallback))

/** An unset or empty variable is "not configured"; anything else must be an http(s) URL. */
const optionalHttpUrl = (name: string, options?: { readonly secret: boolean }) =>
  Config.string(name).pipe(
    Config.withDefault(""),
    checked(name, "Expected an http(s) URL", (value) => value.trim() === "" || isHttpUrl(value.trim()), {
      url: true,
      ...options
    }),
    Config.map((value) => (value.trim() === "" ? Option.none<string>() : Option.some(value.trim())))
  )

const optionalSecretUrl = (name: string) =>
  optionalHttpUrl(name, { secret: true }).pipe(Config.map(Option.map((url) => Redacted.make(url))))

const httpUrl = (name: string, fallback: string) =>
  Config.string(name).pipe(
    Config.withDefault(fallback),
    checked(name, "Expected an http(s) URL", isHttpUrl, { url: true })
  )

const optionalString = (name: string) =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.map((value) => (value.trim() === "" ? Option.none<string>() : Option.some(value.trim())))
  )

/** Unset or empty: SQLite in DATA_DIR. Otherwise a postgres:// URL; it may hold a password, so it is never echoed. */
const optionalDatabaseUrl = (name: string) =>
  Config.string(name).pipe(
    Config.withDefault(""),
    checked(
      name,
      "Expected a postgres:// or postgresql:// URL",
      (value) => isDatabaseUrl(value) || value.trim() === "",
      {
        secret: true
      }
    ),
    Config.map((value) => (value.trim() === "" ? Option.none() : Option.some(Redacted.make(value.trim()))))
  )

export const isDatabaseUrl = (value: string): boolean => {
  try {
    const url = new URL(value.trim())
    return (url.protocol === "postgres:" || url.protocol === "postgresql:") && url.hostname !== ""
  } catch {
    return false
  }
}

const optionalSecret = (name: string) => optionalString(name).pipe(Config.map(Option.map((v) => Redacted.make(v))))

export const QuotesOnOutage = ["send", "hold"] as const

export const SqliteSynchronous = ["OFF", "NORMAL", "FULL", "EXTRA"] as const

/** No source is polled more often than this; a setting or FEEDS_FILE override below it is a config error. */
export const pollFloorSeconds = 1

const runner = Config.all({
  pollSeconds: integerAtLeast("POLL_SECONDS", pollFloorSeconds, 2),
  pollSecondsClosed: integerAtLeast("POLL_SECONDS_CLOSED", pollFloorSeconds, 60),
  secPollSeconds: integerAtLeast("SEC_POLL_SECONDS", pollFloorSeconds, 1),
  cycleTimeoutSeconds: integerAtLeast("CYCLE_TIMEOUT_SECONDS", 1, 120),
  shutdownGraceSeconds: integerAtLeast("SHUTDOWN_GRACE_SECONDS", 0, 3),
  alertConsecutiveEmptyCycles: integerAtLeast("ALERT_CONSECUTIVE_EMPTY_CYCLES", 0, 5)
})

const storage = Config.all({
  dataDir: Config.string("DATA_DIR").pipe(Config.withDefault("./data")),
  walMode: flag("SQLITE_WAL_MODE", true),
  synchronous: Config.literal(...SqliteSynchronous)("SQLITE_SYNCHRONOUS").pipe(Config.withDefault("NORMAL" as const)),
  cacheSize: Config.integer("SQLITE_CACHE_SIZE").pipe(Config.withDefault(-64_000)),
  mmapSize: integerAtLeast("SQLITE_MMAP_SIZE", 0, 268_435_456),
  busyTimeoutMs: integerAtLeast("SQLITE_BUSY_TIMEOUT_MS", 0, 5_000),
  seenTtlDays: integerAtLeast("SEEN_TTL_DAYS", 1, 7),
  databaseUrl: optionalDatabaseUrl("DATABASE_URL")
})

const filters = Config.all({
  minScore: numberAtLeast("MIN_SCORE", 0, 1),
  priceFloor: numberAtLeast("PRICE_FLOOR", 0, 0),
  priceCeiling: numberAtLeast("PRICE_CEILING", 0, 0),
  maxAlertsPerCycle: integerAtLeast("MAX_ALERTS_PER_CYCLE", 0, 40),
  sourceMaxAlertsPerPoll: integerAtLeast("SOURCE_MAX_ALERTS_PER_POLL", 0, 20),
  sourceMaxAlertsPerMinute: integerAtLeast("SOURCE_MAX_ALERTS_PER_MINUTE", 0, 30),
  maxArticleAgeMinutes: integerAtLeast("MAX_ARTICLE_AGE_MINUTES", 0, 180),
  maxSecFilingAgeMinutes: integerAtLeast("MAX_SEC_FILING_AGE_MINUTES", 0, 240),
  allowOtcTickers: flag("ALLOW_OTC_TICKERS", false),
  minVolume: numberAtLeast("MIN_VOLUME", 0, 0),
  minMarketCapUsd: numberAtLeast("MIN_MARKET_CAP_USD", 0, 0),
  maxMarketCapUsd: numberAtLeast("MAX_MARKET_CAP_USD", 0, 0),
  maxSharesOutstanding: numberAtLeast("MAX_SHARES_OUTSTANDING", 0, 0),
  quotesOnOutage: Config.all([
    Config.literal(...QuotesOnOutage)("QUOTES_ON_OUTAGE").pipe(Config.withDefault("send" as const)),
    Config.string("MARKET_DATA_PROVIDER").pipe(Config.withDefault("yahoo"))
  ]).pipe(
    Config.mapOrFail(([policy, provider]) =>
      policy === "hold" && provider.trim().toLowerCase() === "none"
        ? Either.left(
            ConfigError.InvalidData(
              ["QUOTES_ON_OUTAGE"],
              "hold needs a market data provider: with MARKET_DATA_PROVIDER=none every item would be held until it went stale"
            )
          )
        : Either.right(policy)
    )
  )
})

/**
 * A bot token and a channel id (both or neither) let delivery read the alert channel back
 * (https://discord.com/developers/docs/resources/message#get-channel-messages), to see whether an
 * ambiguous send landed before sending it again.
 */
const discord = Config.all({
  webhookUrl: optionalSecretUrl("DISCORD_WEBHOOK_URL"),
  adminWebhookUrl: optionalSecretUrl("DISCORD_ADMIN_WEBHOOK"),
  botToken: optionalSecret("DISCORD_BOT_TOKEN"),
  channelId: Config.string("DISCORD_CHANNEL_ID").pipe(
    Config.withDefault(""),
    checked("DISCORD_CHANNEL_ID", "Expected a Discord channel id (digits)", (id) => /^\d*$/.test(id.trim())),
    Config.map((id) => (id.trim() === "" ? Option.none<string>() : Option.some(id.trim())))
  ),
  apiBaseUrl: httpUrl("DISCORD_API_BASE_URL", "https://discord.com/api/v10").pipe(
    Config.map((url) => url.replace(/\/+$/, ""))
  )
}).pipe(
  Config.mapOrFail((settings) =>
    Option.isSome(settings.botToken) === Option.isSome(settings.channelId)
      ? Either.right(settings)
      : Either.left(
          Option.isSome(settings.botToken)
            ? ConfigError.InvalidData(["DISCORD_CHANNEL_ID"], "DISCORD_BOT_TOKEN needs the alert channel's id too")
            : ConfigError.InvalidData(["DISCORD_BOT_TOKEN"], "DISCORD_CHANNEL_ID needs a bot token to read the channel")
        )
  )
)

const sec = Config.all({
  userAgent: optionalString("SEC_USER_AGENT"),
  rateLimit: numberAtLeast("SEC_RATE_LIMIT", 0.1, 10).pipe(
    checked("SEC_RATE_LIMIT", "SEC allows at most 10 requests per second", (n) => n <= 10)
  ),
  xbrlUrl: httpUrl("SEC_XBRL_URL", "https://data.sec.gov").pipe(Config.map((url) => url.replace(/\/+$/, ""))),
  insiderMinValueUsd: numberAtLeast("INSIDER_MIN_VALUE_USD", 0, 25_000),
  insiderClusterDays: integerAtLeast("INSIDER_CLUSTER_DAYS", 1, 5),
  insiderAlertSales: flag("INSIDER_ALERT_SALES", false)
})

const feeds = Config.all({
  feedsFile: optionalString("FEEDS_FILE"),
  concurrency: integerAtLeast("FEED_CONCURRENCY", 1, 32),
  perHostConcurrency: integerAtLeast("FEED_PER_HOST_CONCURRENCY", 1, 6),
  timeoutSeconds: numberAtLeast("FEED_TIMEOUT_SECONDS", 0.1, 15),
  retries: integerAtLeast("FEED_RETRIES", 0, 2),
  retryBaseMillis: integerAtLeast("FEED_RETRY_BASE_MS", 1, 250),
  maxBytes: integerAtLeast("FEED_MAX_BYTES", 1_024, 5_000_000),
  breakerThreshold: integerAtLeast("FEED_BREAKER_THRESHOLD", 1, 3),
  breakerBackoffSeconds: integerAtLeast("FEED_BREAKER_BACKOFF_SECONDS", 1, 60),
  breakerMaxBackoffSeconds: integerAtLeast("FEED_BREAKER_MAX_BACKOFF_SECONDS", 1, 1_800),
  dollarTickers: flag("DOLLAR_TICKERS", false),
  secBaseUrl: httpUrl("SEC_BASE_URL", "https://www.sec.gov"),
  secTickersUrl: httpUrl("SEC_TICKERS_URL", "https://www.sec.gov/files/company_tickers_exchange.json")
})

export const LlmProviders = ["none", "openai", "anthropic", "google"] as const
export type LlmProvider = (typeof LlmProviders)[number]

/** The wire format LLM_PROVIDER=openai speaks: OpenAI's Responses API, or Chat Completions (local servers). */
export const LlmApis = ["responses", "chat-completions"] as const
/** enrich: post on keywords at once, edit the LLM verdict in; gate: wait for the LLM, which may veto. */
export const LlmModes = ["enrich", "gate"] as const
export type LlmMode = (typeof LlmModes)[number]
export type LlmApi = (typeof LlmApis)[number]

/** Comma-separated dollar amounts, e.g. "5,10,20"; empty disables. */
const dollarThresholds = (name: string, fallback: string) =>
  Config.string(name).pipe(
    Config.withDefault(fallback),
    Config.map((value) =>
      value
        .split(",")
        .map((part) => part.trim())
        .filter((part) => part !== "")
        .map(Number)
    ),
    checked(name, "Expected comma-separated positive dollar amounts such as 5,10,20", (amounts) =>
      amounts.every((amount) => Number.isFinite(amount) && amount > 0)
    ),
    Config.map((amounts) => [...amounts].sort((a, b) => a - b))
  )

const classify = Config.all({
  keywordsFile: optionalString("KEYWORDS_FILE"),
  llmProvider: Config.literal(...LlmProviders)("LLM_PROVIDER").pipe(Config.withDefault("none" as const)),
  llmModel: optionalString("LLM_MODEL"),
  llmBaseUrl: optionalHttpUrl("LLM_BASE_URL"),
  llmApi: Config.literal(...LlmApis)("LLM_API").pipe(Config.withDefault("responses" as const)),
  llmMode: Config.literal(...LlmModes)("LLM_MODE").pipe(Config.withDefault("enrich" as const)),
  llmApiKey: optionalSecret("LLM_API_KEY"),
  llmMinKeywordScore: numberAtLeast("LLM_MIN_KEYWORD_SCORE", 0, 1),
  llmConcurrency: integerAtLeast("LLM_CONCURRENCY", 1, 4),
  llmRpm: integerAtLeast("LLM_RPM", 0, 60),
  llmTimeoutSeconds: numberAtLeast("LLM_TIMEOUT_SECONDS", 0.1, 20),
  llmRetries: integerAtLeast("LLM_RETRIES", 0, 2),
  llmBreakerThreshold: integerAtLeast("LLM_BREAKER_THRESHOLD", 1, 5),
  llmCycleBudgetSeconds: numberAtLeast("LLM_CYCLE_BUDGET_SECONDS", 1, 45),
  llmDailyBudgetUsd: numberAtLeast("LLM_DAILY_BUDGET_USD", 0, 0),
  llmCostAlertUsd: dollarThresholds("LLM_COST_ALERT_USD", "5,10,20"),
  llmPricingFile: optionalString("LLM_PRICING_FILE"),
  secLlmCacheTtlHours: numberAtLeast("SEC_LLM_CACHE_TTL_HOURS", 0, 72),
  secExcerptChars: integerAtLeast("SEC_EXCERPT_CHARS", 0, 6_000),
  secSubmissionsUrl: httpUrl("SEC_SUBMISSIONS_URL", "https://data.sec.gov"),
  secDocumentWaitSeconds: numberAtLeast("SEC_DOCUMENT_WAIT_SECONDS", 0, 3)
}).pipe(
  Config.mapOrFail((settings) =>
    settings.llmProvider !== "none" && Option.isNone(settings.llmApiKey) && Option.isNone(settings.llmBaseUrl)
      ? Either.left(
          ConfigError.InvalidData(
            ["LLM_API_KEY"],
            `LLM_PROVIDER=${settings.llmProvider} needs an API key (or LLM_BASE_URL for a local server that needs none)`
          )
        )
      : Either.right(settings)
  )
)

const delivery = Config.all({
  stdoutFormat: Config.literal("card", "json")("ALERTS_STDOUT_FORMAT").pipe(Config.withDefault("card" as const)),
  alertsPerTickerPerMinute: integerAtLeast("ALERTS_PER_TICKER_PER_MINUTE", 0, 4),
  overflow: Config.literal("defer", "drop")("ALERT_OVERFLOW").pipe(Config.withDefault("defer" as const)),
  maxDelayMinutes: numberAtLeast("ALERT_MAX_DELAY_MINUTES", 0.1, 30),
  ambiguous: Config.literal("resend", "drop")("DELIVERY_AMBIGUOUS").pipe(Config.withDefault("resend" as const)),
  retryBaseSeconds: numberAtLeast("DELIVERY_RETRY_BASE_SECONDS", 0.01, 2),
  requestTimeoutSeconds: numberAtLeast("DISCORD_TIMEOUT_SECONDS", 0.1, 15),
  globalRequestsPerSecond: integerAtLeast("DISCORD_GLOBAL_RATE_LIMIT", 1, 50).pipe(
    checked("DISCORD_GLOBAL_RATE_LIMIT", "Discord allows at most 50 requests per second", (n) => n <= 50)
  ),
  onceDrainSeconds: integerAtLeast("ONCE_DRAIN_SECONDS", 0, 60),
  adminDedupeMinutes: numberAtLeast("ADMIN_DEDUPE_MINUTES", 0, 15),
  adminDigestMinutes: numberAtLeast("ADMIN_DIGEST_MINUTES", 0.01, 5),
  heartbeatMinutes: numberAtLeast("ADMIN_HEARTBEAT_MINUTES", 0, 60),
  editMaxDelayMinutes: numberAtLeast("EDIT_MAX_DELAY_MINUTES", 0.1, 5),
  chartWaitSeconds: numberAtLeast("CHART_WAIT_SECONDS", 0, 2),
  eventWindowMinutes: numberAtLeast("EVENT_WINDOW_MINUTES", 0, 30),
  updateLookbackHours: numberAtLeast("ALERT_UPDATE_LOOKBACK_HOURS", 0, 24)
})

/** 127.0.0.0/8, ::1 and localhost: only this machine can reach a server bound there. */
export const isLoopbackHost = (host: string): boolean => {
  const name = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
  return name === "localhost" || name === "::1" || /^127(\.\d{1,3}){3}$/.test(name)
}

const observability = Config.all({
  otlpEndpoint: optionalHttpUrl("OTEL_EXPORTER_OTLP_ENDPOINT"),
  serviceName: Config.string("OTEL_SERVICE_NAME").pipe(
    Config.withDefault("catalyst-bot"),
    checked("OTEL_SERVICE_NAME", "Expected a non-empty name", (name) => name.trim() !== "")
  ),
  healthPort: integerAtLeast("HEALTH_PORT", 0, 8080).pipe(
    checked("HEALTH_PORT", "Expected a TCP port (0 turns the health server off)", (port) => port <= 65_535)
  ),
  healthHost: Config.string("HEALTH_HOST").pipe(Config.withDefault("127.0.0.1")),
  dashboardToken: optionalSecret("DASHBOARD_TOKEN")
}).pipe(
  // The dashboard is served by the health server: reachable from the network, it must ask for a token.
  Config.mapOrFail((values) =>
    values.healthPort !== 0 && !isLoopbackHost(values.healthHost) && Option.isNone(values.dashboardToken)
      ? Either.left(
          ConfigError.InvalidData(
            ["DASHBOARD_TOKEN"],
            `Required when HEALTH_HOST (${values.healthHost}) is not a loopback address: the dashboard would be open to the network`
          )
        )
      : Either.right(values)
  )
)

const outcomes = Config.all({
  archiveDays: integerAtLeast("ARCHIVE_DAYS", 1, 90),
  pollSeconds: integerAtLeast("OUTCOME_POLL_SECONDS", 1, 60),
  hitPct: numberAtLeast("OUTCOME_HIT_PCT", 0, 5),
  missedPct: numberAtLeast("OUTCOME_MISSED_PCT", 0, 10),
  filteredPerDay: integerAtLeast("OUTCOME_FILTERED_PER_DAY", 0, 100)
})

export const MarketDataProviders = ["yahoo", "tiingo", "none"] as const
export type MarketDataProviderName = (typeof MarketDataProviders)[number]

const market = Config.all({
  provider: Config.string("MARKET_DATA_PROVIDER").pipe(
    Config.withDefault("yahoo"),
    Config.map((value) => value.trim().toLowerCase()),
    checked(
      "MARKET_DATA_PROVIDER",
      `Expected one of ${MarketDataProviders.join(", ")}`,
      (value): value is MarketDataProviderName => (MarketDataProviders as ReadonlyArray<string>).includes(value)
    ),
    Config.map((value) => value as MarketDataProviderName)
  ),
  yahooBaseUrl: httpUrl("YAHOO_BASE_URL", "https://query1.finance.yahoo.com"),
  yahooConcurrency: integerAtLeast("YAHOO_CONCURRENCY", 1, 4),
  tiingoBaseUrl: httpUrl("TIINGO_BASE_URL", "https://api.tiingo.com"),
  tiingoApiKey: optionalSecret("TIINGO_API_KEY"),
  batchSize: integerAtLeast("QUOTE_BATCH_SIZE", 1, 50),
  rps: numberAtLeast("QUOTE_RPS", 0.1, 4),
  cacheMax: integerAtLeast("QUOTE_CACHE_MAX", 1, 5_000),
  cacheTtlSeconds: integerAtLeast("QUOTE_CACHE_TTL_SECONDS", 1, 60),
  timeoutSeconds: integerAtLeast("QUOTE_TIMEOUT_SECONDS", 1, 10),
  retries: integerAtLeast("QUOTE_RETRIES", 0, 2),
  breakerFailures: integerAtLeast("QUOTE_BREAKER_FAILURES", 1, 5),
  breakerBackoffSeconds: integerAtLeast("QUOTE_BREAKER_BACKOFF_SECONDS", 1, 30),
  barsCacheMax: integerAtLeast("BARS_CACHE_MAX", 1, 200),
  barsCacheTtlSeconds: integerAtLeast("BARS_CACHE_TTL_SECONDS", 1, 120),
  dailyLookbackDays: integerAtLeast("BARS_DAILY_LOOKBACK_DAYS", 2, 90)
})

export const ChartVariants = ["auto", "intraday", "daily"] as const

const charts = Config.all({
  workers: integerAtLeast("CHART_WORKERS", 1, 1),
  queueSize: integerAtLeast("CHART_QUEUE_SIZE", 0, 16),
  timeoutMs: integerAtLeast("CHART_TIMEOUT_MS", 100, 10_000),
  cacheSize: integerAtLeast("CHART_CACHE_SIZE", 1, 256),
  cacheTtlSeconds: integerAtLeast("CHART_CACHE_TTL_SECONDS", 1, 300),
  variant: Config.literal(...ChartVariants)("CHART_VARIANT").pipe(Config.withDefault("auto" as const)),
  workerIdleSeconds: integerAtLeast("CHART_WORKER_IDLE_SECONDS", 1, 120)
})

/**
 * ROUTES_FILE: which alerts go to which Discord webhook; MUTE_FILE: tickers and phrases to drop;
 * WATCHLIST_FILE: tickers whose alerts are marked (and, with WATCHLIST_BYPASS_FILTERS, skip the
 * price and score filters).
 */
const routing = Config.all({
  routesFile: optionalString("ROUTES_FILE"),
  muteFile: optionalString("MUTE_FILE"),
  watchlistFile: optionalString("WATCHLIST_FILE"),
  watchlistBypassFilters: flag("WATCHLIST_BYPASS_FILTERS", false)
})

/**
 * CLUSTER=1: `run` joins the runners on DATABASE_URL's PostgreSQL (@effect/cluster); RUNNER_HOST and
 * RUNNER_PORT are the address the other runners reach this one at; CLUSTER_LEASE_SECONDS is how long
 * a silent runner keeps its pollers and routes before another takes them over.
 */
const cluster = Config.all({
  enabled: flag("CLUSTER", false),
  runnerHost: Config.string("RUNNER_HOST").pipe(
    Config.withDefault("127.0.0.1"),
    checked("RUNNER_HOST", "Expected a host name or IP address", (value) => /^[\w.:-]+$/.test(value.trim()))
  ),
  runnerPort: Config.integer("RUNNER_PORT").pipe(
    Config.withDefault(34431),
    checked("RUNNER_PORT", "Expected a TCP port (1-65535)", (n) => n >= 1 && n <= 65535)
  ),
  leaseSeconds: integerAtLeast("CLUSTER_LEASE_SECONDS", 3, 6)
})

const settings = Config.all({
  runner,
  storage,
  filters,
  discord,
  sec,
  feeds,
  classify,
  delivery,
  observability,
  outcomes,
  market,
  charts,
  routing,
  cluster
})

export type Settings = Config.Config.Success<typeof settings>

export class AppConfig extends Effect.Service<AppConfig>()("Kernel/AppConfig", { effect: settings }) {}

/**
 * The environment variable behind each setting, for reports that speak the operator's language
 * (`doctor` prints `POLL_SECONDS=2`, not `runner.pollSeconds`). Typed against the settings, so a
 * setting added without its name here does not compile.
 */
export const settingNames: { readonly [S in keyof Settings]: { readonly [K in keyof Settings[S]]: string } } = {
  runner: {
    pollSeconds: "POLL_SECONDS",
    pollSecondsClosed: "POLL_SECONDS_CLOSED",
    secPollSeconds: "SEC_POLL_SECONDS",
    cycleTimeoutSeconds: "CYCLE_TIMEOUT_SECONDS",
    shutdownGraceSeconds: "SHUTDOWN_GRACE_SECONDS",
    alertConsecutiveEmptyCycles: "ALERT_CONSECUTIVE_EMPTY_CYCLES"
  },
  storage: {
    dataDir: "DATA_DIR",
    walMode: "SQLITE_WAL_MODE",
    synchronous: "SQLITE_SYNCHRONOUS",
    cacheSize: "SQLITE_CACHE_SIZE",
    mmapSize: "SQLITE_MMAP_SIZE",
    busyTimeoutMs: "SQLITE_BUSY_TIMEOUT_MS",
    seenTtlDays: "SEEN_TTL_DAYS",
    databaseUrl: "DATABASE_URL"
  },
  filters: {
    minScore: "MIN_SCORE",
    priceFloor: "PRICE_FLOOR",
    priceCeiling: "PRICE_CEILING",
    maxAlertsPerCycle: "MAX_ALERTS_PER_CYCLE",
    sourceMaxAlertsPerPoll: "SOURCE_MAX_ALERTS_PER_POLL",
    sourceMaxAlertsPerMinute: "SOURCE_MAX_ALERTS_PER_MINUTE",
    maxArticleAgeMinutes: "MAX_ARTICLE_AGE_MINUTES",
    maxSecFilingAgeMinutes: "MAX_SEC_FILING_AGE_MINUTES",
    allowOtcTickers: "ALLOW_OTC_TICKERS",
    minVolume: "MIN_VOLUME",
    minMarketCapUsd: "MIN_MARKET_CAP_USD",
    maxMarketCapUsd: "MAX_MARKET_CAP_USD",
    maxSharesOutstanding: "MAX_SHARES_OUTSTANDING",
    quotesOnOutage: "QUOTES_ON_OUTAGE"
  },
  discord: {
    webhookUrl: "DISCORD_WEBHOOK_URL",
    adminWebhookUrl: "DISCORD_ADMIN_WEBHOOK",
    botToken: "DISCORD_BOT_TOKEN",
    channelId: "DISCORD_CHANNEL_ID",
    apiBaseUrl: "DISCORD_API_BASE_URL"
  },
  sec: {
    userAgent: "SEC_USER_AGENT",
    rateLimit: "SEC_RATE_LIMIT",
    xbrlUrl: "SEC_XBRL_URL",
    insiderMinValueUsd: "INSIDER_MIN_VALUE_USD",
    insiderClusterDays: "INSIDER_CLUSTER_DAYS",
    insiderAlertSales: "INSIDER_ALERT_SALES"
  },
  feeds: {
    feedsFile: "FEEDS_FILE",
    concurrency: "FEED_CONCURRENCY",
    perHostConcurrency: "FEED_PER_HOST_CONCURRENCY",
    timeoutSeconds: "FEED_TIMEOUT_SECONDS",
    retries: "FEED_RETRIES",
    retryBaseMillis: "FEED_RETRY_BASE_MS",
    maxBytes: "FEED_MAX_BYTES",
    breakerThreshold: "FEED_BREAKER_THRESHOLD",
    breakerBackoffSeconds: "FEED_BREAKER_BACKOFF_SECONDS",
    breakerMaxBackoffSeconds: "FEED_BREAKER_MAX_BACKOFF_SECONDS",
    dollarTickers: "DOLLAR_TICKERS",
    secBaseUrl: "SEC_BASE_URL",
    secTickersUrl: "SEC_TICKERS_URL"
  },
  classify: {
    keywordsFile: "KEYWORDS_FILE",
    llmProvider: "LLM_PROVIDER",
    llmModel: "LLM_MODEL",
    llmBaseUrl: "LLM_BASE_URL",
    llmApi: "LLM_API",
    llmMode: "LLM_MODE",
    llmApiKey: "LLM_API_KEY",
    llmMinKeywordScore: "LLM_MIN_KEYWORD_SCORE",
    llmConcurrency: "LLM_CONCURRENCY",
    llmRpm: "LLM_RPM",
    llmTimeoutSeconds: "LLM_TIMEOUT_SECONDS",
    llmRetries: "LLM_RETRIES",
    llmBreakerThreshold: "LLM_BREAKER_THRESHOLD",
    llmCycleBudgetSeconds: "LLM_CYCLE_BUDGET_SECONDS",
    llmDailyBudgetUsd: "LLM_DAILY_BUDGET_USD",
    llmCostAlertUsd: "LLM_COST_ALERT_USD",
    llmPricingFile: "LLM_PRICING_FILE",
    secLlmCacheTtlHours: "SEC_LLM_CACHE_TTL_HOURS",
    secExcerptChars: "SEC_EXCERPT_CHARS",
    secSubmissionsUrl: "SEC_SUBMISSIONS_URL",
    secDocumentWaitSeconds: "SEC_DOCUMENT_WAIT_SECONDS"
  },
  delivery: {
    stdoutFormat: "ALERTS_STDOUT_FORMAT",
    alertsPerTickerPerMinute: "ALERTS_PER_TICKER_PER_MINUTE",
    overflow: "ALERT_OVERFLOW",
    maxDelayMinutes: "ALERT_MAX_DELAY_MINUTES",
    ambiguous: "DELIVERY_AMBIGUOUS",
    retryBaseSeconds: "DELIVERY_RETRY_BASE_SECONDS",
    requestTimeoutSeconds: "DISCORD_TIMEOUT_SECONDS",
    globalRequestsPerSecond: "DISCORD_GLOBAL_RATE_LIMIT",
    onceDrainSeconds: "ONCE_DRAIN_SECONDS",
    adminDedupeMinutes: "ADMIN_DEDUPE_MINUTES",
    adminDigestMinutes: "ADMIN_DIGEST_MINUTES",
    heartbeatMinutes: "ADMIN_HEARTBEAT_MINUTES",
    editMaxDelayMinutes: "EDIT_MAX_DELAY_MINUTES",
    chartWaitSeconds: "CHART_WAIT_SECONDS",
    eventWindowMinutes: "EVENT_WINDOW_MINUTES",
    updateLookbackHours: "ALERT_UPDATE_LOOKBACK_HOURS"
  },
  observability: {
    otlpEndpoint: "OTEL_EXPORTER_OTLP_ENDPOINT",
    serviceName: "OTEL_SERVICE_NAME",
    healthPort: "HEALTH_PORT",
    healthHost: "HEALTH_HOST",
    dashboardToken: "DASHBOARD_TOKEN"
  },
  outcomes: {
    archiveDays: "ARCHIVE_DAYS",
    pollSeconds: "OUTCOME_POLL_SECONDS",
    hitPct: "OUTCOME_HIT_PCT",
    missedPct: "OUTCOME_MISSED_PCT",
    filteredPerDay: "OUTCOME_FILTERED_PER_DAY"
  },
  market: {
    provider: "MARKET_DATA_PROVIDER",
    yahooBaseUrl: "YAHOO_BASE_URL",
    yahooConcurrency: "YAHOO_CONCURRENCY",
    tiingoBaseUrl: "TIINGO_BASE_URL",
    tiingoApiKey: "TIINGO_API_KEY",
    batchSize: "QUOTE_BATCH_SIZE",
    rps: "QUOTE_RPS",
    cacheMax: "QUOTE_CACHE_MAX",
    cacheTtlSeconds: "QUOTE_CACHE_TTL_SECONDS",
    timeoutSeconds: "QUOTE_TIMEOUT_SECONDS",
    retries: "QUOTE_RETRIES",
    breakerFailures: "QUOTE_BREAKER_FAILURES",
    breakerBackoffSeconds: "QUOTE_BREAKER_BACKOFF_SECONDS",
    barsCacheMax: "BARS_CACHE_MAX",
    barsCacheTtlSeconds: "BARS_CACHE_TTL_SECONDS",
    dailyLookbackDays: "BARS_DAILY_LOOKBACK_DAYS"
  },
  charts: {
    workers: "CHART_WORKERS",
    queueSize: "CHART_QUEUE_SIZE",
    timeoutMs: "CHART_TIMEOUT_MS",
    cacheSize: "CHART_CACHE_SIZE",
    cacheTtlSeconds: "CHART_CACHE_TTL_SECONDS",
    variant: "CHART_VARIANT",
    workerIdleSeconds: "CHART_WORKER_IDLE_SECONDS"
  },
  routing: {
    routesFile: "ROUTES_FILE",
    muteFile: "MUTE_FILE",
    watchlistFile: "WATCHLIST_FILE",
    watchlistBypassFilters: "WATCHLIST_BYPASS_FILTERS"
  },
  cluster: {
    enabled: "CLUSTER",
    runnerHost: "RUNNER_HOST",
    runnerPort: "RUNNER_PORT",
    leaseSeconds: "CLUSTER_LEASE_SECONDS"
  }
}

/** Building blocks for stage modules that add settings of their own. */
export const ConfigValues = {
  httpUrl,
  optionalHttpUrl,
  optionalSecret,
  optionalString,
  integerAtLeast,
  numberAtLeast,
  flag
}

/** The `.env` file start-up looked for, and the variables it supplied (those the environment left unset). */
export interface DotEnvSource {
  readonly path: string
  readonly found: boolean
  readonly keys: ReadonlySet<string>
}

/** Set by the CLI's `.env` layer, read by the start-up log and by config error reports. */
export const dotEnvSource = FiberRef.unsafeMake<DotEnvSource | null>(null)

const onlyMissing = (e: ConfigError.ConfigError): boolean =>
  e._op === "MissingData" || ((e._op === "And" || e._op === "Or") && onlyMissing(e.left) && onlyMissing(e.right))

/**
 * One line per bad variable: `POLL_SECONDS: Expected an integer value but received abc`. A value
 * that came from `.env` says so. When one source lacks a variable and the next has it but invalid,
 * only the invalid value is reported: the variable isn't missing, it is wrong. A URL in a message
 * loses its password and query values: the value may be a secret put in the wrong place.
 */
export const describeConfigError = (
  error: ConfigError.ConfigError,
  dotEnv: DotEnvSource | null = null
): ReadonlyArray<string> => {
  const lines: Array<string> = []
  const visit = (e: ConfigError.ConfigError): void => {
    switch (e._op) {
      case "Or":
        if (onlyMissing(e.left) !== onlyMissing(e.right)) return visit(onlyMissing(e.left) ? e.right : e.left)
        visit(e.left)
        visit(e.right)
        return
      case "And":
        visit(e.left)
        visit(e.right)
        return
      case "MissingData":
      case "InvalidData":
      case "SourceUnavailable":
      case "Unsupported": {
        const name = e.path.join("_") || "(config)"
        const message = e.message.replace(/^Expected \w+ to exist in the process context$/, "is required")
        const origin = dotEnv !== null && dotEnv.keys.has(name) ? ` (set in ${dotEnv.path})` : ""
        lines.push(scrubUrls(`${name}: ${message}`) + origin)
      }
    }
  }
  visit(error)
  return Array.from(new Set(lines))
}
