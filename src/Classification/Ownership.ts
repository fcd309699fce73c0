import { XMLParser } from "fast-xml-parser"
import type { Ownership } from "../Kernel/Domain.js"

/**
 * The stake a 13D/13G reports. Structured `SCHEDULE 13D`/`13G` filings (EDGAR Schedule 13D/G XML
 * Technical Specification) carry it on the cover page: `issuerInfo/issuerName` and, per reporting
 * person, `percentOfClass` (13D) or `classPercent` (13G). Legacy `SC 13D`/`SC 13G` documents are
 * HTML or text; their cover page's row 13 (13D) or 11 (13G) says "Percent of class represented by
 * amount in row …".
 */

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  isArray: (name) => name === "reportingPersonInfo" || name === "coverPageHeaderReportingPersonDetails"
})

type Node = { readonly [key: string]: unknown }

const child = (node: unknown, key: string): unknown =>
  typeof node === "object" && node !== null ? (node as Node)[key] : undefined

const text = (node: unknown): string | null =>
  typeof node === "string" && node.trim() !== "" ? node.trim() : typeof node === "number" ? String(node) : null

const number = (node: unknown): number | null => {
  const value = text(node)
  if (value === null) return null
  const parsed = Number(value.replace(/[,%\s]/g, ""))
  return Number.isFinite(parsed) ? parsed : null
}

const filerOf = (names: ReadonlyArray<string>): string | null => {
  if (names.length === 0) return null
  if (names.length === 1) return names[0] ?? null
  return `${names[0]} and ${names.length - 1} other${names.length > 2 ? "s" : ""}`
}

const largest = (values: ReadonlyArray<number | null>): number | null =>
  values.reduce<number | null>(
    (best, value) => (value === null ? best : best === null ? value : Math.max(best, value)),
    null
  )

/** Null when the document is not a Schedule 13D/G submission. */
export const parseOwnershipXml = (xml: string): Ownership | null => {
  let document: unknown
  try {
    document = parser.parse(xml)
  } catch {
    return null
  }
  const form = child(child(document, "edgarSubmission"), "formData")
  const subject = text(child(child(child(form, "coverPageHeader"), "issuerInfo"), "issuerName"))
  if (subject === null) return null
  const persons13d = child(child(form, "reportingPersons"), "reportingPersonInfo")
  const persons13g = child(form, "coverPageHeaderReportingPersonDetails")
  const persons = (
    Array.isArray(persons13d) ? persons13d : Array.isArray(persons13g) ? persons13g : []
  ) as ReadonlyArray<unknown>
  const names = persons.flatMap((person) => text(child(person, "reportingPersonName")) ?? [])
  return {
    filer: filerOf(names),
    subject,
    // Joint filers (a fund, its manager, its principal) report the same stake, each in full.
    percentOfClass: largest(
      persons.map((person) => number(child(person, "percentOfClass") ?? child(person, "classPercent")))
    ),
    shares: largest(
      persons.map((person) =>
        number(
          child(person, "aggregateAmountOwned") ??
            child(person, "reportingPersonBeneficiallyOwnedAggregateNumberOfShares")
        )
      )
    )
  }
}

const legacyPercent =
  /percent\s+of\s+class\s+represented\s+by\s+amount\s+in\s+row\s*\(?\s*\d+\s*\)?\s*:?\s*(\d{1,3}(?:\.\d+)?)\s*%/i
const legacyFiler =
  /names?\s+of\s+reporting\s+persons?\.?\s*(?:(?:s\.s\.\s+or\s+)?i\.r\.s\.\s+identification\s+nos?\.\s+of\s+(?:the\s+)?above\s+persons?\s*(?:\(entities\s+only\)\s*)?)?:?\s*(.+?)\s+(?:\(?2\)?\.?\s+check|i\.r\.s\.|\(?2\)\s)/i
const legacySubject = /([^()]{2,150}?)\s*\(\s*name\s+of\s+(?:the\s+)?(?:issuer|subject\s+company)\s*\)/i

/** A legacy SC 13D/13G's text; `subject` falls back to the filing's subject company when the cover page is unreadable. */
export const parseLegacyOwnership = (documentText: string, subjectCompany: string): Ownership => {
  const cover = documentText.slice(0, 20_000).replace(/\s+/g, " ")
  const percent = legacyPercent.exec(cover)?.[1]
  const subject = legacySubject
    .exec(cover)?.[1]
    ?.replace(/^.*(?:SCHEDULE\s+13[DG](?:\/A)?|Amendment\s+No\.?\s*\d+\)?)\s*/i, "")
    .trim()
  return {
    filer: legacyFiler.exec(cover)?.[1]?.trim() ?? null,
    subject: subject === undefined || subject === "" ? subjectCompany : subject,
    percentOfClass: percent === undefined ? null : Number(percent),
    shares: null
  }
}

export const isOwnershipForm = (formType: string): boolean => /^(SCHEDULE|SC) 13[DG]\b/i.test(formType.trim())

export const isStructuredOwnershipForm = (formType: string): boolean => /^SCHEDULE 13[DG]\b/i.test(formType.trim())
