import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Cause, Duration, Effect, Metric, Redacted, Schema } from "effect"
import { AppConfig } from "../../Kernel/AppConfig.js"
import { EditError } from "../AlertSink.js"
import { DiscordRateLimiter, readRateLimitHeaders } from "./DiscordRateLimiter.js"
import { requestsCounter, toBody, webhookKey, type WebhookTarget } from "./DiscordWebhooks.js"
import type { WebhookMessage } from "./Embed.js"

const ErrorBody = Schema.Struct({ code: Schema.optional(Schema.Number), retry_after: Schema.optional(Schema.Number) })
const decodeErrorBody = Schema.decodeUnknownOption(Schema.parseJson(ErrorBody))

/** https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes */
const unknownMessage = 10008

/**
 * Edit Webhook Message (https://discord.com/developers/docs/resources/webhook#edit-webhook-message):
 * `PATCH /webhooks/{id}/{token}/messages/{message_id}`, keeping the webhook URL's `thread_id` query.
 * It shares the webhook's rate-limit bucket with posts, so it goes through the same limiter.
 */
export class DiscordEditor extends Effect.Service<DiscordEditor>()("Delivery/Discord/DiscordEditor", {
  effect: Effect.gen(function* () {
    const { delivery } = yield* AppConfig
    const limiter = yield* DiscordRateLimiter
    // Spans of the platform client would record the URL, token included.
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.withTracerDisabledWhen(() => true),
      HttpClient.transformResponse(Effect.timeout(Duration.seconds(delivery.requestTimeoutSeconds)))
    )

    const edit = Effect.fn("DiscordEditor.edit")(function* (
      target: WebhookTarget,
      messageId: string,
      message: WebhookMessage
    ) {
      const key = webhookKey(Redacted.value(target.url))
      yield* Effect.annotateCurrentSpan({ webhook: target.label, "message.id": messageId })
      const url = new URL(Redacted.value(target.url))
      url.pathname = `${url.pathname.replace(/\/$/, "")}/messages/${messageId}`
      url.searchParams.delete("wait")
      const request = (yield* toBody(message)).pipe(HttpClientRequest.setMethod("PATCH"), HttpClientRequest.setUrl(url))
      yield* limiter.acquire(key, target.label)
      const response = yield* client.execute(request).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause as Cause.Cause<never>)
            : Effect.fail(
                new EditError({
                  reason: `webhook ${target.label}: edit got no answer (${Cause.isFailType(cause) && cause.error._tag === "TimeoutException" ? `timeout after DISCORD_TIMEOUT_SECONDS=${delivery.requestTimeoutSeconds}` : "network error"})`,
                  gone: false,
                  retryable: true
                })
              )
        )
      )
      const body = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
      yield* limiter.observe(key, readRateLimitHeaders(response.headers))
      yield* Metric.increment(
        Metric.tagged(Metric.tagged(requestsCounter, "webhook", target.label), "status", String(response.status))
      )
      const status = response.status
      yield* Effect.annotateCurrentSpan("http.status", status)
      if (status >= 200 && status < 300) return
      const error = decodeErrorBody(body)
      const code = error._tag === "Some" ? (error.value.code ?? null) : null
      const fail = (reason: string, options: { gone?: boolean; retryable?: boolean; retryAfterMs?: number }) =>
        Effect.fail(
          new EditError({
            reason: `webhook ${target.label}: edit of message ${messageId}: ${reason}`,
            gone: options.gone ?? false,
            retryable: options.retryable ?? false,
            ...(options.retryAfterMs !== undefined && { retryAfterMs: options.retryAfterMs })
          })
        )
      if (status === 429) {
        const retryAfterSeconds =
          (error._tag === "Some" ? error.value.retry_after : undefined) ?? Number(response.headers["retry-after"] ?? 1)
        const retryAfterMs = Math.ceil(retryAfterSeconds * 1000)
        const global = response.headers["x-ratelimit-global"] === "true"
        yield* limiter.rateLimited(key, { retryAfterMs, global, scope: response.headers["x-ratelimit-scope"] ?? null })
        return yield* fail(`rate limited, retry after ${retryAfterMs} ms`, { retryable: true, retryAfterMs })
      }
      if (status === 404) {
        return yield* fail(code === unknownMessage ? "Unknown Message (10008)" : `HTTP 404 (code ${code ?? "none"})`, {
          gone: true
        })
      }
      if (status === 401 || status === 403) yield* limiter.invalid()
      if (status >= 500) return yield* fail(`HTTP ${status}`, { retryable: true })
      return yield* fail(`HTTP ${status}: ${body.slice(0, 500)}`, {})
    })

    return { edit } as const
  }),
  dependencies: [AppConfig.Default, DiscordRateLimiter.Default]
}) {}
