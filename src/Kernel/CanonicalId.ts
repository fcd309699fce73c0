/** Stable identities for items, so one story reached through different URLs or feeds is one item. */

const trackingParameter =
  /^(utm_\w*|gclid|gclsrc|dclid|fbclid|msclkid|yclid|igshid|mc_cid|mc_eid|_hsenc|_hsmi|mkt_tok|ref|ref_src|cmpid|s_cid|spm)$/i

/**
 * Drops tracking parameters and the fragment (modifying `url`); the URL parser already lowercases
 * the host and drops default ports.
 */
export const canonicalUrl = (url: URL): string => {
  url.hash = ""
  for (const key of Array.from(url.searchParams.keys())) {
    if (trackingParameter.test(key)) url.searchParams.delete(key)
  }
  url.search = url.searchParams.toString()
  return url.href
}

/** SEC accession numbers look like 0001171843-25-007909; the same filing seen via any feed gets one id. */
export const secItemId = (accession: string): string => `sec:${accession.trim()}`

export const itemId = (input: {
  readonly source: string
  /** Already canonical (canonicalUrl). */
  readonly link: string | null
  readonly guid: string | null
  readonly title: string
}): string => {
  if (input.link && /^https?:\/\//i.test(input.link)) return input.link
  if (input.guid && input.guid.trim() !== "") return `${input.source}:${input.guid.trim()}`
  return `${input.source}:title:${input.title.trim().toLowerCase()}`
}

const stopWords = new Set(
  "a an and are as at be by for from has have in inc into is it its ltd of on or corp corporation company co the to with announces announce reports report".split(
    " "
  )
)

/**
 * A normalised-title signature: the same headline from two wires (different casing, punctuation,
 * "Inc." vs "Inc", a trailing exchange tag) yields the same signature.
 */
export const storySignature = (title: string): string => {
  const words = title
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/\((?:nasdaq|nyse|nyse american|otc\w*|tsxv?|tsx-v|cse|fra)\s*:[^)]*\)/g, " ")
    .split(/[^a-z0-9$%.]+/)
    .map((word) => word.replace(/^\.+|\.+$/g, ""))
    .filter((word) => word.length > 0 && !stopWords.has(word))
  return Array.from(new Set(words)).sort().join(" ")
}
