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

/** A filing folder's listing (`/Archives/edgar/data/{cik}/{accession}/index.json`). */
const FolderIndex = Schema.Struct({
  directory: Schema.Struct({ item: Schema.Array(Schema.Struct({ name: Schema.String })) })
})

/** EX-99.1's file name as filers write it: `ex99-1`, `ex99_1`, `ex991`, `dex991`, `exhibit991`. */
const pressRelease = /(?:ex|exhibit)[-_]?99[-_.]?0?1(?![0-9])[^/]*\.(?:htm|html|txt)$/i

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

    const folderOf = (filing: SecFiling) => {
      const cik = filing.cik.replace(/^0+/, "") || "0"
      return { cik, url: `${feeds.secBaseUrl}/Archives/edgar/data/${cik}/${filing.accession.replace(/-/g, "")}` }
    }

    const describe = (what: string) =>
      Effect.mapError((error: SecExcerptFailed | Error) =>
        error instanceof SecExcerptFailed ? error : new SecExcerptFailed({ reason: `${what}: ${error.message}` })
      )

    /**
     * The filing's primary document as filed. For XML forms (SCHEDULE 13D/G, Form 4) submissions names
     * the rendered copy under an `xsl…/` folder; the filed XML sits at the folder's root under the same name.
     */
    const primaryDocument = Effect.fn("SecExcerpt.primaryDocument")(function* (filing: SecFiling) {
      const http = yield* client
      const { cik, url } = folderOf(filing)
      const submissions = yield* http
        .get(`${settings.secSubmissionsUrl}/submissions/CIK${cik.padStart(10, "0")}.json`)
        .pipe(Effect.flatMap(HttpClientResponse.schemaBodyJson(Submissions)), Effect.scoped)
      const { accessionNumber, primaryDocument } = submissions.filings.recent
      const listed = primaryDocument[accessionNumber.indexOf(filing.accession)]
      if (listed === undefined || listed === "") {
        return yield* new SecExcerptFailed({
          reason: `filing ${filing.accession} is not yet listed in CIK ${cik}'s submissions`
        })
      }
      const name = listed.replace(/^xsl[^/]*\//, "")
      const body = yield* http.get(`${url}/${encodeURIComponent(name)}`).pipe(
        Effect.flatMap((response) => response.text),
        Effect.scoped
      )
      return { name, body }
    }, describe("SEC primary document"))

    /**
     * The furnished press release of an 8-K. The folder's index.json lists file names only, so the
     * exhibit is found by the name filers give EX-99.1 (`ex99-1.htm`, `ex991.htm`, `d123dex991.htm`);
     * null when the filing has none.
     */
    const exhibit = Effect.fn("SecExcerpt.exhibit")(function* (filing: SecFiling) {
      const http = yield* client
      const { url } = folderOf(filing)
      const index = yield* http
        .get(`${url}/index.json`)
        .pipe(Effect.flatMap(HttpClientResponse.schemaBodyJson(FolderIndex)), Effect.scoped)
      const name = index.directory.item.map((entry) => entry.name).find((candidate) => pressRelease.test(candidate))
      if (name === undefined) return null
      const html = yield* http.get(`${url}/${encodeURIComponent(name)}`).pipe(
        Effect.flatMap((response) => response.text),
        Effect.scoped
      )
      return { name, text: filingText(html) }
    }, describe("SEC exhibit 99.1"))

    const excerpt = Effect.fn("SecExcerpt.excerpt")(function* (filing: SecFiling) {
      const { body } = yield* primaryDocument(filing)
      return filingText(body).slice(0, settings.secExcerptChars)
    })

    return { excerpt, primaryDocument, exhibit } as const
  }),
  dependencies: [AppConfig.Default, SecClient.Default]
}) {
  static readonly Test = makeTestLayer(SecExcerpt)
}
