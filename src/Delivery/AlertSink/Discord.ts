import { Effect, Layer, type Redacted } from "effect"
import { AlertSink, DeliveryError } from "../AlertSink.js"
import { alertMessage } from "../Discord/Embed.js"
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
      return new DeliveryError({ reason: error.message, retryable: true })
  }
}

/** Alerts as rich embeds on a Discord webhook, the chart attached as `files[0]`. */
export const layer = (url: Redacted.Redacted<string>) =>
  Layer.effect(
    AlertSink,
    Effect.gen(function* () {
      const webhooks = yield* DiscordWebhooks
      const target = { label: "alerts", url }
      return AlertSink.of({
        name: "discord",
        send: (alert, chart, beforeSend) =>
          webhooks
            .execute(target, alertMessage(alert, chart), beforeSend)
            .pipe(
              Effect.mapError(toDeliveryError),
              Effect.withSpan("AlertSink.discord.send", { attributes: { ticker: alert.ticker.symbol } })
            )
      })
    })
  )
