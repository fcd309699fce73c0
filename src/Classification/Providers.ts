import type * as HttpClient from "@effect/platform/HttpClient"
import { Effect, Layer, Option } from "effect"
import { AppConfig, type LlmProvider } from "../Kernel/AppConfig.js"
import * as ChatCompletions from "./ChatCompletions.js"

type Settings = AppConfig["classify"]

export const defaultModels: Record<Exclude<LlmProvider, "none">, string> = {
  openai: "gpt-4o-mini",
  anthropic: "claude-haiku-4-5",
  google: "gemini-2.5-flash"
}

/**
 * Google's OpenAI-compatible endpoint (https://ai.google.dev/gemini-api/docs/openai); `@effect/ai-google`
 * needs another `@effect/platform` than this project's.
 */
export const GOOGLE_OPENAI_URL = "https://generativelanguage.googleapis.com/v1beta/openai"

/** OpenAI's own API, for LLM_API=chat-completions without LLM_BASE_URL. */
export const OPENAI_URL = "https://api.openai.com/v1"

export const modelFor = (settings: Settings): string =>
  settings.llmProvider === "none"
    ? "none"
    : Option.getOrElse(settings.llmModel, () => defaultModels[settings.llmProvider as Exclude<LlmProvider, "none">])

/**
 * The `LanguageModel` for LLM_PROVIDER, or nothing for `none` (keywords only):
 * - openai: @effect/ai-openai (OpenAI's Responses API), LLM_BASE_URL for compatible servers; with
 *   LLM_API=chat-completions the chat-completions adapter instead, for servers without `/responses`
 *   (Ollama, vLLM, LM Studio, llama.cpp);
 * - anthropic: @effect/ai-anthropic;
 * - google: Gemini through its OpenAI-compatible chat-completions endpoint.
 * Typed as providing nothing, because callers look the model up with `Effect.serviceOption`.
 * A provider's modules are imported only when it is chosen: @effect/ai-openai alone (its generated API schemas)
 * costs ~60 MB of memory, which a keywords-only bot never needs.
 */
export const LanguageModelLive: Layer.Layer<never, never, HttpClient.HttpClient | AppConfig> = Layer.unwrapEffect(
  Effect.flatMap(
    AppConfig,
    ({ classify: settings }): Effect.Effect<Layer.Layer<never, never, HttpClient.HttpClient>> => {
      const model = modelFor(settings)
      const apiKey = Option.getOrUndefined(settings.llmApiKey)
      const apiUrl = Option.getOrUndefined(settings.llmBaseUrl)
      switch (settings.llmProvider) {
        case "none":
          return Effect.succeed(Layer.empty)
        case "openai":
          return settings.llmApi === "chat-completions"
            ? Effect.succeed(ChatCompletions.layer({ apiUrl: apiUrl ?? OPENAI_URL, apiKey, model }))
            : Effect.promise(async () => {
                const [OpenAiClient, OpenAiLanguageModel] = await Promise.all([
                  import("@effect/ai-openai/OpenAiClient"),
                  import("@effect/ai-openai/OpenAiLanguageModel")
                ])
                return OpenAiLanguageModel.layer({ model }).pipe(Layer.provide(OpenAiClient.layer({ apiKey, apiUrl })))
              })
        case "anthropic":
          return Effect.promise(async () => {
            const [AnthropicClient, AnthropicLanguageModel] = await Promise.all([
              import("@effect/ai-anthropic/AnthropicClient"),
              import("@effect/ai-anthropic/AnthropicLanguageModel")
            ])
            return AnthropicLanguageModel.layer({ model }).pipe(
              Layer.provide(AnthropicClient.layer({ apiKey, apiUrl }))
            )
          })
        case "google":
          return Effect.succeed(ChatCompletions.layer({ apiUrl: apiUrl ?? GOOGLE_OPENAI_URL, apiKey, model }))
      }
    }
  )
)
