import { Duration, Effect, Fiber } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { Classification, ClassifiedItem, SecFiling } from "../Kernel/Domain.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"
import { itemNumbers } from "./Keywords.js"
import { isOfferingForm, knowsAnyTerm, parseOfferingTerms } from "./OfferingTerms.js"
import { isOwnershipForm, isStructuredOwnershipForm, parseLegacyOwnership, parseOwnershipXml } from "./Ownership.js"
import { filingText, SecExcerpt, SecExcerptFailed } from "./SecExcerpt.js"

/** The classifier's verdict on an item with a document's text read too, and what that text matched. */
export type Rescore = (
  entry: ClassifiedItem,
  text: string
) => { readonly classification: Classification; readonly matched: ReadonlyArray<string> }

/** A cover page's length in characters: what is classified of a 13D's or a prospectus' primary document. */
const coverChars = 4_000

/** 8-K items whose caption says nothing: what they are about is in the furnished press release. */
const captionless = new Set(["7.01", "8.01"])

/** How long a read started by `start` may take: past it the document is left out (the edit would come too late to matter). */
const lateReadLimit = Duration.minutes(1)

/**
 * What a filing's documents say beyond its getcurrent line: an 8-K 7.01/8.01's press release (EX-99.1),
 * classified with the item's text; a 13D/13G's stake; an offering's terms. Read within
 * SEC_DOCUMENT_WAIT_SECONDS of the poll (`attach`), or started at once and awaited by the caller
 * (`start`: the live pollers post first and edit the documents in), through the shared SEC budget.
 * A document that is missing, malformed or late leaves its fields empty (one debug line) and the item
 * carries on as it was: an 8.01 whose exhibit was not read is decided on its item rule alone
 * (neutral, so filtered by MIN_SCORE unless its summary scores).
 */
export class FilingDetails extends Effect.Service<FilingDetails>()("Classification/FilingDetails", {
  scoped: Effect.gen(function* () {
    const { classify: settings } = yield* AppConfig
    const documents = yield* SecExcerpt
    const wait = Duration.seconds(settings.secDocumentWaitSeconds)
    const scope = yield* Effect.scope

    const withExhibit = (entry: ClassifiedItem, filing: SecFiling, rescore: Rescore) =>
      Effect.flatMap(documents.exhibit(filing), (exhibit) => {
        if (exhibit === null) return new SecExcerptFailed({ reason: "the filing has no EX-99.1" })
        const { classification, matched } = rescore(entry, exhibit.text)
        return Effect.succeed<ClassifiedItem>({
          ...entry,
          classification,
          filing: { ...entry.filing, exhibit: { document: exhibit.name, matched } }
        })
      })

    /** getcurrent says nothing of a 13D's or a prospectus' content: their cover page is classified too. */
    const withCover = (entry: ClassifiedItem, text: string, rescore: Rescore) => ({
      ...entry,
      classification: rescore(entry, text.slice(0, coverChars)).classification
    })

    const withOwnership = (entry: ClassifiedItem, filing: SecFiling, rescore: Rescore) =>
      Effect.flatMap(documents.primaryDocument(filing), ({ name, body }) => {
        const text = filingText(body)
        const ownership = isStructuredOwnershipForm(filing.formType)
          ? parseOwnershipXml(body)
          : parseLegacyOwnership(text, filing.companyName)
        if (ownership === null) return new SecExcerptFailed({ reason: `${name} is not a Schedule 13D/G document` })
        return Effect.succeed<ClassifiedItem>({
          ...withCover(entry, text, rescore),
          filing: { ...entry.filing, ownership }
        })
      })

    const withOffering = (entry: ClassifiedItem, filing: SecFiling, rescore: Rescore) =>
      Effect.flatMap(documents.primaryDocument(filing), ({ name, body }) => {
        const text = filingText(body)
        const offering = parseOfferingTerms(text)
        const covered = withCover(entry, text, rescore)
        if (!knowsAnyTerm(offering)) {
          return Effect.as(
            Effect.logDebug(`${filing.formType} ${filing.accession}: ${name}'s cover page states no terms`),
            covered
          )
        }
        return Effect.succeed<ClassifiedItem>({ ...covered, filing: { ...entry.filing, offering } })
      })

    const readerOf = (entry: ClassifiedItem, filing: SecFiling, rescore: Rescore) => {
      if (/^8-K/i.test(filing.formType) && itemNumbers(filing.items).some((item) => captionless.has(item))) {
        return { what: "EX-99.1 text", read: withExhibit(entry, filing, rescore) }
      }
      if (isOwnershipForm(filing.formType)) return { what: "stake", read: withOwnership(entry, filing, rescore) }
      if (isOfferingForm(filing.formType)) return { what: "offering terms", read: withOffering(entry, filing, rescore) }
      return null
    }

    /** The entry with its documents read, within `limit`; null when it has none worth reading. */
    const detailsOf = (
      entry: ClassifiedItem,
      rescore: Rescore,
      limit: { readonly duration: Duration.Duration; readonly name: string }
    ): Effect.Effect<ClassifiedItem> | null => {
      const filing = entry.item.sec
      // An item without a ticker is never alerted: its documents would be fetched for nothing.
      if (filing === undefined || entry.item.tickers.length === 0) return null
      const reader = readerOf(entry, filing, rescore)
      if (reader === null) return null
      return reader.read.pipe(
        Effect.timeoutFail({
          duration: limit.duration,
          onTimeout: () => new SecExcerptFailed({ reason: `not read within ${limit.name}` })
        }),
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logDebug(
              `${filing.formType} ${filing.accession} (${filing.companyName}): ${reader.what} left empty: ${error.message}`
            ),
            entry
          )
        )
      )
    }

    const waitLimit = { duration: wait, name: `SEC_DOCUMENT_WAIT_SECONDS=${settings.secDocumentWaitSeconds}` }
    const lateLimit = { duration: lateReadLimit, name: Duration.format(lateReadLimit) }

    /** Every item at once, so the stage takes at most SEC_DOCUMENT_WAIT_SECONDS whatever the batch. */
    const attach = Effect.fn("FilingDetails.attach")(function* (
      items: ReadonlyArray<ClassifiedItem>,
      rescore: Rescore
    ) {
      if (settings.secDocumentWaitSeconds === 0 || !items.some((entry) => entry.item.sec !== undefined)) return items
      return yield* Effect.forEach(items, (entry) => detailsOf(entry, rescore, waitLimit) ?? Effect.succeed(entry), {
        concurrency: "unbounded"
      })
    })

    /**
     * Starts every item's reads and returns at once, by item id, the fibers that end with the entry
     * as its documents make it (never failing). They run in this service's scope, so a caller that
     * stops waiting leaves them to finish for an edit; SEC_DOCUMENT_WAIT_SECONDS=0 reads nothing.
     */
    const start = Effect.fn("FilingDetails.start")(function* (items: ReadonlyArray<ClassifiedItem>, rescore: Rescore) {
      const reads = new Map<string, Fiber.Fiber<ClassifiedItem>>()
      if (settings.secDocumentWaitSeconds === 0) return reads
      for (const entry of items) {
        const read = detailsOf(entry, rescore, lateLimit)
        if (read !== null) reads.set(entry.item.id, yield* Effect.forkIn(read, scope))
      }
      return reads
    })

    return { attach, start } as const
  }),
  dependencies: [AppConfig.Default, SecExcerpt.Default]
}) {
  static readonly Test = makeTestLayer(FilingDetails)
}
