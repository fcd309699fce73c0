import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Layers from "../src/App/Layers.js"
import { settingNames } from "../src/Kernel/AppConfig.js"
import { type DoctorReport, runDoctor } from "../src/App/Doctor.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import * as FakeOpenAi from "../src/World/FakeOpenAi.js"
import * as FakeOtlp from "../src/World/FakeOtlp.js"
import * as FakeQuotes from "../src/World/FakeQuotes.js"
import * as FakeSec from "../src/World/FakeSec.js"
import * as FakeWire from "../src/World/FakeWire.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

type Env = Record<string, string | number>

/** The doctor against `env`, with one RSS feed that works unless FEEDS_FILE says otherwise. */
const doctor = (env: Env, options: { readonly all?: boolean } = {}) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const wire = yield* FakeWire.make({ up: { body: FakeWire.globeNewswireRss([]) } })
    const feedsFile = join(dir, "feeds.json")
    writeFileSync(feedsFile, JSON.stringify([{ name: "Up", url: wire.feedUrl("up"), kind: "rss" }]))
    return yield* runDoctor({ all: options.all ?? false }).pipe(
      Effect.provide(Layers.DoctorLive),
      Effect.provide(configLayer({ DATA_DIR: dir, FEEDS_FILE: feedsFile, MARKET_DATA_PROVIDER: "none", ...env })),
      Effect.provide(Logger.remove(Logger.defaultLogger))
    )
  })

const checkNamed = (report: DoctorReport, name: string) => report.checks.find((check) => check.name === name)
const verdictLine = (report: DoctorReport) => report.lines[report.lines.length - 1]

describe("doctor", () => {
  it.scopedLive("against servers that work: every check OK, no WARN, a one-line OK verdict, no secret printed", () =>
    Effect.gen(function* () {
      const sec = yield* FakeSec.make({ tickers: [{ cik: 320193, ticker: "AAPL", title: "Apple Inc." }] })
      const quotes = yield* FakeQuotes.make()
      const llm = yield* FakeOpenAi.make({ models: ["gpt-4o-mini", "gpt-4o"], apiKey: "sk-very-secret" })
      const otlp = yield* FakeOtlp.make()
      const discord = yield* makeFakeDiscord()
      const dir = yield* tempDir
      const feedsFile = join(dir, "feeds.json")
      writeFileSync(
        feedsFile,
        JSON.stringify([
          {
            name: "Filings",
            url: `${sec.url}/cgi-bin/browse-edgar?action=getcurrent&type=8-K&count=100&output=atom`,
            kind: "sec-atom"
          }
        ])
      )
      const report = yield* doctor({
        FEEDS_FILE: feedsFile,
        SEC_USER_AGENT: "Example Capital ops@example.com",
        SEC_TICKERS_URL: `${sec.url}/files/company_tickers.json`,
        MARKET_DATA_PROVIDER: "yahoo",
        YAHOO_BASE_URL: quotes.url,
        LLM_PROVIDER: "openai",
        LLM_BASE_URL: llm.url,
        LLM_API_KEY: "sk-very-secret",
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        DISCORD_WEBHOOK_URL: discord.webhookUrl("1", "very-secret-token"),
        DISCORD_ADMIN_WEBHOOK: discord.webhookUrl("2", "admin-secret-token")
      })
      expect(report.checks.map((check) => check.name).sort()).toEqual(
        [
          "database",
          "feed Filings",
          "SEC tickers",
          "market data (yahoo)",
          "LLM (openai)",
          "OTLP endpoint",
          "discord webhook",
          "discord admin webhook"
        ].sort()
      )
      expect(report.checks.filter((check) => check.verdict !== "ok")).toEqual([])
      expect(report.lines.filter((line) => /^(WARN|FAIL)/.test(line))).toEqual([])
      expect(verdictLine(report)).toBe("verdict: OK")
      expect(report.failed).toBe(false)
      expect(report.lines).toContain("  LLM_API_KEY=<redacted>")
      expect(report.lines).toContain("  DISCORD_WEBHOOK_URL=<redacted>")
      const printed = report.lines.join("\n")
      for (const secret of ["sk-very-secret", "very-secret-token", "admin-secret-token"]) {
        expect(printed).not.toContain(secret)
      }
      // The LLM was asked for its models and had its route probed with an empty body: nothing generated.
      expect(llm.calls().map((call) => [call.path, call.body])).toEqual([["/responses", {}]])
      expect((yield* otlp.requests).map((request) => [request.path, request.status])).toEqual([["/v1/traces", 200]])
      expect(discord.messages).toEqual([])
      expect(sec.requests().every((request) => request.userAgent === "Example Capital ops@example.com")).toBe(true)
    })
  )

  it.scopedLive("names settings by their environment variables and shows only what differs from the defaults", () =>
    Effect.gen(function* () {
      const report = yield* doctor({ POLL_SECONDS: 30, CHART_WORKERS: 1, DOLLAR_TICKERS: "true" })
      const settings = report.lines.filter((line) => line.startsWith("  "))
      expect(settings).toContain("  POLL_SECONDS=30")
      expect(settings).toContain("  DOLLAR_TICKERS=true")
      expect(settings).toContain("  MARKET_DATA_PROVIDER=none")
      // CHART_WORKERS=1 is the default, and POLL_SECONDS_CLOSED was never set.
      expect(settings.some((line) => line.includes("CHART_WORKERS"))).toBe(false)
      expect(settings.some((line) => line.includes("POLL_SECONDS_CLOSED"))).toBe(false)
      expect(report.lines.some((line) => line.includes("runner.") || line.includes("loopSeconds"))).toBe(false)
    })
  )

  it.scopedLive("--all lists every setting once, by its variable, defaults marked", () =>
    Effect.gen(function* () {
      const report = yield* doctor({ POLL_SECONDS: 30, TIINGO_API_KEY: "tiingo-secret" }, { all: true })
      const settings = report.lines.filter((line) => line.startsWith("  "))
      const names = Object.values(settingNames).flatMap((section) => Object.values(section))
      expect(settings.map((line) => line.trim().split("=")[0]).sort()).toEqual([...names].sort())
      expect(new Set(names).size).toBe(names.length)
      expect(settings).toContain("  POLL_SECONDS=30")
      expect(settings).toContain("  POLL_SECONDS_CLOSED=60 (default)")
      expect(settings).toContain("  TIINGO_API_KEY=<redacted>")
      expect(settings).toContain("  LLM_API_KEY=(unset) (default)")
      expect(report.lines.join("\n")).not.toContain("tiingo-secret")
    })
  )

  it.scopedLive("URLs print without their userinfo and query string", () =>
    Effect.gen(function* () {
      const report = yield* doctor({ YAHOO_BASE_URL: "https://user:hunter2@quotes.example/api?token=abc" })
      expect(report.lines).toContain("  YAHOO_BASE_URL=https://<redacted>@quotes.example/api?<redacted>")
      expect(report.lines.join("\n")).not.toMatch(/hunter2|token=abc/)
    })
  )

  it.scopedLive("a deleted webhook (404 / 10015) and a wrong token (401) are FAIL, named in the verdict", () =>
    Effect.gen(function* () {
      const discord = yield* makeFakeDiscord()
      discord.deleteWebhook("1")
      discord.setToken("2", "the-new-token")
      const report = yield* doctor({
        DISCORD_WEBHOOK_URL: discord.webhookUrl("1", "token-1"),
        DISCORD_ADMIN_WEBHOOK: discord.webhookUrl("2", "the-old-token")
      })
      expect(checkNamed(report, "discord webhook")).toMatchObject({ verdict: "fail" })
      expect(checkNamed(report, "discord webhook")?.detail).toContain("Unknown Webhook (10015)")
      expect(checkNamed(report, "discord admin webhook")).toMatchObject({ verdict: "fail" })
      expect(checkNamed(report, "discord admin webhook")?.detail).toContain("401")
      expect(verdictLine(report)).toBe("verdict: FAIL (2 problems: discord webhook, discord admin webhook)")
      expect(report.failed).toBe(true)
      expect(report.lines.join("\n")).not.toMatch(/token-1|the-old-token/)
      expect(discord.messages).toEqual([])
    })
  )

  it.scopedLive("the LLM: a model the server doesn't list is FAIL, a rejected key is FAIL", () =>
    Effect.gen(function* () {
      const llm = yield* FakeOpenAi.make({ models: ["llama3.2:latest", "qwen2.5:7b"], apiKey: "right-key" })
      const env = { LLM_PROVIDER: "openai", LLM_API: "chat-completions", LLM_BASE_URL: llm.url }
      const wrongModel = yield* doctor({ ...env, LLM_MODEL: "gpt-4o", LLM_API_KEY: "right-key" })
      expect(checkNamed(wrongModel, "LLM (openai)")).toMatchObject({ verdict: "fail" })
      expect(checkNamed(wrongModel, "LLM (openai)")?.detail).toContain(
        "model gpt-4o is not offered (LLM_MODEL); the server lists: llama3.2:latest, qwen2.5:7b"
      )
      expect(verdictLine(wrongModel)).toBe("verdict: FAIL (1 problem: LLM (openai))")

      const wrongKey = yield* doctor({ ...env, LLM_MODEL: "llama3.2", LLM_API_KEY: "wrong-key" })
      expect(checkNamed(wrongKey, "LLM (openai)")).toEqual({
        name: "LLM (openai)",
        verdict: "fail",
        detail: "LLM_API_KEY rejected (HTTP 401)"
      })

      // Ollama's implicit tag: llama3.2 is llama3.2:latest.
      const right = yield* doctor({ ...env, LLM_MODEL: "llama3.2", LLM_API_KEY: "right-key" })
      expect(checkNamed(right, "LLM (openai)")).toMatchObject({ verdict: "ok" })
      expect(llm.calls().every((call) => call.body.model === undefined)).toBe(true)
    })
  )

  it.scopedLive("LLM_API decides the route: a chat-completions-only server FAILs under responses", () =>
    Effect.gen(function* () {
      const llm = yield* FakeOpenAi.make({ models: ["llama3.2:latest"], refuseResponses: 501 })
      const env = { LLM_PROVIDER: "openai", LLM_BASE_URL: llm.url, LLM_MODEL: "llama3.2" }
      const responses = yield* doctor({ ...env, LLM_API: "responses" })
      expect(checkNamed(responses, "LLM (openai)")).toMatchObject({ verdict: "fail" })
      expect(checkNamed(responses, "LLM (openai)")?.detail).toContain("set LLM_API=chat-completions")
      const chat = yield* doctor({ ...env, LLM_API: "chat-completions" })
      expect(checkNamed(chat, "LLM (openai)")).toEqual({
        name: "LLM (openai)",
        verdict: "ok",
        detail: "model llama3.2 listed, /chat/completions answers"
      })
    })
  )

  it.scopedLive("Anthropic: the model list is read with x-api-key, and an alias matches its dated id", () =>
    Effect.gen(function* () {
      const llm = yield* FakeOpenAi.make({ models: ["claude-haiku-4-5-20251001"], apiKey: "ant-key" })
      const env = { LLM_PROVIDER: "anthropic", LLM_BASE_URL: llm.url, LLM_API_KEY: "ant-key" }
      const alias = yield* doctor(env)
      expect(checkNamed(alias, "LLM (anthropic)")).toMatchObject({
        verdict: "ok",
        detail: "model claude-haiku-4-5 listed"
      })
      const missing = yield* doctor({ ...env, LLM_MODEL: "claude-opus-4" })
      expect(checkNamed(missing, "LLM (anthropic)")).toMatchObject({ verdict: "fail" })
    })
  )

  it.scopedLive("OTLP: an endpoint that is no OTLP receiver, or refuses, is FAIL", () =>
    Effect.gen(function* () {
      const notOtlp = yield* FakeWire.make({})
      const wrong = yield* doctor({ OTEL_EXPORTER_OTLP_ENDPOINT: notOtlp.url })
      expect(checkNamed(wrong, "OTLP endpoint")).toMatchObject({ verdict: "fail", detail: "POST /v1/traces: HTTP 404" })
      const otlp = yield* FakeOtlp.make({ status: 503 })
      const refusing = yield* doctor({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url })
      expect(checkNamed(refusing, "OTLP endpoint")).toMatchObject({ verdict: "fail" })
    })
  )

  it.scopedLive(
    "market data: Tiingo without a key is FAIL, a rejected key is FAIL, a good one OK; Yahoo down is FAIL",
    () =>
      Effect.gen(function* () {
        const quotes = yield* FakeQuotes.make({ tiingoKey: "tiingo-key" })
        const env = { MARKET_DATA_PROVIDER: "tiingo", TIINGO_BASE_URL: quotes.url }
        const noKey = yield* doctor(env)
        expect(checkNamed(noKey, "market data (tiingo)")).toEqual({
          name: "market data (tiingo)",
          verdict: "fail",
          detail: "TIINGO_API_KEY is not set; MARKET_DATA_PROVIDER=tiingo needs it"
        })
        const wrongKey = yield* doctor({ ...env, TIINGO_API_KEY: "nope" })
        expect(checkNamed(wrongKey, "market data (tiingo)")?.detail).toBe("TIINGO_API_KEY rejected (HTTP 401)")
        const good = yield* doctor({ ...env, TIINGO_API_KEY: "tiingo-key" })
        expect(checkNamed(good, "market data (tiingo)")?.verdict).toBe("ok")

        quotes.setOutage(503)
        const yahoo = yield* doctor({ MARKET_DATA_PROVIDER: "yahoo", YAHOO_BASE_URL: quotes.url })
        expect(checkNamed(yahoo, "market data (yahoo)")).toMatchObject({ verdict: "fail" })
      })
  )

  it.scopedLive(
    "feeds and SEC: a broken feed and a refused tickers file are FAIL; SEC without a User-Agent warns",
    () =>
      Effect.gen(function* () {
        const wire = yield* FakeWire.make({ gone: { body: "", status: 404 }, down: { body: "", status: 503 } })
        const sec = yield* FakeSec.make()
        const dir = yield* tempDir
        const feedsFile = join(dir, "feeds.json")
        writeFileSync(
          feedsFile,
          JSON.stringify([
            { name: "Gone", url: wire.feedUrl("gone"), kind: "rss" },
            { name: "Down", url: wire.feedUrl("down"), kind: "rss" },
            { name: "Refused", url: "http://127.0.0.1:9/feed.xml", kind: "rss" },
            { name: "Filings", url: `${sec.url}/cgi-bin/browse-edgar?action=getcurrent`, kind: "sec-atom" }
          ])
        )
        const withoutAgent = yield* doctor({ FEEDS_FILE: feedsFile })
        expect(checkNamed(withoutAgent, "feed Gone")).toMatchObject({ verdict: "fail", detail: "HTTP 404" })
        expect(checkNamed(withoutAgent, "feed Down")).toMatchObject({ verdict: "fail", detail: "HTTP 503" })
        expect(checkNamed(withoutAgent, "feed Refused")).toMatchObject({
          verdict: "fail",
          detail: "Transport error (ECONNREFUSED)"
        })
        expect(checkNamed(withoutAgent, "feed Filings")).toMatchObject({
          verdict: "warn",
          detail: "off until SEC_USER_AGENT is set"
        })
        expect(verdictLine(withoutAgent)).toBe(
          "verdict: FAIL (3 problems: feed Gone, feed Down, feed Refused; 1 warning: feed Filings)"
        )

        sec.setOutage(403)
        const refused = yield* doctor({
          FEEDS_FILE: feedsFile,
          SEC_USER_AGENT: "Example Capital ops@example.com",
          SEC_TICKERS_URL: `${sec.url}/files/company_tickers.json`
        })
        expect(checkNamed(refused, "SEC tickers")).toMatchObject({ verdict: "fail" })
        expect(checkNamed(refused, "SEC tickers")?.detail).toContain("HTTP 403")
      })
  )
})
