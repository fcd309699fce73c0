import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Cause, Data, Duration, Effect, Metric, Redacted, Ref, Schema } from "effect"
import { createHash, randomUUID } from "node:crypto"
import { subscribe, unsubscribe } from "node:diagnostics_channel"
import { AppConfig } from "../../Kernel/AppConfig.js"
import type { WebhookMessage } from "./Embed.js"
import { DiscordRateLimiter, readRateLimitHeaders } from "./DiscordRateLimiter.js"

/** A webhook and the name it goes by in logs and metrics; the URL carries a token and is never shown. */
export interface WebhookTarget {
  readonly label: string
  readonly url: Redacted.Redacted<string>
}

export type WebhookFailure =
  /** 429: nothing was created; wait `retryAfterMs` and send again. */
  | { readonly _tag: "RateLimited"; readonly retryAfterMs: number; readonly global: boolean }
  /** 401/403/404 (10015): the webhook is gone or its token is wrong; it is never used again. */
  | { readonly _tag: "Unusable"; readonly status: number; readonly code: number | null }
  /** 400 (50035 …): the message itself is wrong; sending it again can't help. */
  | { readonly _tag: "Rejected"; readonly status: number; readonly body: string }
  /**
   * 5xx, network errors, timeouts: worth another try later. `maybeSent` when the request had been
   * written (then a timeout, a reset or a 5xx): Discord may have created the message.
   */
  | { readonly _tag: "Transient"; readonly detail: string; readonly maybeSent: boolean }

export class WebhookError extends Data.TaggedError("WebhookError")<{
  readonly label: string
  readonly failure: WebhookFailure
}> {
  override get message() {
    const f = this.failure
    switch (f._tag) {
      case "RateLimited":
        return `webhook ${this.label}: rate limited${f.global ? " (global)" : ""}, retry after ${f.retryAfterMs} ms`
      case "Unusable":
        if (f.status === 0) return `webhook ${this.label}: disabled after an earlier 401/403/404, not used again`
        return `webhook ${this.label}: HTTP ${f.status}${f.code === null ? "" : ` (code ${f.code})`}, the webhook is unusable and won't be used again`
      case "Rejected":
        return `webhook ${this.label}: HTTP ${f.status} invalid message: ${f.body}`
      case "Transient":
        return `webhook ${this.label}: ${f.detail}`
    }
  }
}

export const requestsCounter = Metric.counter("discord_requests_total", { description: "Requests to Discord webhooks" })

const ErrorBody = Schema.Struct({
  code: Schema.optional(Schema.Number),
  retry_after: Schema.optional(Schema.Number),
  global: Schema.optional(Schema.Boolean)
})
const decodeErrorBody = Schema.decodeUnknownOption(Schema.parseJson(ErrorBody))
const decodeMessage = Schema.decodeUnknownOption(Schema.parseJson(Schema.Struct({ id: Schema.String })))

/** Rate-limit state is keyed by the webhook id (public), never by its token. */
export const webhookKey = (url: string): string => {
  const match = /\/webhooks\/(\d+)\//.exec(url)
  return match?.[1] ?? createHash("sha256").update(url).digest("hex").slice(0, 16)
}

/** Network errors from the platform client quote the URL; keep only what is safe to log. */
const describeTransport = (cause: unknown): string => {
  const error = cause as { code?: unknown; cause?: { code?: unknown } }
  const code = error?.code ?? error?.cause?.code
  return typeof code === "string" ? code : "connection failed"
}

/**
 * Undici publishes `undici:client:sendHeaders` right before the first byte of a request is written
 * to the socket (https://github.com/nodejs/undici/blob/main/docs/docs/api/DiagnosticsChannel.md).
 * Each attempt carries a random id in this header, so a failure can tell "never left" (connect or
 * TLS failure, a timeout while connecting) from "written, then no answer" (maybe delivered).
 */
const attemptHeader = "x-catalyst-attempt"
const sendHeadersChannel = "undici:client:sendHeaders"

/**
 * JSON, or with files https://discord.com/developers/docs/reference#uploading-files: `payload_json`
 * plus `files[n]`, each with a filename. The multipart bytes come from the platform's own Fetch
 * encoder (a Response over FormData): passing FormData through differs between undici versions.
 */
export const toBody = (message: WebhookMessage): Effect.Effect<HttpClientRequest.HttpClientRequest> => {
  const request = HttpClientRequest.post("")
  if (message.files.length === 0) return Effect.succeed(HttpClientRequest.bodyUnsafeJson(request, message.payload))
  const form = new FormData()
  form.append("payload_json", JSON.stringify(message.payload))
  message.files.forEach((file, index) =>
    form.append(`files[${index}]`, new Blob([file.data], { type: file.contentType }), file.name)
  )
  const encoded = new Response(form)
  return Effect.promise(() => encoded.arrayBuffer()).pipe(
    Effect.map((bytes) =>
      HttpClientRequest.bodyUint8Array(
        request,
        new Uint8Array(bytes),
        encoded.headers.get("content-type") ?? "multipart/form-data"
      )
    )
  )
}

/**
 * Executes Discord webhooks, one request per call (one alert's message, or several packed into one),
 * under the shared header-driven rate limiter.
 */
export class DiscordWebhooks extends Effect.Service<DiscordWebhooks>()("Delivery/Discord/DiscordWebhooks", {
  scoped: Effect.gen(function* () {
    const { delivery } = yield* AppConfig
    const limiter = yield* DiscordRateLimiter
    // Spans of the platform client would record the URL, token included: ours record the label instead.
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.withTracerDisabledWhen(() => true),
      HttpClient.transformResponse(Effect.timeout(Duration.seconds(delivery.requestTimeoutSeconds)))
    )
    const disabled = yield* Ref.make<ReadonlySet<string>>(new Set())
    const watched = new Set<string>()
    const written = new Set<string>()
    const onSendHeaders = (message: unknown) => {
      const headers = (message as { readonly headers?: unknown }).headers
      if (watched.size === 0 || typeof headers !== "string") return
      for (const attempt of watched) if (headers.includes(`${attemptHeader}: ${attempt}\r\n`)) written.add(attempt)
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => subscribe(sendHeadersChannel, onSendHeaders)),
      () => Effect.sync(() => unsubscribe(sendHeadersChannel, onSendHeaders))
    )

    const fail = (label: string, failure: WebhookFailure) => Effect.fail(new WebhookError({ label, failure }))

    /**
     * One attempt. `beforeSend` runs after the rate-limit wait and right before the request leaves,
     * so the outbox can mark the row in flight at the last possible moment.
     */
    const execute = Effect.fn("DiscordWebhook.execute")(function* (
      target: WebhookTarget,
      message: WebhookMessage,
      beforeSend: Effect.Effect<void> = Effect.void
    ) {
      const key = webhookKey(Redacted.value(target.url))
      yield* Effect.annotateCurrentSpan("webhook", target.label)
      if ((yield* Ref.get(disabled)).has(key))
        return yield* fail(target.label, { _tag: "Unusable", status: 0, code: null })

      const url = new URL(Redacted.value(target.url))
      url.searchParams.set("wait", "true")
      const attempt = randomUUID()
      const request = HttpClientRequest.setUrl(yield* toBody(message), url).pipe(
        HttpClientRequest.setHeader(attemptHeader, attempt)
      )
      yield* limiter.acquire(key, target.label)
      yield* beforeSend
      watched.add(attempt)
      const response = yield* client.execute(request).pipe(
        Effect.catchAllCause((cause) => {
          const failure = Cause.failureOption(cause)
          const maybeSent = written.has(attempt)
          const sent = maybeSent ? "sent, then " : "not sent: "
          const detail =
            failure._tag === "Some" && failure.value._tag === "TimeoutException"
              ? `${sent}no answer within DISCORD_TIMEOUT_SECONDS=${delivery.requestTimeoutSeconds}`
              : `${sent}network error (${describeTransport(failure._tag === "Some" ? failure.value.cause : undefined)})`
          return Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause as Cause.Cause<never>)
            : fail(target.label, { _tag: "Transient", detail, maybeSent })
        }),
        Effect.ensuring(
          Effect.sync(() => {
            watched.delete(attempt)
            written.delete(attempt)
          })
        )
      )
      const body = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
      const headers = readRateLimitHeaders(response.headers)
      yield* limiter.observe(key, headers)
      yield* Metric.increment(
        Metric.tagged(Metric.tagged(requestsCounter, "webhook", target.label), "status", String(response.status))
      )
      yield* Effect.annotateCurrentSpan({
        "http.status": response.status,
        "ratelimit.bucket": headers.bucket ?? "",
        "ratelimit.remaining": headers.remaining ?? -1
      })

      const status = response.status
      if (status >= 200 && status < 300) {
        const created = decodeMessage(body)
        return { messageId: created._tag === "Some" ? created.value.id : null }
      }
      const error = decodeErrorBody(body)
      const code = error._tag === "Some" ? (error.value.code ?? null) : null
      if (status === 429) {
        // retry_after in the body is float seconds; the Retry-After header is a rounded integer.
        const retryAfterSeconds =
          (error._tag === "Some" ? error.value.retry_after : undefined) ?? Number(response.headers["retry-after"] ?? 1)
        const global =
          response.headers["x-ratelimit-global"] === "true" || (error._tag === "Some" && error.value.global === true)
        const retryAfterMs = Math.ceil(retryAfterSeconds * 1000)
        yield* limiter.rateLimited(key, { retryAfterMs, global, scope: response.headers["x-ratelimit-scope"] ?? null })
        return yield* fail(target.label, { _tag: "RateLimited", retryAfterMs, global })
      }
      if (status === 401 || status === 403 || status === 404) {
        if (status !== 404) yield* limiter.invalid()
        yield* Ref.update(disabled, (set) => new Set(set).add(key))
        return yield* fail(target.label, { _tag: "Unusable", status, code })
      }
      if (status >= 500)
        return yield* fail(target.label, { _tag: "Transient", detail: `HTTP ${status}`, maybeSent: true })
      return yield* fail(target.label, { _tag: "Rejected", status, body: body.slice(0, 2000) })
    })

    const isDisabled = (target: WebhookTarget) =>
      Effect.map(Ref.get(disabled), (set) => set.has(webhookKey(Redacted.value(target.url))))

    /** Requests the webhook could send right now without waiting for its rate-limit bucket. */
    const room = (target: WebhookTarget) => limiter.available(webhookKey(Redacted.value(target.url)))

    /** Milliseconds until the webhook may send without waiting for its rate limit; 0 means now. */
    const waitFor = (target: WebhookTarget) => limiter.waitFor(webhookKey(Redacted.value(target.url)))

    return { execute, isDisabled, room, waitFor } as const
  }),
  dependencies: [AppConfig.Default, DiscordRateLimiter.Default]
}) {}
