import { SqlClient } from "@effect/sql"
import { HttpClient, type HttpClientError, HttpClientRequest } from "@effect/platform"
import { Console, Effect, Layer, Option, Redacted } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import { Outbox } from "../Delivery/Outbox.js"
import { loadSources } from "../Feeds/Sources.js"
import { SeenStore } from "../Storage/SeenStore.js"

export type Verdict = "ok" | "warn" | "fail"

export interface Check {
  readonly name: string
  readonly verdict: Verdict
  readonly detail: string
}

const show = (value: unknown): string => {
  if (Redacted.isRedacted(value)) return "<redacted>"
  if (Option.isOption(value)) return Option.match(value, { onNone: () => "(unset)", onSome: show })
  return String(value)
}

/** Every setting, flattened, with secrets shown only as <redacted>. */
export const configChecks = (config: object, prefix = ""): ReadonlyArray<Check> =>
  Object.entries(config).flatMap(([key, value]) =>
    typeof value === "object" && value !== null && !Redacted.isRedacted(value) && !Option.isOption(value)
      ? configChecks(value, `${prefix}${key}.`)
      : [{ name: `config ${prefix}${key}`, verdict: "ok" as const, detail: show(value) }]
  )

const databaseCheck = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [mode] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
  const [integrity] = yield* sql<{ quick_check: string }>`PRAGMA quick_check`
  const seen = yield* (yield* SeenStore).count
  const pending = yield* (yield* Outbox).pendingCount
  const healthy = integrity?.quick_check === "ok"
  return {
    name: "database",
    verdict: healthy ? "ok" : "fail",
    detail: `journal_mode=${mode?.journal_mode}, integrity=${integrity?.quick_check}, ${seen} seen ids, ${pending} pending alerts`
  } satisfies Check
}).pipe(
  // The counts come from the tables' owners, over the doctor's own database connection.
  Effect.provide(Layer.mergeAll(SeenStore.DefaultWithoutDependencies, Outbox.DefaultWithoutDependencies)),
  Effect.catchAllCause((cause) => Effect.succeed<Check>({ name: "database", verdict: "fail", detail: String(cause) }))
)

/** Never the error's own message: it carries the URL, and webhook URLs are secrets. */
const describeTransportError = (error: HttpClientError.HttpClientError): string => {
  const cause = error.cause as { code?: unknown; cause?: { code?: unknown } } | undefined
  const code = cause?.code ?? cause?.cause?.code
  return `${error.reason} error${typeof code === "string" ? ` (${code})` : ""}`
}

/** Reachability only: a GET with a short timeout, never a POST, so the doctor never sends an alert. */
export const endpointCheck = (name: string, url: string, headers: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeaders(headers)))
    const verdict: Verdict = response.status < 400 ? "ok" : response.status < 500 ? "warn" : "fail"
    return { name, verdict, detail: `HTTP ${response.status}` } satisfies Check
  }).pipe(
    Effect.scoped,
    Effect.timeout("5 seconds"),
    Effect.catchAll((error) =>
      Effect.succeed<Check>({
        name,
        verdict: "fail",
        detail: error._tag === "TimeoutException" ? "timed out" : describeTransportError(error)
      })
    )
  )

export const runDoctor = Effect.gen(function* () {
  const config = yield* AppConfig
  const sources = yield* loadSources({
    feedsFile: Option.getOrUndefined(config.feeds.feedsFile),
    secBaseUrl: config.feeds.secBaseUrl
  })
  const secHeaders = Option.match(config.sec.userAgent, {
    onNone: () => ({}),
    onSome: (userAgent): Record<string, string> => ({ "User-Agent": userAgent })
  })
  const marketBaseUrl: Record<string, string | null> = {
    yahoo: config.market.yahooBaseUrl,
    tiingo: config.market.tiingoBaseUrl,
    none: null
  }
  const marketUrl = marketBaseUrl[config.market.provider] ?? null
  const endpoints = [
    ...sources
      .filter((source) => source.enabled)
      .map((source) =>
        source.kind === "sec-atom" && Option.isNone(config.sec.userAgent)
          ? Effect.succeed<Check>({
              name: `feed ${source.name}`,
              verdict: "warn",
              detail: "off until SEC_USER_AGENT is set"
            })
          : endpointCheck(`feed ${source.name}`, source.url, source.kind === "sec-atom" ? secHeaders : {})
      ),
    ...(marketUrl === null ? [] : [endpointCheck(`market data (${config.market.provider})`, marketUrl)]),
    ...Option.toArray(config.classify.llmBaseUrl).map((url) =>
      endpointCheck(`LLM (${config.classify.llmProvider})`, url)
    ),
    ...Option.toArray(config.discord.webhookUrl).map((url) => endpointCheck("discord webhook", Redacted.value(url))),
    ...Option.toArray(config.discord.adminWebhookUrl).map((url) =>
      endpointCheck("discord admin webhook", Redacted.value(url))
    )
  ]
  const checks: ReadonlyArray<Check> = [
    ...configChecks(config),
    yield* databaseCheck,
    ...(yield* Effect.all(endpoints, { concurrency: 8 }))
  ]
  for (const check of checks) {
    yield* Console.log(`${check.verdict.toUpperCase().padEnd(4)} ${check.name}: ${check.detail}`)
  }
  return checks
})
