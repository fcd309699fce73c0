import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Data, Duration, Effect, Option, Redacted, Schema } from "effect"
import { AppConfig } from "../../Kernel/AppConfig.js"
import { footerCarriesId } from "./Embed.js"

export class ChannelReadError extends Data.TaggedError("ChannelReadError")<{ readonly reason: string }> {
  override get message() {
    return `can't read the alert channel: ${this.reason}`
  }
}

const ChannelMessage = Schema.Struct({
  id: Schema.String,
  embeds: Schema.optionalWith(
    Schema.Array(
      Schema.Struct({
        title: Schema.optional(Schema.String),
        footer: Schema.optional(Schema.Struct({ text: Schema.String }))
      })
    ),
    { default: () => [] }
  )
})
const decodeMessages = Schema.decodeUnknown(Schema.parseJson(Schema.Array(ChannelMessage)))

/** Errors of the platform client quote the URL; the error code is what's worth logging. */
const networkCode = (error: { readonly cause?: unknown }): string => {
  const cause = error.cause as { code?: unknown; cause?: { code?: unknown } } | undefined
  const code = cause?.code ?? cause?.cause?.code
  return typeof code === "string" ? code : "connection failed"
}

/** How far back a check looks; an ambiguous send is checked within minutes of it. */
const recentLimit = 50

/**
 * Reads the alert channel back with a bot token (Get Channel Messages,
 * https://discord.com/developers/docs/resources/message#get-channel-messages, which needs the View
 * Channel and Read Message History permissions): the one way to learn whether a webhook send that got
 * no answer created its message. Off unless DISCORD_BOT_TOKEN and DISCORD_CHANNEL_ID are set.
 */
export class DiscordChannel extends Effect.Service<DiscordChannel>()("Delivery/Discord/DiscordChannel", {
  effect: Effect.gen(function* () {
    const { discord, delivery } = yield* AppConfig
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.transformResponse(Effect.timeout(Duration.seconds(delivery.requestTimeoutSeconds)))
    )
    const access = Option.all({ token: discord.botToken, channel: discord.channelId })

    const readRecent = (token: Redacted.Redacted<string>, channel: string) =>
      Effect.gen(function* () {
        const request = HttpClientRequest.get(`${discord.apiBaseUrl}/channels/${channel}/messages`).pipe(
          HttpClientRequest.setUrlParam("limit", String(recentLimit)),
          HttpClientRequest.setHeader("authorization", `Bot ${Redacted.value(token)}`),
          HttpClientRequest.acceptJson
        )
        const response = yield* client.execute(request).pipe(
          Effect.catchAll((error) =>
            Effect.fail(
              new ChannelReadError({
                reason:
                  error._tag === "TimeoutException"
                    ? `no answer within DISCORD_TIMEOUT_SECONDS=${delivery.requestTimeoutSeconds}`
                    : `network error (${networkCode(error)})`
              })
            )
          )
        )
        const body = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
        if (response.status === 401 || response.status === 403)
          return yield* new ChannelReadError({
            reason: `HTTP ${response.status}: check DISCORD_BOT_TOKEN and that the bot may view channel ${channel} and read its history`
          })
        if (response.status !== 200) return yield* new ChannelReadError({ reason: `HTTP ${response.status}` })
        return yield* decodeMessages(body).pipe(
          Effect.mapError(() => new ChannelReadError({ reason: "the answer is not a list of messages" }))
        )
      })

    /** The id of the recent message that carries alert `id` with this title, if there is one. */
    const findAlert = Effect.fn("DiscordChannel.findAlert")(function* (id: number, title: string) {
      if (Option.isNone(access)) return Option.none<string>()
      const messages = yield* readRecent(access.value.token, access.value.channel)
      const found = messages.find((message) =>
        message.embeds.some(
          (embed) => embed.title === title && embed.footer !== undefined && footerCarriesId(embed.footer.text, id)
        )
      )
      yield* Effect.annotateCurrentSpan({ "alert.id": id, found: found !== undefined })
      return Option.fromNullable(found?.id)
    })

    return { enabled: Option.isSome(access), findAlert } as const
  }),
  dependencies: [AppConfig.Default]
}) {}
