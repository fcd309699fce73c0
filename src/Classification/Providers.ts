import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as HttpClient from "@effect/platform/HttpClient"
import { Context, Effect, Layer, Option, Stream } from "effect"
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

type ProviderLayer = Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient>

/**
 * A `LanguageModel` whose provider modules are imported, and whose client is built, on its first call rather than
 * at start-up: @effect/ai-openai's generated API schemas alone take ~30 MB and most of a second of CPU to load,
 * which an idle bot (nothing above LLM_MIN_KEYWORD_SCORE yet) and `run`'s start-up never need. The client lives in
 * this layer's scope, as it would if built eagerly. The first call's load is uninterruptible, so a call timed out
 * meanwhile cannot leave the cache holding an interruption.
 */
const loadedOnFirstCall = (load: () => Promise<ProviderLayer>): ProviderLayer =>
  Layer.scoped(
    LanguageModel.LanguageModel,
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      const context = yield* Effect.context<HttpClient.HttpClient>()
      const loaded = yield* Effect.cached(
        Effect.promise(load).pipe(
          Effect.flatMap((layer) => Layer.buildWithScope(layer, scope)),
          Effect.map(Context.get(LanguageModel.LanguageModel)),
          Effect.provide(context),
          Effect.uninterruptible
        )
      )
      const service: LanguageModel.Service = {
        generateText: (options) => Effect.flatMap(loaded, (model) => model.generateText(options)),
        generateObject: (options) => Effect.flatMap(loaded, (model) => model.generateObject(options)),
        streamText: (options) => Stream.unwrap(Effect.map(loaded, (model) => model.streamText(options)))
      }
      return service
    })
  )

/**
 * The `LanguageModel` for LLM_PROVIDER, or nothing for `none` (keywords only):
 * - openai: @effect/ai-openai (OpenAI's Responses API), LLM_BASE_URL for compatible servers; with
 *   LLM_API=chat-completions the chat-completions adapter instead, for servers without `/responses`
 *   (Ollama, vLLM, LM Studio, llama.cpp);
 * - anthropic: @effect/ai-anthropic;
 * - google: Gemini through its OpenAI-compatible chat-completions endpoint.
 * Typed as providing nothing, because callers look the model up with `Effect.serviceOption`.
 * The @effect/ai-openai and @effect/ai-anthropic modules are imported on the model's first call
 * (`loadedOnFirstCall`), never for a keywords-only bot.
 */
export const LanguageModelLive: Layer.Layer<never, never, HttpClient.HttpClient | AppConfig> = Layer.unwrapEffect(
  Effect.map(AppConfig, ({ classify: settings }): Layer.Layer<never, never, HttpClient.HttpClient> => {
    const model = modelFor(settings)
    const apiKey = Option.getOrUndefined(settings.llmApiKey)
    const apiUrl = Option.getOrUndefined(settings.llmBaseUrl)
    switch (settings.llmProvider) {
      case "none":
        return Layer.empty
      case "openai":
        return settings.llmApi === "chat-completions"
          ? ChatCompletions.layer({ apiUrl: apiUrl ?? OPENAI_URL, apiKey, model })
          : loadedOnFirstCall(async () => {
              const [OpenAiClient, OpenAiLanguageModel] = await Promise.all([
                import("@effect/ai-openai/OpenAiClient"),
                import("@effect/ai-openai/OpenAiLanguageModel")
              ])
              return OpenAiLanguageModel.layer({ model }).pipe(Layer.provide(OpenAiClient.layer({ apiKey, apiUrl })))
            })
      case "anthropic":
        return loadedOnFirstCall(async () => {
          const [AnthropicClient, AnthropicLanguageModel] = await Promise.all([
            import("@effect/ai-anthropic/AnthropicClient"),
            import("@effect/ai-anthropic/AnthropicLanguageModel")
          ])
          return AnthropicLanguageModel.layer({ model }).pipe(Layer.provide(AnthropicClient.layer({ apiKey, apiUrl })))
        })
      case "google":
        return ChatCompletions.layer({ apiUrl: apiUrl ?? GOOGLE_OPENAI_URL, apiKey, model })
    }
  })
)
