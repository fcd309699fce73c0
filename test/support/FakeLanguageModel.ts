import { AiError, LanguageModel } from "@effect/ai"
import { Effect, Layer, Stream } from "effect"
import { defaultAnalysis, type FakeAnalysis } from "../../src/World/FakeOpenAi.js"

export interface FakeModelControls {
  calls: number
  prompts: Array<string>
  latencyMs: number
  fail: boolean
  analysis: FakeAnalysis
  inputTokens: number
  outputTokens: number
}

/** A LanguageModel without HTTP: answers every structured-output request with `controls.analysis`. */
export const fakeLanguageModel = (overrides: Partial<FakeModelControls> = {}) => {
  const controls: FakeModelControls = {
    calls: 0,
    prompts: [],
    latencyMs: 0,
    fail: false,
    analysis: defaultAnalysis,
    inputTokens: 1_000,
    outputTokens: 200,
    ...overrides
  }
  const layer = Layer.effect(
    LanguageModel.LanguageModel,
    LanguageModel.make({
      generateText: (options) =>
        Effect.gen(function* () {
          controls.calls += 1
          controls.prompts.push(JSON.stringify(options.prompt.content))
          if (controls.latencyMs > 0) yield* Effect.sleep(controls.latencyMs)
          if (controls.fail) {
            return yield* new AiError.UnknownError({ module: "Fake", method: "generateText", description: "scripted" })
          }
          return [
            { type: "text" as const, text: JSON.stringify(controls.analysis) },
            {
              type: "finish" as const,
              reason: "stop" as const,
              usage: {
                inputTokens: controls.inputTokens,
                outputTokens: controls.outputTokens,
                totalTokens: controls.inputTokens + controls.outputTokens
              }
            }
          ]
        }),
      streamText: () => Stream.empty
    })
  )
  return { controls, layer }
}
