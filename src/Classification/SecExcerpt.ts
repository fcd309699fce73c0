import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Data, Duration, Effect, Schedule, Schema } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { SecFiling } from "../Kernel/Domain.js"
import { SecClient } from "../Kernel/SecClient.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"

export class SecExcerptFailed extends Data.TaggedError("SecExcerptFailed")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** `filings.recent` is a set of parallel arrays, one entry per filing (https://www.sec.gov/edgar/sec-api-documentation). */
const Submissions = Schema.Struct({
  filings: Schema.Struct({
    recent: Schema.Struct({
      accessionNumber: Schema.Array(Schema.String),
      primaryDocument: Schema.Array(Schema.String)
    })
  })
})

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " }

/** Readable text of an HTML filing, for a prompt: markup and scripts dropped, whitespace collapsed. */
export const filingText = (html: string): string =>
  html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, name: string) => {
      if (name.startsWith("#x") || name.startsWith("#X")) return String.fromCodePoint(parseInt(name.slice(2), 16))
      if (name.startsWith("#")) return String.fromCodePoint(parseInt(name.slice(1), 10))
      return ENTITIES[name.toLowerCase()] ?? entity
    })
    .replace(/\s+/g, " ")
    .trim()

/**
 * The start of a filing's primary document, for the LLM prompt. Goes through SecClient, so it
 * shares the process-wide SEC limiter and User-Agent; without SEC_USER_AGENT it fails clearly.
 */
export class SecExcerpt extends Effect.Service<SecExcerpt>()("Classification/SecExcerpt", {
  effect: Effect.gen(function* () {
    const { classify: settings, feeds } = yield* AppConfig
    const sec = yield* SecClient

    const client = Effect.map(sec.client, (http) =>
      http.pipe(
        HttpClient.filterStatusOk,
        HttpClient.transformResponse(Effect.timeout(Duration.seconds(10))),
        HttpClient.retryTransient({
          schedule: Schedule.exponential("500 millis").pipe(Schedule.jittered),
          times: 2
        })
      )
    )

    const excerpt = Effect.fn("SecExcerpt.excerpt")(
      function* (filing: SecFiling) {
        const http = yield* client
        const cik = filing.cik.replace(/^0+/, "") || "0"
        const submissions = yield* http
          .get(`${settings.secSubmissionsUrl}/submissions/CIK${cik.padStart(10, "0")}.json`)
          .pipe(Effect.flatMap(HttpClientResponse.schemaBodyJson(Submissions)), Effect.scoped)
        const { accessionNumber, primaryDocument } = submissions.filings.recent
        const document = primaryDocument[accessionNumber.indexOf(filing.accession)]
        if (document === undefined || document === "") {
          return yield* new SecExcerptFailed({
            reason: `filing ${filing.accession} is not yet listed in CIK ${cik}'s submissions`
          })
        }
        const html = yield* http
          .get(
            `${feeds.secBaseUrl}/Archives/edgar/data/${cik}/${filing.accession.replace(/-/g, "")}/${encodeURIComponent(document)}`
          )
          .pipe(
            Effect.flatMap((response) => response.text),
            Effect.scoped
          )
        return filingText(html).slice(0, settings.secExcerptChars)
      },
      Effect.mapError((error) =>
        error._tag === "SecExcerptFailed"
          ? error
          : new SecExcerptFailed({ reason: `SEC document for the prompt: ${error.message}` })
      )
    )

    return { excerpt } as const
  }),
  dependencies: [AppConfig.Default, SecClient.Default]
}) {
  static readonly Test = makeTestLayer(SecExcerpt)
}
