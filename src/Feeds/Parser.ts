import { Data, Either } from "effect"
import { parseAtomFeed, parseFeed, parseRdfFeed, parseRssFeed } from "feedsmith"
import type { AtomFeed, RdfFeed, RssFeed } from "feedsmith"

/**
 * The adapter over feedsmith (chosen by measurement, see README "Feeds"): one entry shape for
 * RSS 0.9x/2.0, RDF (RSS 1.0) and Atom 0.3/1.0, with text left raw so Normalize decides how to
 * decode HTML, dates and relative links.
 */

export interface RawCategory {
  readonly term: string
  /** RSS `domain` or Atom `scheme`; GlobeNewswire marks stock tags with it. */
  readonly scheme: string | null
}

export interface RawEntry {
  readonly title: string
  readonly link: string | null
  readonly guid: string | null
  readonly summary: string
  readonly published: string | null
  readonly categories: ReadonlyArray<RawCategory>
}

export interface ParsedFeed {
  readonly format: "rss" | "atom" | "rdf"
  /** The feed's own link or xml:base, for resolving relative item links. */
  readonly base: string | null
  readonly entries: ReadonlyArray<RawEntry>
}

export type ParseKind = "auto" | "rss" | "atom" | "sec-atom"

export class NotAFeed extends Data.TaggedError("NotAFeed")<{ readonly reason: string }> {
  override get message() {
    return `not a feed: ${this.reason}`
  }
}

/**
 * feedsmith never expands DTD entities (it runs fast-xml-parser with processEntities off), so a
 * billion-laughs document can't blow up memory. Feeds have no use for entity declarations, so a
 * document that declares any is refused outright: no later parser change can re-open that door.
 */
const entityDeclaration = /<!ENTITY/i

const rssEntries = (feed: RssFeed.Feed<string>): ParsedFeed => ({
  format: "rss",
  base: feed.link ?? null,
  entries: (feed.items ?? []).map((item) => ({
    title: item.title ?? "",
    link: item.link ?? item.guid?.value ?? null,
    guid: item.guid?.value ?? null,
    summary: item.description ?? item.content?.encoded ?? "",
    published: item.pubDate ?? item.dc?.dates?.[0] ?? null,
    categories: (item.categories ?? []).flatMap((category) =>
      category.name ? [{ term: category.name, scheme: category.domain ?? null }] : []
    )
  }))
})

const rdfEntries = (feed: RdfFeed.Feed<string>): ParsedFeed => ({
  format: "rdf",
  base: feed.link ?? null,
  entries: (feed.items ?? []).map((item) => ({
    title: item.title ?? "",
    link: item.link ?? item.rdf?.about ?? null,
    guid: item.rdf?.about ?? null,
    summary: item.description ?? item.content?.encoded ?? "",
    published: item.dc?.dates?.[0] ?? null,
    categories: (item.dc?.subjects ?? []).map((term) => ({ term, scheme: null }))
  }))
})

const alternateLink = (links: ReadonlyArray<AtomFeed.Link<string>> | undefined): string | null =>
  (links ?? []).find((link) => link.rel === undefined || link.rel === "alternate")?.href ?? null

const atomEntries = (feed: AtomFeed.Feed<string>): ParsedFeed => ({
  format: "atom",
  base: alternateLink(feed.links),
  entries: (feed.entries ?? []).map((entry) => ({
    title: entry.title?.value ?? "",
    link: alternateLink(entry.links),
    guid: entry.id ?? null,
    summary: entry.summary?.value ?? entry.content?.value ?? "",
    published: entry.published ?? entry.updated ?? null,
    categories: (entry.categories ?? []).flatMap((category) =>
      category.term ? [{ term: category.term, scheme: category.scheme ?? null }] : []
    )
  }))
})

const attempt = <A>(parse: () => A): Either.Either<A, NotAFeed> => {
  try {
    return Either.right(parse())
  } catch (error) {
    return Either.left(new NotAFeed({ reason: error instanceof Error ? error.message : String(error) }))
  }
}

/** Parses feed text. `auto` detects the format; the others insist on one. */
export const parseDocument = (text: string, kind: ParseKind = "auto"): Either.Either<ParsedFeed, NotAFeed> => {
  if (entityDeclaration.test(text)) {
    return Either.left(new NotAFeed({ reason: "the document declares XML entities, refused (entity expansion)" }))
  }
  switch (kind) {
    case "rss":
      return attempt(() => rssEntries(parseRssFeed(text))).pipe(
        Either.orElse(() => attempt(() => rdfEntries(parseRdfFeed(text)))),
        Either.mapLeft(() => new NotAFeed({ reason: "not RSS 0.9x, 1.0 (RDF) or 2.0" }))
      )
    case "atom":
    case "sec-atom":
      return attempt(() => atomEntries(parseAtomFeed(text))).pipe(
        Either.mapLeft(() => new NotAFeed({ reason: "not Atom 0.3 or 1.0" }))
      )
    case "auto":
      return Either.flatMap(
        attempt(() => parseFeed(text)),
        (parsed): Either.Either<ParsedFeed, NotAFeed> => {
          switch (parsed.format) {
            case "rss":
              return Either.right(rssEntries(parsed.feed))
            case "rdf":
              return Either.right(rdfEntries(parsed.feed))
            case "atom":
              return Either.right(atomEntries(parsed.feed))
            case "json":
              return Either.left(new NotAFeed({ reason: "JSON Feed is not supported" }))
          }
        }
      )
  }
}
