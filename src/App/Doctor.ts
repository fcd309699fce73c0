import * as SqlClient from "@effect/sql/SqlClient"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { ConfigProvider, Console, Data, Effect, Layer, Option, Redacted } from "effect"
import { AppConfig, settingNames, type Settings } from "../Kernel/AppConfig.js"
import { Outbox } from "../Delivery/Outbox.js"
import { Routes } from "../Delivery/Routes.js"
import { AdminChannel } from "../Kernel/AdminChannel.js"
import { tickerRows } from "../Feeds/CikTickers.js"
import { loadSources } from "../Feeds/Sources.js"
import { SeenStore } from "../Storage/SeenStore.js"
import { GOOGLE_OPENAI_URL, modelFor, OPENAI_URL } from "../Classification/Providers.js"

export type Verdict = "ok" | "warn" | "fail"

export interface Check {
  readonly name: string
  readonly verdict: Verdict
  readonly detail: string
}

export interface DoctorReport {
  /** Exactly what was printed, one entry a line. */
  readonly lines: ReadonlyArray<string>
  readonly checks: ReadonlyArray<Check>
  readonly failed: boolean
}

/** A URL's userinfo and query string can carry credentials; the rest of it is safe to print. */
const scrubUrl = (value: string): string => {
  if (!/^https?:\/\//i.test(value)) return value
  try {
    const url = new URL(value)
    if (url.username === "" && url.password === "" && url.search === "") return value
    const userinfo = url.username !== "" || url.password !== "" ? "<redacted>@" : ""
    const query = url.search !== "" ? "?<redacted>" : ""
    return `${url.protocol}//${userinfo}${url.host}${url.pathname}${query}`
  } catch {
    return value
  }
}

const show = (value: unknown): string => {
  if (Redacted.isRedacted(value)) return "<redacted>"
  if (Option.isOption(value)) return Option.match(value, { onNone: () => "(unset)", onSome: show })
  if (Array.isArray(value)) return value.map(show).join(",")
  return scrubUrl(String(value))
}

/** The value itself, secrets included, only to compare a setting with its default; never printed. */
const raw = (value: unknown): unknown => {
  if (Redacted.isRedacted(value)) return raw(Redacted.value(value))
  if (Option.isOption(value)) return Option.match(value, { onNone: () => null, onSome: raw })
  return value
}

const sameValue = (a: unknown, b: unknown) => JSON.stringify(raw(a)) === JSON.stringify(raw(b))

/**
 * `NAME=value` for each setting, named by its environment variable; only those that differ from the
 * defaults unless `all`. Secrets always print as <redacted>.
 */
export const settingLines = (
  settings: Settings,
  defaults: Option.Option<Settings>,
  all: boolean
): ReadonlyArray<string> => {
  const names = settingNames as Record<string, Record<string, string>>
  const lines = Object.entries(settings).flatMap(([section, values]) =>
    Object.entries(values as Record<string, unknown>).flatMap(([key, value]) => {
      const isDefault = Option.match(defaults, {
        onNone: () => false,
        onSome: (d) => sameValue(value, (d as unknown as Record<string, Record<string, unknown>>)[section]?.[key])
      })
      if (isDefault && !all) return []
      const name = names[section]?.[key] ?? `${section}.${key}`
      return [`  ${name}=${show(value)}${isDefault ? " (default)" : ""}`]
    })
  )
  if (all) return ["settings (--all):", ...lines]
  return lines.length === 0
    ? ["settings: all defaults (--all lists them)"]
    : ["settings that differ from the defaults (--all lists every one):", ...lines]
}

const databaseCheck = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // PostgreSQL checks its own pages; what it can say is that it answers, and which server it is.
  const engine = yield* sql.onDialectOrElse({
    pg: () =>
      Effect.map(sql<{ version: string }>`SHOW server_version`, ([row]) => ({
        healthy: true,
        detail: `PostgreSQL ${row?.version}`
      })),
    orElse: () =>
      Effect.gen(function* () {
        const [mode] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
        const [integrity] = yield* sql<{ quick_check: string }>`PRAGMA quick_check`
        return {
          healthy: integrity?.quick_check === "ok",
          detail: `journal_mode=${mode?.journal_mode}, integrity=${integrity?.quick_check}`
        }
      })
  })
  const seen = yield* (yield* SeenStore).count
  const pending = yield* (yield* Outbox).pendingCount
  return {
    name: "database",
    verdict: engine.healthy ? "ok" : "fail",
    detail: `${engine.detail}, ${seen} seen ids, ${pending} pending alerts`
  } satisfies Check
}).pipe(
  // The counts come from the tables' owners, over the doctor's own database connection.
  Effect.provide(
    Layer.mergeAll(SeenStore.DefaultWithoutDependencies, Outbox.DefaultWithoutDependencies).pipe(
      Layer.provide(Layer.merge(AdminChannel.Default, Routes.Default))
    )
  ),
  Effect.catchAllCause((cause) => Effect.succeed<Check>({ name: "database", verdict: "fail", detail: String(cause) }))
)

/** Never the error's own message: it carries the URL, and webhook URLs are secrets. */
const describeTransportError = (error: HttpClientError.HttpClientError): string => {
  const cause = error.cause as { code?: unknown; cause?: { code?: unknown } } | undefined
  const code = cause?.code ?? cause?.cause?.code
  return `${error.reason} error${typeof code === "string" ? ` (${code})` : ""}`
}

interface Answer {
  readonly status: number
  /** The body as JSON, or null when it isn't JSON. */
  readonly json: any
}

/** A request that got no answer; `reason` never contains the URL. */
class ProbeError extends Data.TaggedError("ProbeError")<{ readonly reason: string }> {}

/** One request with a short timeout. */
const ask = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request)
    const json: unknown = yield* response.json.pipe(Effect.orElseSucceed(() => null))
    return { status: response.status, json } as Answer
  }).pipe(
    Effect.scoped,
    Effect.mapError((error) => new ProbeError({ reason: describeTransportError(error) })),
    Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new ProbeError({ reason: "timed out" }) })
  )

const ok = (detail: string) => ({ verdict: "ok" as const, detail })
const warn = (detail: string) => ({ verdict: "warn" as const, detail })
const fail = (detail: string) => ({ verdict: "fail" as const, detail })

const check = (
  name: string,
  run: Effect.Effect<Omit<Check, "name">, ProbeError, HttpClient.HttpClient>
): Effect.Effect<Check, never, HttpClient.HttpClient> =>
  run.pipe(
    Effect.catchTag("ProbeError", (error) => Effect.succeed(fail(error.reason))),
    Effect.map((result) => ({ name, ...result }))
  )

const is2xx = (status: number) => status >= 200 && status < 300

/** A feed answers its own URL; redirects are followed by the client like the fetcher's. */
const feedCheck = (name: string, url: string, headers: Record<string, string>) =>
  check(
    name,
    Effect.map(ask(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeaders(headers))), ({ status }) =>
      status < 400 ? ok(`HTTP ${status}`) : fail(`HTTP ${status}`)
    )
  )

/** SEC_TICKERS_URL answers company_tickers_exchange.json or the older company_tickers.json, as CikTickers reads them. */
const secTickersCheck = (url: string, userAgent: string) =>
  check(
    "SEC tickers",
    Effect.map(ask(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeader("User-Agent", userAgent))), (answer) => {
      if (!is2xx(answer.status)) {
        return fail(
          answer.status === 403
            ? "HTTP 403: SEC refuses requests without a declared User-Agent or over 10 per second"
            : `HTTP ${answer.status}`
        )
      }
      const tickers = Option.match(tickerRows(answer.json), { onNone: () => 0, onSome: (rows) => rows.length })
      return tickers > 0
        ? ok(`${tickers} ticker${tickers === 1 ? "" : "s"}`)
        : fail("HTTP 200 but not the tickers JSON")
    })
  )

const PROBE_SYMBOL = "AAPL"

const marketCheck = (market: Settings["market"]) => {
  const name = `market data (${market.provider})`
  switch (market.provider) {
    case "none":
      return []
    case "yahoo":
      // The chart endpoint the adapter uses (v8/finance/chart), for a symbol that always trades.
      return [
        check(
          name,
          Effect.map(
            ask(
              HttpClientRequest.get(`${market.yahooBaseUrl.replace(/\/+$/, "")}/v8/finance/chart/${PROBE_SYMBOL}`).pipe(
                HttpClientRequest.setUrlParams({ interval: "1d", range: "1d" }),
                HttpClientRequest.setHeader("User-Agent", "Mozilla/5.0 (compatible; catalyst-bot/0.1)"),
                HttpClientRequest.acceptJson
              )
            ),
            (answer) => {
              const price = answer.json?.chart?.result?.[0]?.meta?.regularMarketPrice
              if (!is2xx(answer.status)) return fail(`chart for ${PROBE_SYMBOL}: HTTP ${answer.status}`)
              return typeof price === "number"
                ? ok(`chart for ${PROBE_SYMBOL}: ${price}`)
                : fail(`chart for ${PROBE_SYMBOL}: HTTP ${answer.status} without a price`)
            }
          )
        )
      ]
    case "tiingo":
      return [
        check(
          name,
          Option.match(market.tiingoApiKey, {
            onNone: () => Effect.succeed(fail("TIINGO_API_KEY is not set; MARKET_DATA_PROVIDER=tiingo needs it")),
            onSome: (key) =>
              // IEX top-of-book for one ticker (https://www.tiingo.com/documentation/iex), key in the header.
              Effect.map(
                ask(
                  HttpClientRequest.get(`${market.tiingoBaseUrl.replace(/\/+$/, "")}/iex/${PROBE_SYMBOL}`).pipe(
                    HttpClientRequest.setHeader("Authorization", `Token ${Redacted.value(key)}`),
                    HttpClientRequest.acceptJson
                  )
                ),
                (answer) =>
                  answer.status === 401 || answer.status === 403
                    ? fail(`TIINGO_API_KEY rejected (HTTP ${answer.status})`)
                    : is2xx(answer.status) && Array.isArray(answer.json)
                      ? ok(`quote for ${PROBE_SYMBOL}: key accepted`)
                      : fail(`quote for ${PROBE_SYMBOL}: HTTP ${answer.status}`)
              )
          })
        )
      ]
  }
}

/**
 * Whether a listed model id is the configured name: exactly, or as Google's OpenAI-compatible list
 * spells it (`models/gemini-2.5-flash`), Ollama's implicit tag (`llama3.2` is `llama3.2:latest`), or
 * an Anthropic alias of a dated id (`claude-haiku-4-5` → `claude-haiku-4-5-20251001`).
 */
const namesModel = (id: string, model: string) =>
  id === model ||
  id === `models/${model}` ||
  id === `${model}:latest` ||
  (id.startsWith(`${model}-`) && /^\d{8}$/.test(id.slice(model.length + 1)))

/**
 * The LLM for real, without a paid generation: the authenticated list-models
 * (https://platform.openai.com/docs/api-reference/models/list, https://docs.anthropic.com/en/api/models-list)
 * with the configured model looked up in it; then, for OpenAI-compatible servers, the route LLM_API
 * selects is posted an empty body, which a server that has the route rejects as invalid (400/422)
 * and one that lacks it answers 404/405/501.
 */
const llmCheck = (classify: Settings["classify"]) => {
  if (classify.llmProvider === "none") return []
  const provider = classify.llmProvider
  const model = modelFor(classify)
  const key = Option.map(classify.llmApiKey, Redacted.value)
  const base = Option.getOrElse(classify.llmBaseUrl, () =>
    provider === "anthropic" ? "https://api.anthropic.com" : provider === "google" ? GOOGLE_OPENAI_URL : OPENAI_URL
  ).replace(/\/+$/, "")
  const authenticate = (request: HttpClientRequest.HttpClientRequest) =>
    Option.match(key, {
      onNone: () => request,
      onSome: (key) =>
        provider === "anthropic"
          ? HttpClientRequest.setHeaders(request, { "x-api-key": key, "anthropic-version": "2023-06-01" })
          : HttpClientRequest.bearerToken(request, key)
    })
  const keyRejected = (status: number) =>
    status === 401 || status === 403
      ? Option.some(fail(`LLM_API_KEY ${Option.isSome(key) ? "rejected" : "missing"} (HTTP ${status})`))
      : Option.none()
  const route = provider === "openai" && classify.llmApi === "responses" ? "/responses" : "/chat/completions"

  return [
    check(
      `LLM (${provider})`,
      Effect.gen(function* () {
        const models = yield* ask(
          authenticate(
            HttpClientRequest.get(provider === "anthropic" ? `${base}/v1/models?limit=1000` : `${base}/models`)
          )
        )
        const rejected = keyRejected(models.status)
        if (Option.isSome(rejected)) return rejected.value
        if (!is2xx(models.status)) return fail(`list of models: HTTP ${models.status}`)
        const ids: ReadonlyArray<string> = Array.isArray(models.json?.data)
          ? models.json.data.flatMap((entry: any) => (typeof entry?.id === "string" ? [entry.id] : []))
          : []
        if (!ids.some((id) => namesModel(id, model))) {
          const offered = ids.length === 0 ? "none" : `${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", …" : ""}`
          return fail(`model ${model} is not offered (LLM_MODEL); the server lists: ${offered}`)
        }
        if (provider === "anthropic") return ok(`model ${model} listed`)
        const probe = yield* ask(
          authenticate(HttpClientRequest.post(`${base}${route}`)).pipe(HttpClientRequest.bodyUnsafeJson({}))
        )
        const probeRejected = keyRejected(probe.status)
        if (Option.isSome(probeRejected)) return probeRejected.value
        if (probe.status === 404 || probe.status === 405 || probe.status === 501) {
          return fail(
            route === "/responses"
              ? `model ${model} listed, but the server has no ${route} (HTTP ${probe.status}); set LLM_API=chat-completions for a chat-completions-only server`
              : `model ${model} listed, but the server has no ${route} (HTTP ${probe.status})`
          )
        }
        if (probe.status >= 500) return fail(`model ${model} listed, but ${route} answers HTTP ${probe.status}`)
        return ok(`model ${model} listed, ${route} answers`)
      })
    )
  ]
}

/** An empty export (https://opentelemetry.io/docs/specs/otlp/#otlphttp) that a receiver acknowledges with 2xx. */
const otlpCheck = (endpoint: string) =>
  check(
    "OTLP endpoint",
    Effect.map(
      ask(
        HttpClientRequest.post(endpoint).pipe(
          HttpClientRequest.appendUrl("/v1/traces"),
          HttpClientRequest.setBody(HttpBody.text(JSON.stringify({ resourceSpans: [] }), "application/json"))
        )
      ),
      ({ status }) => (is2xx(status) ? ok("accepts OTLP/JSON traces") : fail(`POST /v1/traces: HTTP ${status}`))
    )
  )

/**
 * Get Webhook with Token (https://discord.com/developers/docs/resources/webhook#get-webhook-with-token):
 * the webhook object when it is valid, 404 / 10015 Unknown Webhook once deleted, 401 for a wrong token.
 * A GET never posts, so the doctor sends nothing to the channel.
 */
const webhookCheck = (name: string, variable: string, url: Redacted.Redacted<string>) =>
  check(
    name,
    Effect.map(ask(HttpClientRequest.get(Redacted.value(url)).pipe(HttpClientRequest.acceptJson)), (answer) => {
      if (is2xx(answer.status) && typeof answer.json?.id === "string") {
        return ok(typeof answer.json.name === "string" ? `valid (webhook "${answer.json.name}")` : "valid")
      }
      if (answer.status === 404) {
        return fail(
          `Discord answers 404${answer.json?.code === 10015 ? " Unknown Webhook (10015)" : ""}: the webhook was deleted or ${variable} is wrong`
        )
      }
      if (answer.status === 401) return fail(`Discord answers 401: the token in ${variable} is wrong or was reset`)
      if (answer.status === 429) return warn("rate limited by Discord (HTTP 429); try again in a minute")
      return fail(`HTTP ${answer.status}`)
    })
  )

const verdictLine = (checks: ReadonlyArray<Check>): string => {
  const problems = checks.filter((c) => c.verdict === "fail")
  const warnings = checks.filter((c) => c.verdict === "warn")
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`
  const warningsPart =
    warnings.length === 0 ? "" : `${plural(warnings.length, "warning")}: ${warnings.map((c) => c.name).join(", ")}`
  if (problems.length > 0) {
    const problemsPart = `${plural(problems.length, "problem")}: ${problems.map((c) => c.name).join(", ")}`
    return `verdict: FAIL (${problemsPart}${warningsPart === "" ? "" : `; ${warningsPart}`})`
  }
  return warningsPart === "" ? "verdict: OK" : `verdict: OK (${warningsPart})`
}

/** The settings and every check, as `doctor` prints them; the dashboard's settings page shows the same report. */
export const doctorReport = Effect.fn("Doctor.report")(function* (options: { readonly all: boolean }) {
  const config = yield* AppConfig
  const defaults = yield* AppConfig.pipe(
    Effect.provide(AppConfig.Default),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map())),
    Effect.option
  )
  const sources = yield* loadSources({
    feedsFile: Option.getOrUndefined(config.feeds.feedsFile),
    secBaseUrl: config.feeds.secBaseUrl
  })
  const userAgent = config.sec.userAgent
  const endpoints = [
    ...sources
      .filter((source) => source.enabled)
      .map((source) =>
        source.kind !== "sec-atom"
          ? feedCheck(`feed ${source.name}`, source.url, {})
          : Option.match(userAgent, {
              onNone: () =>
                Effect.succeed<Check>({
                  name: `feed ${source.name}`,
                  verdict: "warn",
                  detail: "off until SEC_USER_AGENT is set"
                }),
              onSome: (ua) => feedCheck(`feed ${source.name}`, source.url, { "User-Agent": ua })
            })
      ),
    ...Option.toArray(userAgent).map((ua) => secTickersCheck(config.feeds.secTickersUrl, ua)),
    ...marketCheck(config.market),
    ...llmCheck(config.classify),
    ...Option.toArray(config.observability.otlpEndpoint).map(otlpCheck),
    ...Option.toArray(config.discord.webhookUrl).map((url) =>
      webhookCheck("discord webhook", "DISCORD_WEBHOOK_URL", url)
    ),
    ...Option.toArray(config.discord.adminWebhookUrl).map((url) =>
      webhookCheck("discord admin webhook", "DISCORD_ADMIN_WEBHOOK", url)
    )
  ]
  const checks: ReadonlyArray<Check> = [yield* databaseCheck, ...(yield* Effect.all(endpoints, { concurrency: 8 }))]
  const lines = [
    ...settingLines(config, defaults, options.all),
    ...checks.map((c) => `${c.verdict.toUpperCase().padEnd(4)} ${c.name}: ${c.detail}`),
    verdictLine(checks)
  ]
  return { lines, checks, failed: checks.some((c) => c.verdict === "fail") } satisfies DoctorReport
})

export const runDoctor = Effect.fn("Doctor.run")(function* (options: { readonly all: boolean }) {
  const report = yield* doctorReport(options)
  for (const line of report.lines) yield* Console.log(line)
  return report
})
