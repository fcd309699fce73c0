import { Effect, Layer, Option, type Redacted } from "effect"
import { AlertSink, DeliveryError, EditError, type SendEntry } from "../AlertSink.js"
import { DeliveryHealth } from "../DeliveryHealth.js"
import { alertMessage, packedMessage, packItemOf, packLimits, type WebhookMessage } from "../Discord/Embed.js"
import { DiscordChannel } from "../Discord/DiscordChannel.js"
import { DiscordEditor } from "../Discord/DiscordEditor.js"
import { editedMessage } from "../Discord/EditMessage.js"
import { DiscordWebhooks, type WebhookError, type WebhookFailure } from "../Discord/DiscordWebhooks.js"
import { firstGroupSize } from "../Pack.js"

const toDeliveryError = (error: WebhookError): DeliveryError => {
  const { failure } = error
  switch (failure._tag) {
    case "RateLimited":
      return new DeliveryError({ reason: error.message, retryable: true, retryAfterMs: failure.retryAfterMs })
    case "Unusable":
      return new DeliveryError({ reason: error.message, retryable: false, sinkUnavailable: true })
    case "Rejected":
      return new DeliveryError({ reason: error.message, retryable: false })
    case "Transient":
      return new DeliveryError({ reason: error.message, retryable: true, maybeSent: failure.maybeSent })
  }
}

const statusText: Record<number, string> = { 401: "Unauthorized", 403: "Forbidden", 404: "Not Found" }

/**
 * What a refusing webhook answered, for /health. 10015 is "Unknown Webhook":
 * https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes
 */
export const describeUnusable = (status: number, code: number | null): string => {
  const text = code === 10015 ? "Unknown Webhook" : (statusText[status] ?? "refused")
  return `Discord webhook answers ${status} ${text}${code === null || code === 0 ? "" : ` (code ${code})`}`
}

const sinkName = "Discord"

/**
 * Alerts as rich embeds on a Discord webhook, the chart attached as `files[0]`; in a burst, up to ten
 * alerts share one message, each embed with its own chart file. With a bot token and
 * the channel id, it can also look in the channel for an alert whose send got no clear answer.
 */
export const layer = (url: Redacted.Redacted<string>) =>
  Layer.effect(
    AlertSink,
    Effect.gen(function* () {
      const webhooks = yield* DiscordWebhooks
      const health = yield* DeliveryHealth
      const channel = yield* DiscordChannel
      const editor = yield* DiscordEditor
      const target = { label: "alerts", url }

      /** A 400 is about one message, not the webhook; status 0 repeats a refusal already recorded. */
      const record = (failure: WebhookFailure, message: string) => {
        switch (failure._tag) {
          case "Unusable":
            return failure.status === 0
              ? Effect.void
              : health.unusable(sinkName, describeUnusable(failure.status, failure.code))
          case "Rejected":
            return Effect.void
          case "RateLimited":
          case "Transient":
            return health.failed(sinkName, message)
        }
      }

      const execute = (message: WebhookMessage, beforeSend: Effect.Effect<void> | undefined) =>
        webhooks.execute(target, message, beforeSend).pipe(
          Effect.tapBoth({
            onSuccess: () => health.succeeded(sinkName),
            onFailure: (error) => record(error.failure, error.message)
          }),
          Effect.mapError(toDeliveryError)
        )
      const messageOf = (entry: SendEntry) => alertMessage(entry.alert, entry.chart, entry.context)

      return AlertSink.of({
        name: "discord",
        send: (alert, chart, beforeSend, context) =>
          execute(alertMessage(alert, chart, context), beforeSend).pipe(
            Effect.withSpan("AlertSink.discord.send", { attributes: { ticker: alert.ticker.symbol } })
          ),
        edit: (messageId, entries) =>
          messageId === null
            ? Effect.fail(new EditError({ reason: "the post returned no message id", gone: true, retryable: false }))
            : editor.edit(target, messageId, editedMessage(entries)).pipe(
                Effect.withSpan("AlertSink.discord.edit", {
                  attributes: { tickers: entries.map((entry) => entry.alert.ticker.symbol).join(",") }
                })
              ),
        packing: {
          room: webhooks.room(target),
          fitting: (entries) => Math.max(1, firstGroupSize(entries.map(messageOf).map(packItemOf), packLimits)),
          sendMany: (entries, beforeSend) =>
            execute(packedMessage(entries.map(messageOf)), beforeSend).pipe(
              Effect.withSpan("AlertSink.discord.sendMany", {
                attributes: { alerts: entries.length, tickers: entries.map((entry) => entry.alert.ticker.symbol) }
              })
            )
        },
        ...(channel.enabled && {
          findDelivered: (id, alert) => {
            const title = alertMessage(alert, { _tag: "NoBars" }, { id, possibleRepeat: false }).payload.embeds?.[0]
              ?.title
            return channel.findAlert(id, title ?? "").pipe(
              Effect.map(Option.map((messageId) => ({ messageId }))),
              Effect.mapError((error) => new DeliveryError({ reason: error.message, retryable: true })),
              Effect.withSpan("AlertSink.discord.findDelivered", { attributes: { ticker: alert.ticker.symbol } })
            )
          }
        })
      })
    })
  ).pipe(
    // Layers are shared within one build, so /health and the heartbeat read this same DeliveryHealth.
    Layer.provide(Layer.mergeAll(DeliveryHealth.Default, DiscordChannel.Default, DiscordEditor.Default))
  )
