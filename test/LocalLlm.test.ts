import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { Classifier } from "../src/Classification/Classifier.js"
import { AppConfig, describeConfigError } from "../src/Kernel/AppConfig.js"
import type { LlmVerdict, NormalizedItem } from "../src/Kernel/Domain.js"
import * as FakeOpenAi from "../src/World/FakeOpenAi.js"
import { newsItem } from "./support/Alerts.js"
import { configLayer, tempDir } from "./support/TestLayers.js"

/**
 * LLM_PROVIDER=openai against a local OpenAI-compatible server that has no Responses API (Ollama,
 * vLLM, LM Studio, llama.cpp), played by the fake on 127.0.0.1 refusing `/responses`.
 */

const classifyWith = (values: Record<string, string | number>, items: ReadonlyArray<NormalizedItem>) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    return yield* Effect.flatMap(Classifier, (classifier) => classifier.classifyBatch(items)).pipe(
      Effect.provide(
        Classifier.Default.pipe(
          Layer.provide(NodeHttpClient.layerUndici),
          Layer.provide(configLayer({ DATA_DIR: dir, LLM_RPM: 0, LLM_MODE: "gate", ...values }))
        )
      )
    )
  })

/** What the README's Ollama steps configure, with the fake in place of `http://localhost:11434/v1`. */
const ollama = (url: string) => ({ LLM_PROVIDER: "openai", LLM_BASE_URL: url, LLM_MODEL: "llama3.2" })

const verdicts = (batch: { items: ReadonlyArray<{ classification: { llm: LlmVerdict } }> }) =>
  batch.items.map((entry) => entry.classification.llm)

describe("local chat-completions servers with LLM_PROVIDER=openai", () => {
  it.scopedLive("LLM_API=chat-completions posts to /chat/completions, without a key, and decodes the answer", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAi.make({ refuseResponses: 501 })
      const batch = yield* classifyWith({ ...ollama(fake.url), LLM_API: "chat-completions" }, [
        newsItem("a", "Acme Receives FDA Approval")
      ])
      expect(verdicts(batch)).toEqual([{ _tag: "Analysed", analysis: FakeOpenAi.defaultAnalysis, cached: false }])
      const calls = fake.calls()
      expect(calls.map((call) => call.path)).toEqual(["/chat/completions"])
      expect(calls[0]?.authorization).toBeNull()
      expect(calls[0]?.body.model).toBe("llama3.2")
      expect(calls[0]?.body.response_format).toMatchObject({ type: "json_schema" })
      expect(calls[0]?.strictViolation).toBeNull()
      expect(JSON.stringify(calls[0]?.body.messages)).toContain("Acme Receives FDA Approval")
    })
  )

  it.scopedLive("LLM_API=chat-completions sends LLM_API_KEY as a bearer token when one is set", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAi.make({ refuseResponses: 404 })
      yield* classifyWith({ ...ollama(fake.url), LLM_API: "chat-completions", LLM_API_KEY: "vllm-key" }, [
        newsItem("a", "Acme Receives FDA Approval")
      ])
      expect(fake.calls().map((call) => [call.path, call.authorization])).toEqual([
        ["/chat/completions", "Bearer vllm-key"]
      ])
    })
  )

  for (const status of [501, 404]) {
    it.scopedLive(`without LLM_API, a ${status} from /responses names the setting and isn't retried`, () =>
      Effect.gen(function* () {
        const fake = yield* FakeOpenAi.make({ refuseResponses: status })
        const batch = yield* classifyWith({ ...ollama(fake.url), LLM_RETRIES: 2 }, [
          newsItem("a", "Acme Receives FDA Approval")
        ])
        expect(fake.calls().map((call) => call.path)).toEqual(["/responses"])
        const [verdict] = verdicts(batch)
        expect(verdict?._tag).toBe("Unavailable")
        const reason = verdict?._tag === "Unavailable" ? verdict.reason : ""
        expect(reason).toContain(`HTTP ${status} on /responses`)
        expect(reason).toContain("LLM_API=chat-completions")
        expect(reason).not.toContain(fake.url)
      })
    )
  }

  it.effect("a bad LLM_API fails at start-up naming the variable and the choices", () =>
    Effect.gen(function* () {
      const result = yield* Effect.either(
        AppConfig.pipe(Effect.provide(AppConfig.Default), Effect.provide(configLayer({ LLM_API: "completions" })))
      )
      const lines = Either.isLeft(result) ? describeConfigError(result.left) : []
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/^LLM_API:.*responses.*chat-completions/)
    })
  )
})
