import { Effect, Layer, Option, type Redacted } from "effect"
import { AlertSink, DeliveryError } from "../AlertSink.js"
import { alertMessage } from "../Discord/Embed.js"
import { DiscordChannel } from "../Discord/DiscordChannel.js"
import { DiscordWebhooks, type WebhookError } from "../Discord/DiscordWebhooks.js"

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

/**
 * Alerts as rich embeds on a Discord webhook, the chart attached as `files[0]`. With a bot token and
 * the channel id, it can also look in the channel for an alert whose send got no clear answer.
 */
export const layer = (url: Redacted.Redacted<string>) =>
  Layer.effect(
    AlertSink,
    Effect.gen(function* () {
      const webhooks = yield* DiscordWebhooks
      const channel = yield* DiscordChannel
      const target = { label: "alerts", url }
      return AlertSink.of({
        name: "discord",
        send: (alert, chart, beforeSend, context) =>
          webhooks
            .execute(target, alertMessage(alert, chart, context), beforeSend)
            .pipe(
              Effect.mapError(toDeliveryError),
              Effect.withSpan("AlertSink.discord.send", { attributes: { ticker: alert.ticker.symbol } })
            ),
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
  ).pipe(Layer.provide(DiscordChannel.Default))
