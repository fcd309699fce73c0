import type { FeedKind, NormalizedItem, Ticker } from "../Kernel/Domain.js"
import { canonicalUrl, itemId, secItemId } from "../Kernel/CanonicalId.js"
import type { ParsedFeed, RawEntry } from "./Parser.js"
import { isCatalystForm, isInsiderForm, parseSecEntry, partyRank, type SecEntry, secTitle } from "./SecEntry.js"
import { htmlToText, parseDate, resolveUrl } from "./Text.js"
import { preferTickers, tickersInCategories, tickersInText } from "./Tickers.js"

export interface NormalizeContext {
  readonly source: { readonly name: string; readonly kind: FeedKind; readonly url: string }
  readonly fetchedAt: string
  readonly allowOtc: boolean
  readonly dollarTickers: boolean
  /** CIK (10 digits) → tickers, from SEC's company_tickers.json, best listing first. */
  readonly tickersForCik: (cik: string) => ReadonlyArray<Ticker>
}

/** Summaries feed the classifier and the alert card; a megabyte of HTML in one item helps neither. */
const maxSummaryChars = 4_000

const wireItem = (entry: RawEntry, base: string | null, context: NormalizeContext): NormalizedItem => {
  const title = htmlToText(entry.title)
  const summary = htmlToText(entry.summary).slice(0, maxSummaryChars)
  const url = resolveUrl(entry.link, base, context.source.url)
  const link = url === null ? "" : canonicalUrl(url)
  const tickers = preferTickers(
    [
      ...tickersInCategories(entry.categories),
      ...tickersInText(`${title} ${summary}`, { dollarTickers: context.dollarTickers })
    ],
    { allowOtc: context.allowOtc }
  )
  return {
    id: itemId({ source: context.source.name, link: link || null, guid: entry.guid, title }),
    source: context.source.name,
    kind: context.source.kind,
    title,
    summary,
    link,
    published: parseDate(entry.published),
    fetchedAt: context.fetchedAt,
    tickers
  }
}

interface Party {
  readonly entry: RawEntry
  readonly sec: SecEntry
}

/**
 * A Form 4's reporting owners: without them every insider's filing on one issuer has the same
 * headline, and the story check would take the second insider's for a repeat of the first's.
 */
const insiderSuffix = (parties: ReadonlyArray<Party>): string => {
  if (!isInsiderForm(parties[0]?.sec.formType ?? "")) return ""
  const owners = parties
    .filter((party) => party.sec.role.toLowerCase() === "reporting")
    .map((party) => party.sec.companyName)
  return owners.length === 0 ? "" : ` — ${owners.join(" & ")}`
}

const secItem = (parties: readonly [Party, ...Array<Party>], base: string | null, context: NormalizeContext) => {
  const ordered = [...parties].sort((a, b) => partyRank(a.sec.role) - partyRank(b.sec.role))
  const main = ordered[0] ?? parties[0]
  const fromMap = ordered.map((party) => context.tickersForCik(party.sec.cik)).find((found) => found.length > 0) ?? []
  const url = resolveUrl(main.entry.link, base, context.source.url)
  return {
    id: secItemId(main.sec.accession),
    source: context.source.name,
    kind: context.source.kind,
    title: secTitle(main.sec) + insiderSuffix(ordered),
    summary: htmlToText(main.entry.summary).slice(0, maxSummaryChars),
    link: url === null ? "" : canonicalUrl(url),
    published: parseDate(main.entry.published) ?? main.sec.filed,
    fetchedAt: context.fetchedAt,
    tickers: preferTickers(fromMap, { allowOtc: context.allowOtc }),
    sec: {
      formType: main.sec.formType,
      cik: main.sec.cik,
      accession: main.sec.accession,
      items: main.sec.items,
      companyName: main.sec.companyName
    }
  }
}

/** A getcurrent feed without `type=` lists every form; one with it already chose its forms. */
const listsEveryForm = (url: string): boolean => {
  try {
    return (new URL(url).searchParams.get("type") ?? "").trim() === ""
  } catch {
    return false
  }
}

/**
 * Parsed entries → normalised items. SEC entries collapse to one item per accession (one line per
 * party upstream); entries that don't look like SEC lines are treated as ordinary Atom items. On a
 * feed of every form, filings of other forms (Form 4, 10-Q, …) are dropped here, before they are items.
 */
export const normalizeFeed = (parsed: ParsedFeed, context: NormalizeContext): ReadonlyArray<NormalizedItem> => {
  const base = resolveUrl(parsed.base, context.source.url)?.href ?? null
  if (context.source.kind !== "sec-atom") return parsed.entries.map((entry) => wireItem(entry, base, context))
  const filings = new Map<string, [Party, ...Array<Party>]>()
  const items: Array<{ readonly item: NormalizedItem } | { readonly parties: readonly [Party, ...Array<Party>] }> = []
  const everyForm = listsEveryForm(context.source.url)
  for (const entry of parsed.entries) {
    const sec = parseSecEntry(entry)
    if (sec === null) {
      items.push({ item: wireItem(entry, base, context) })
      continue
    }
    if (everyForm && !isCatalystForm(sec.formType)) continue
    const parties = filings.get(sec.accession)
    if (parties === undefined) {
      const first: [Party, ...Array<Party>] = [{ entry, sec }]
      filings.set(sec.accession, first)
      items.push({ parties: first })
    } else {
      parties.push({ entry, sec })
    }
  }
  return items.map((entry) => ("item" in entry ? entry.item : secItem(entry.parties, base, context)))
}
