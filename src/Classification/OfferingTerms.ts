import type { OfferingTerms } from "../Kernel/Domain.js"

/**
 * An offering's terms from the cover page of its prospectus (424B2–424B5, S-1, S-3, F-1, F-3, FWP),
 * read with the phrasings Regulation S-K Item 501 cover pages use: "$50,000,000 of Common Stock",
 * "5,000,000 shares of common stock", "at a public offering price of $2.50 per share", "warrants to
 * purchase up to 5,000,000 shares". A term the cover page does not state stays null.
 */

/** The cover page and the prospectus summary's offering table: far enough for the terms, short of the risk factors. */
const coverChars = 12_000

const amount = String.raw`\$\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:\s+(million|billion))?`
const count = String.raw`(\d{1,3}(?:,\d{3})+|\d{4,})`
const commonStock = String.raw`(?:shares\s+of\s+)?(?:our\s+|the\s+company's\s+)?(?:class\s+a\s+)?common\s+(?:stock|shares)`

const sizePatterns = [
  new RegExp(String.raw`(?:aggregate\s+offering\s+price\s+of\s+(?:up\s+to\s+)?)${amount}`, "i"),
  new RegExp(String.raw`(?:up\s+to\s+)?${amount}\s+(?:of\s+)?${commonStock}`, "i")
]
const pricePattern = new RegExp(String.raw`price\s+of\s+${amount}\s+per\s+(?:share|unit)`, "i")
const perSharePattern = new RegExp(String.raw`${amount}\s+per\s+share`, "i")
const sharesPattern = new RegExp(String.raw`${count}\s+(?:shares\s+of\s+)?${commonStock}`, "gi")
const warrantsPattern = new RegExp(
  String.raw`warrants\s+to\s+purchase\s+(?:up\s+to\s+)?(?:an\s+aggregate\s+of\s+)?${count}\s+shares`,
  "i"
)
const outstandingPattern = new RegExp(
  String.raw`${count}\s+${commonStock}\s+(?:will\s+be\s+|were\s+)?outstanding\s+(?:immediately\s+)?(before|prior\s+to|after)\s+(?:this|the)\s+offering`,
  "gi"
)

const toNumber = (whole: string, fraction: string | undefined, scale?: string): number => {
  const value = Number(`${whole.replace(/,/g, "")}${fraction === undefined ? "" : `.${fraction}`}`)
  return scale === undefined ? value : value * (scale.toLowerCase() === "billion" ? 1e9 : 1e6)
}

const money = (pattern: RegExp, text: string): number | null => {
  const match = pattern.exec(text)
  return match === null ? null : toNumber(match[1] ?? "0", match[2], match[3])
}

/** Shares offered: the first count of common stock that is neither what warrants buy nor what is outstanding. */
const sharesOffered = (text: string): number | null => {
  for (const match of text.matchAll(sharesPattern)) {
    const before = text.slice(Math.max(0, match.index - 40), match.index).toLowerCase()
    // "$50,000,000 of common stock" is a dollar size, not a count.
    if (/\$\s?$/.test(before)) continue
    const after = text.slice(match.index + match[0].length, match.index + match[0].length + 30).toLowerCase()
    if (
      /purchase\s+(up\s+to\s+)?(an\s+aggregate\s+of\s+)?$/.test(before) ||
      /^\s*(will\s+be\s+|were\s+)?outstanding/.test(after)
    ) {
      continue
    }
    return toNumber(match[1] ?? "0", undefined)
  }
  return null
}

/** Shares outstanding before the offering: stated, or stated after it less the shares offered. */
const outstandingBefore = (text: string, offered: number | null): number | null => {
  let after: number | null = null
  for (const match of text.matchAll(outstandingPattern)) {
    const shares = toNumber(match[1] ?? "0", undefined)
    if ((match[2] ?? "").toLowerCase() === "after") after ??= shares
    else return shares
  }
  return after !== null && offered !== null && after > offered ? after - offered : null
}

export const parseOfferingTerms = (documentText: string): OfferingTerms => {
  const text = documentText.slice(0, coverChars).replace(/\s+/g, " ")
  const shares = sharesOffered(text)
  const sharesOutstanding = outstandingBefore(text, shares)
  return {
    sizeUsd: sizePatterns.reduce<number | null>((found, pattern) => found ?? money(pattern, text), null),
    pricePerShare: money(pricePattern, text) ?? money(perSharePattern, text),
    shares,
    warrants: ((match) => (match === null ? null : toNumber(match[1] ?? "0", undefined)))(warrantsPattern.exec(text)),
    sharesOutstanding,
    dilutionPct:
      shares === null || sharesOutstanding === null ? null : Math.round((shares / sharesOutstanding) * 1000) / 10
  }
}

export const knowsAnyTerm = (terms: OfferingTerms): boolean => Object.values(terms).some((value) => value !== null)

export const isOfferingForm = (formType: string): boolean => /^(424B[2-5]|S-1|S-3|F-1|F-3|FWP)\b/i.test(formType.trim())
