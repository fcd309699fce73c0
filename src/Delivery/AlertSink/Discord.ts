import { Effect, Layer, Metric, Option, Redacted } from "effect"
import { AdminChannel } from "../../Kernel/AdminChannel.js"
import { AlertSink, DeliveryError, EditError, type SendEntry } from "../AlertSink.js"
import { DeliveryHealth } from "../DeliveryHealth.js"
import { alertMessage, packedMessage, packItemOf, packLimits, type WebhookMessage } from "../Discord/Embed.js"
import { DiscordChannel } from "../Discord/DiscordChannel.js"
import { DiscordEditor } from "../Discord/DiscordEditor.js"
import { editedMessage } from "../Discord/EditMessage.js"
import { DiscordWebhooks, type WebhookError, type WebhookFailure } from "../Discord/DiscordWebhooks.js"
import { firstGroupSize } from "../Pack.js"
import { routeRateLimited } from "../RouteHealth.js"
import { defaultRoute, defaultRouteName, type Route, Routes } from "../Routes.js"

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
 * A route's own mentions (ROUTES_FILE): its role ids, or @here, in `content` (embeds never ping),
 * and in `allowed_mentions` exactly those and nothing else; a route without any sends `{ parse: [] }`.
 * https://discord.com/developers/docs/resources/message#allowed-mentions-object
 */
export const withRoute = (message: WebhookMessage, route: Route): WebhookMessage => {
  const mentions = [...route.roles.map((role) => `<@&${role}>`), ...(route.here ? ["@here"] : [])]
  if (mentions.length === 0 && route.threadName === null) return message
  return {
    ...message,
    payload: {
      ...message.payload,
      ...(mentions.length > 0 && {
        content: mentions.join(" "),
        allowed_mentions: { parse: route.here ? ["everyone"] : [], roles: route.roles }
      }),
      ...(route.threadName !== null && { thread_name: route.threadName })
    }
  }
}

/** The route's webhook, with `thread_id` when it posts into a thread (kept by edits too). */
const webhookOf = (route: Route, url: Redacted.Redacted<string>): Redacted.Redacted<string> => {
  if (route.threadId === null) return url
  const withThread = new URL(Redacted.value(url))
  withThread.searchParams.set("thread_id", route.threadId)
  return Redacted.make(withThread.toString())
}

interface RouteTarget {
  readonly route: Route
  readonly target: { readonly label: string; readonly url: Redacted.Redacted<string> }
  /** The name /health and the heartbeat know it by. */
  readonly sink: string
}

/**
 * Alerts as rich embeds on Discord webhooks, one per route, the chart attached as `files[0]`; in a
 * burst, up to ten alerts of one route share one message, each embed with its own chart file. Rate
 * limits are per webhook (DiscordRateLimiter, which shares a bucket two webhooks report alike). A
 * route whose webhook refuses for good (401/403/404) is disabled alone, and admin is told; without
 * ROUTES_FILE that refusal stops delivery as it always did. With a bot token and the channel id, the
 * default route can also look in the channel for an alert whose send got no clear answer.
 */
const make = (routes: ReadonlyArray<Route>, fromFile: boolean) =>
  Effect.gen(function* () {
    const webhooks = yield* DiscordWebhooks
    const health = yield* DeliveryHealth
    const channel = yield* DiscordChannel
    const editor = yield* DiscordEditor
    const admin = yield* AdminChannel
    const targets = new Map<string, RouteTarget>(
      routes.flatMap((route): Array<[string, RouteTarget]> =>
        Option.isNone(route.webhook)
          ? []
          : [
              [
                route.name,
                {
                  route,
                  target: { label: fromFile ? route.name : "alerts", url: webhookOf(route, route.webhook.value) },
                  sink: fromFile ? `Discord route ${route.name}` : sinkName
                }
              ]
            ]
      )
    )
    const targetOf = (name: string | undefined) => targets.get(name ?? defaultRouteName)
    const unknownRoute = (name: string | undefined) =>
      new DeliveryError({
        reason: `no route named ${JSON.stringify(name ?? defaultRouteName)} in ROUTES_FILE`,
        retryable: false
      })

    /** A 400 is about one message, not the webhook; status 0 repeats a refusal already recorded. */
    const record = (route: RouteTarget, failure: WebhookFailure, message: string) => {
      switch (failure._tag) {
        case "Unusable":
          return failure.status === 0
            ? Effect.void
            : Effect.zipRight(
                health.unusable(route.sink, describeUnusable(failure.status, failure.code)),
                fromFile
                  ? admin.notify({
                      key: `route-disabled:${route.route.name}`,
                      title: `route ${route.route.name} disabled`,
                      detail: `${describeUnusable(failure.status, failure.code)}. Its alerts are dead-lettered until its webhook in ROUTES_FILE is fixed and the bot restarted; other routes carry on.`
                    })
                  : Effect.void
              )
        case "Rejected":
          return Effect.void
        case "RateLimited":
          return Effect.zipRight(
            Metric.increment(Metric.tagged(routeRateLimited, "route", route.route.name)),
            health.failed(route.sink, message)
          )
        case "Transient":
          return health.failed(route.sink, message)
      }
    }

    /** With routes, one dead webhook must not hold up the others: its alerts fail alone. */
    const toRouteError = (error: WebhookError): DeliveryError =>
      fromFile && error.failure._tag === "Unusable"
        ? new DeliveryError({ reason: `${error.message}; the route is disabled`, retryable: false })
        : toDeliveryError(error)

    const execute = (route: RouteTarget, message: WebhookMessage, beforeSend: Effect.Effect<void> | undefined) =>
      webhooks.execute(route.target, withRoute(message, route.route), beforeSend).pipe(
        Effect.tapBoth({
          onSuccess: () => health.succeeded(route.sink),
          onFailure: (error) => record(route, error.failure, error.message)
        }),
        Effect.mapError(toRouteError)
      )
    const messageOf = (entry: SendEntry) => alertMessage(entry.alert, entry.chart, entry.context)
    const defaultTarget = targetOf(defaultRouteName)

    return AlertSink.of({
      name: "discord",
      send: (alert, chart, beforeSend, context) => {
        const route = targetOf(context?.route)
        return (
          route === undefined
            ? Effect.fail(unknownRoute(context?.route))
            : execute(route, alertMessage(alert, chart, context), beforeSend)
        ).pipe(
          Effect.withSpan("AlertSink.discord.send", {
            attributes: { ticker: alert.ticker.symbol, route: context?.route ?? defaultRouteName }
          })
        )
      },
      edit: (messageId, entries) => {
        const route = targetOf(entries[0]?.route)
        if (messageId === null || route === undefined)
          return Effect.fail(
            new EditError({
              reason: messageId === null ? "the post returned no message id" : "its route is no longer in ROUTES_FILE",
              gone: true,
              retryable: false
            })
          )
        return editor.edit(route.target, messageId, editedMessage(entries)).pipe(
          Effect.withSpan("AlertSink.discord.edit", {
            attributes: { tickers: entries.map((entry) => entry.alert.ticker.symbol).join(",") }
          })
        )
      },
      packing: {
        // The tightest route's room: packing starts as soon as any one route's webhook is saturated.
        room: Effect.map(
          Effect.forEach([...targets.values()], (route) => webhooks.room(route.target)),
          (rooms) => Math.min(...rooms)
        ),
        fitting: (entries) => Math.max(1, firstGroupSize(entries.map(messageOf).map(packItemOf), packLimits)),
        sendMany: (entries, beforeSend) => {
          const route = targetOf(entries[0]?.context.route)
          return (
            route === undefined
              ? Effect.fail(unknownRoute(entries[0]?.context.route))
              : execute(route, packedMessage(entries.map(messageOf)), beforeSend)
          ).pipe(
            Effect.withSpan("AlertSink.discord.sendMany", {
              attributes: { alerts: entries.length, tickers: entries.map((entry) => entry.alert.ticker.symbol) }
            })
          )
        }
      },
      rateLimitWait: (name) => {
        const route = targetOf(name)
        return route === undefined ? Effect.succeed(0) : webhooks.waitFor(route.target)
      },
      // The bot token reads DISCORD_CHANNEL_ID, the default route's channel.
      ...(channel.enabled &&
        defaultTarget !== undefined &&
        !fromFile && {
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

// Layers are shared within one build, so /health and the heartbeat read this same DeliveryHealth.
const SinkDependencies = Layer.mergeAll(
  DeliveryHealth.Default,
  DiscordChannel.Default,
  DiscordEditor.Default,
  AdminChannel.Default
)

/** One webhook, the implicit `default` route (DISCORD_WEBHOOK_URL without ROUTES_FILE). */
export const layer = (url: Redacted.Redacted<string>) =>
  Layer.effect(AlertSink, make([defaultRoute(Option.some(url))], false)).pipe(Layer.provide(SinkDependencies))

/** The routes of ROUTES_FILE, each to its own webhook. */
export const routedLayer = Layer.effect(
  AlertSink,
  Effect.flatMap(Routes, (routes) => make(routes.routes, routes.fromFile))
).pipe(Layer.provide(Layer.merge(SinkDependencies, Routes.Default)))
