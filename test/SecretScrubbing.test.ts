import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Effect, Layer, Logger } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Classifier } from "../src/Classification/Classifier.js"
import { AdminErrorLogger, AdminQueue } from "../src/Kernel/AdminChannel.js"
import { AppConfig, describeConfigError } from "../src/Kernel/AppConfig.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { ScrubbedLogging } from "../src/Kernel/Secrets.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { TracingLive } from "../src/Kernel/Tracing.js"
import * as FakeOtlp from "../src/World/FakeOtlp.js"
import { newsItem } from "./support/Alerts.js"
import { configLayer, tempDataConfig, tempDir } from "./support/TestLayers.js"

const llmKey = "sk-test-7f3c9d1e2b4a6c8e0f1a3b5c"
const webhookToken = "Wh00kT0ken-abcdefghijklmnopqrstuvwxyz0123456789"
const webhookUrl = `https://discord.com/api/webhooks/123456789012345678/${webhookToken}`
const tiingoKey = "tiingo-9a8b7c6d5e4f"
const secrets = [llmKey, webhookToken, tiingoKey]

/** A misbehaving proxy in front of an LLM: it rejects every call and echoes the caller's credentials. */
const echoingLlm = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly echoed: () => number; readonly close: () => void }>((resume) => {
    let echoed = 0
    const server = createServer((request, response) => {
      request.resume()
      request.on("end", () => {
        echoed += 1
        response.writeHead(401, { "content-type": "application/json" })
        response.end(
          JSON.stringify({
            error: { message: `invalid credentials: ${request.headers.authorization}`, type: "proxy", code: null }
          })
        )
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resume(
        Effect.succeed({
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
          echoed: () => echoed,
          close: () => {
            server.closeAllConnections()
            server.close()
          }
        })
      )
    )
  }),
  (server) => Effect.sync(server.close)
)

/** Every line a logger would print, rendered as logfmt (message, cause and annotations). */
const capturedLogs = () => {
  const lines: Array<string> = []
  const layer = Logger.replace(
    Logger.defaultLogger,
    Logger.map(Logger.logfmtLogger, (line) => void lines.push(line))
  )
  return { lines, layer }
}

const secretEnv = {
  LLM_API_KEY: llmKey,
  DISCORD_WEBHOOK_URL: webhookUrl,
  TIINGO_API_KEY: tiingoKey
}

class DeliveryFailed extends Data.TaggedError("DeliveryFailed")<{ readonly url: string }> {
  override get message() {
    return `POST ${this.url} failed`
  }
}

describe("Secrets never leave the process", () => {
  it.scopedLive("an LLM proxy echoing the key: the exported spans and logs, and the logs, carry no secret", () =>
    Effect.gen(function* () {
      const otlp = yield* FakeOtlp.make()
      const llm = yield* echoingLlm
      const logs = capturedLogs()
      const dir = yield* tempDir
      const config = configLayer({
        DATA_DIR: dir,
        ...secretEnv,
        LLM_PROVIDER: "openai",
        LLM_MODEL: "gpt-4o-mini",
        LLM_BASE_URL: llm.url,
        LLM_MODE: "gate",
        LLM_RETRIES: 0,
        LLM_RPM: 0,
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url
      })

      yield* Effect.scoped(
        Effect.flatMap(Classifier, (classifier) =>
          classifier.classifyBatch([newsItem("a", "Acme Receives FDA Approval")])
        ).pipe(
          Effect.withSpan("cycle"),
          Effect.provide(Classifier.Default.pipe(Layer.provide(Layer.mergeAll(NodeHttpClient.layerUndici, SqlLive)))),
          Effect.provide(TracingLive),
          Effect.provide(ScrubbedLogging),
          Effect.provide(logs.layer),
          Effect.provide(config)
        )
      )

      expect(llm.echoed()).toBeGreaterThan(0)
      const bodies = (yield* otlp.bodies).join("\n")
      expect((yield* otlp.spans).some((span) => span.name === "LlmAnalyst.call" && span.statusCode === 2)).toBe(true)
      for (const secret of secrets) {
        expect(bodies).not.toContain(secret)
        expect(logs.lines.join("\n")).not.toContain(secret)
      }
      // The echo did reach the telemetry, scrubbed.
      expect(bodies).toContain("invalid credentials: Bearer <redacted>")
    })
  )

  it.effect("logs lose secrets and URL passwords and query values in messages, causes and annotations", () =>
    Effect.gen(function* () {
      const logs = capturedLogs()
      yield* Effect.gen(function* () {
        yield* Effect.logWarning(`quotes failed with key ${tiingoKey}`, { url: "https://user:hunter22@proxy.local/x" })
        yield* Effect.logError("delivery failed", Cause.fail(new DeliveryFailed({ url: webhookUrl })))
        yield* Effect.logInfo("fetched").pipe(Effect.annotateLogs("feed", "https://feeds.local/rss?token=abc123"))
        yield* Effect.logError(Cause.die(new Error(`boom: Bearer ${llmKey}`)))
      }).pipe(Effect.provide(ScrubbedLogging), Effect.provide(logs.layer), Effect.provide(configLayer(secretEnv)))

      const text = logs.lines.join("\n")
      expect(logs.lines).toHaveLength(4)
      for (const secret of [...secrets, "hunter22", "abc123"]) expect(text).not.toContain(secret)
      expect(text).toContain("quotes failed with key <redacted>")
      expect(text).toContain("https://user:<redacted>@proxy.local/x")
      expect(text).toContain("DeliveryFailed")
      expect(text).toContain("POST <redacted> failed")
      expect(text).toContain("https://feeds.local/rss?token=<redacted>")
      expect(text).toContain("boom: Bearer <redacted>")
    })
  )

  it.effect("errors recorded for /health and the heartbeat carry no secret", () =>
    Effect.gen(function* () {
      const errors = yield* ErrorTracker
      yield* errors.record({
        stage: "delivery",
        tag: "ResponseError",
        message: `POST ${webhookUrl} answered 401: bad key ${llmKey}`,
        subject: `https://proxy.local/feed?key=${tiingoKey}`
      })
      const report = JSON.stringify(yield* errors.report)
      for (const secret of secrets) expect(report).not.toContain(secret)
      expect(report).toContain("POST <redacted> answered 401: bad key <redacted>")
      expect(report).toContain("https://proxy.local/feed?key=<redacted>")
    }).pipe(Effect.provide(ErrorTracker.Default), Effect.provide(configLayer(secretEnv)))
  )

  it.effect("notices and error logs bound for the admin webhook carry no secret", () =>
    Effect.gen(function* () {
      const queue = yield* AdminQueue
      yield* queue.offer({
        _tag: "Notice",
        event: { key: "llm", title: `LLM rejected ${llmKey}`, detail: `posting to ${webhookUrl}` }
      })
      yield* Effect.logError(`quote provider said: bad token ${tiingoKey}`).pipe(Effect.provide(AdminErrorLogger))
      const sent = JSON.stringify([yield* queue.take, yield* queue.take])
      for (const secret of secrets) expect(sent).not.toContain(secret)
      expect(sent).toContain("LLM rejected <redacted>")
      expect(sent).toContain("bad token <redacted>")
    }).pipe(
      Effect.provide(AdminQueue.Default),
      Effect.provide(configLayer(secretEnv)),
      Effect.provide(Logger.remove(Logger.defaultLogger))
    )
  )

  it.scoped("a malformed LLM_BASE_URL is refused without echoing its password or query", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(AppConfig.pipe(Effect.provide(AppConfig.Default))).pipe(
        Effect.provide(tempDataConfig({ LLM_BASE_URL: "https://user:sekret@host/?key=abc d" }))
      )
      const lines = describeConfigError(error)
      expect(lines).toEqual([
        'LLM_BASE_URL: Expected an http(s) URL, got "https://user:<redacted>@host/?key=<redacted>"'
      ])
      for (const part of ["sekret", "abc", " d"]) expect(lines.join("\n")).not.toContain(part)
    })
  )
})
