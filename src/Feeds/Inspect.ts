import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Clock, Data, DateTime, Duration, Effect, Either } from "effect"
import { readFileSync } from "node:fs"
import { basename } from "node:path"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { FeedKind, NormalizedItem } from "../Kernel/Domain.js"
import { describeHttpFailure } from "../Kernel/HttpFailure.js"
import { SecClient } from "../Kernel/SecClient.js"
import { decodeBody } from "./Charset.js"
import { CikTickers } from "./CikTickers.js"
import { needsSecClient } from "./FeedFetcher.js"
import { normalizeFeed } from "./Normalize.js"
import { type ParseKind, parseDocument } from "./Parser.js"

/** `catalyst-bot parse` failures: one line for the user, no stack. */
export class InspectError extends Data.TaggedError("InspectError")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

const isUrl = (input: string) => /^https?:\/\//i.test(input)

const readInput = (input: string) =>
  Effect.gen(function* () {
    const { feeds } = yield* AppConfig
    if (!isUrl(input)) {
      return yield* Effect.try({
        try: () => ({ bytes: readFileSync(input), contentType: null }),
        catch: (error) => new InspectError({ reason: `can't read ${input}: ${(error as Error).message}` })
      })
    }
    yield* Effect.try({
      try: () => new URL(input),
      catch: () => new InspectError({ reason: `${input} is not a valid URL` })
    })
    const client = needsSecClient({ kind: "atom", url: input })
      ? yield* Effect.mapError((yield* SecClient).client, (error) => new InspectError({ reason: error.message }))
      : yield* HttpClient.HttpClient
    return yield* client.execute(HttpClientRequest.get(input)).pipe(
      Effect.flatMap(HttpClientResponse.filterStatusOk),
      Effect.flatMap((response) =>
        Effect.map(response.arrayBuffer, (body) => ({
          bytes: new Uint8Array(body),
          contentType: response.headers["content-type"] ?? null
        }))
      ),
      Effect.scoped,
      Effect.timeout(Duration.seconds(feeds.timeoutSeconds)),
      Effect.mapError((error) => new InspectError({ reason: `can't fetch ${input}: ${describeHttpFailure(error)}` }))
    )
  })

/** What the bot would make of one feed document: the normalised items, exactly as the cycle sees them. */
export const inspectFeed = Effect.fn("Feeds.inspect")(function* (input: string, kind: ParseKind) {
  const config = yield* AppConfig
  const { bytes, contentType } = yield* readInput(input)
  if (bytes.byteLength > config.feeds.maxBytes) {
    return yield* new InspectError({ reason: `${input} exceeds FEED_MAX_BYTES=${config.feeds.maxBytes}` })
  }
  const parsed = yield* Either.mapLeft(
    parseDocument(decodeBody(bytes, contentType), kind),
    (error) => new InspectError({ reason: `${input}: ${error.message}` })
  )
  const looksSec = kind === "sec-atom" || (kind === "auto" && parsed.entries.some((e) => /sec\.gov/.test(e.guid ?? "")))
  const sourceKind: FeedKind = looksSec ? "sec-atom" : parsed.format === "atom" ? "atom" : "rss"
  const tickersForCik = looksSec ? yield* (yield* CikTickers).lookup : () => []
  const items: ReadonlyArray<NormalizedItem> = normalizeFeed(parsed, {
    source: {
      name: isUrl(input) ? new URL(input).hostname : basename(input),
      kind: sourceKind,
      url: isUrl(input) ? input : "file:///"
    },
    fetchedAt: DateTime.formatIso(DateTime.unsafeMake(yield* Clock.currentTimeMillis)),
    allowOtc: config.filters.allowOtcTickers,
    dollarTickers: config.feeds.dollarTickers,
    tickersForCik
  })
  return items
})
