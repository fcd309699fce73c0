import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Effect, Layer, Redacted, Schema, Stream } from "effect"

/**
 * A LanguageModel over the OpenAI chat-completions wire format (`POST {base}/chat/completions`),
 * for servers that speak that dialect but not OpenAI's newer Responses API, which is what
 * `@effect/ai-openai` 0.41 calls. Google's OpenAI-compatible Gemini endpoint is one of them: it
 * offers /chat/completions and /embeddings only (ai.google.dev/gemini-api/docs/openai).
 *
 * Structured output uses `response_format: {type: "json_schema", strict: true}`.
 */

const ChatCompletion = Schema.Struct({
  id: Schema.String,
  model: Schema.String,
  created: Schema.Number,
  choices: Schema.NonEmptyArray(
    Schema.Struct({
      finish_reason: Schema.NullOr(Schema.String),
      message: Schema.Struct({
        content: Schema.NullOr(Schema.String),
        refusal: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null })
      })
    })
  ),
  usage: Schema.optionalWith(
    Schema.NullOr(Schema.Struct({ prompt_tokens: Schema.Number, completion_tokens: Schema.Number })),
    { default: () => null }
  )
})

const finishReasons: Record<string, typeof Response.FinishReason.Encoded> = {
  stop: "stop",
  length: "length",
  content_filter: "content-filter",
  tool_calls: "tool-calls"
}

const messageText = (message: Prompt.Message): string =>
  typeof message.content === "string"
    ? message.content
    : message.content.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("\n")

const toChatMessages = (prompt: Prompt.Prompt) =>
  prompt.content.flatMap((message) =>
    message.role === "tool" ? [] : [{ role: message.role, content: messageText(message) }]
  )

export const make = (options: {
  readonly apiUrl: string
  readonly apiKey: Redacted.Redacted | undefined
  readonly model: string
}) =>
  Effect.gen(function* () {
    const http = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest((request) =>
        request.pipe(
          HttpClientRequest.prependUrl(options.apiUrl.replace(/\/+$/, "")),
          options.apiKey === undefined ? (r) => r : HttpClientRequest.bearerToken(options.apiKey),
          HttpClientRequest.acceptJson
        )
      ),
      HttpClient.filterStatusOk
    )

    const generateText = (providerOptions: LanguageModel.ProviderOptions) =>
      Effect.gen(function* () {
        const format = providerOptions.responseFormat
        const body = {
          model: options.model,
          messages: toChatMessages(providerOptions.prompt),
          ...(format.type === "json"
            ? {
                response_format: {
                  type: "json_schema",
                  json_schema: {
                    name: format.objectName,
                    strict: true,
                    schema: Tool.getJsonSchemaFromSchemaAst(format.schema.ast)
                  }
                }
              }
            : {})
        }
        const completion = yield* http.post("/chat/completions", { body: HttpBody.unsafeJson(body) }).pipe(
          Effect.flatMap(HttpClientResponse.schemaBodyJson(ChatCompletion)),
          Effect.scoped,
          Effect.catchTags({
            RequestError: (error) =>
              AiError.HttpRequestError.fromRequestError({ module: "ChatCompletions", method: "generateText", error }),
            ResponseError: (error) =>
              AiError.HttpResponseError.fromResponseError({ module: "ChatCompletions", method: "generateText", error }),
            ParseError: (error) =>
              AiError.MalformedOutput.fromParseError({ module: "ChatCompletions", method: "generateText", error })
          })
        )
        const [choice] = completion.choices
        const parts: Array<Response.PartEncoded> = [
          {
            type: "response-metadata",
            id: completion.id,
            modelId: completion.model,
            timestamp: new Date(completion.created * 1000).toISOString()
          },
          { type: "text", text: choice.message.content ?? "" },
          {
            type: "finish",
            reason: finishReasons[choice.finish_reason ?? ""] ?? "unknown",
            usage: {
              inputTokens: completion.usage?.prompt_tokens,
              outputTokens: completion.usage?.completion_tokens,
              totalTokens:
                completion.usage === null
                  ? undefined
                  : completion.usage.prompt_tokens + completion.usage.completion_tokens
            }
          }
        ]
        return parts
      })

    return yield* LanguageModel.make({
      generateText,
      streamText: () =>
        Stream.fail(
          new AiError.MalformedInput({
            module: "ChatCompletions",
            method: "streamText",
            description: "streaming is not implemented by this adapter"
          })
        )
    })
  })

export const layer = (options: Parameters<typeof make>[0]) => Layer.effect(LanguageModel.LanguageModel, make(options))
