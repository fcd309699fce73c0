import { htmlToText, parseDate } from "./Text.js"

/**
 * One party's line in SEC's getcurrent Atom feed (https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent&output=atom):
 *   title   `8-K - COMPANY NAME (0000882796) (Filer)`
 *   summary `<b>Filed:</b> 2025-12-12 <b>AccNo:</b> 0001171843-25-007909 <b>Size:</b> 260 KB<br>Item 8.01: ...`
 *   id      `urn:tag:sec.gov,2008:accession-number=0001171843-25-007909`
 * A filing with several parties (Filer, Subject, Reporting, Issuer, Filed by) appears once per party.
 */
export interface SecEntry {
  readonly formType: string
  readonly companyName: string
  /** Ten digits, zero-padded, as SEC prints it. */
  readonly cik: string
  readonly role: string
  readonly accession: string
  readonly filed: string | null
  readonly items: ReadonlyArray<string>
}

const titlePattern = /^\s*(.+?)\s+-\s+(.+)\s+\((\d{1,10})\)\s+\(([^)]+)\)\s*$/
const accessionPattern = /\b(\d{10}-\d{2}-\d{6})\b/
const filedPattern = /Filed:\s*(\d{4}-\d{2}-\d{2})/
const itemPattern = /Item\s+(\d{1,2}\.\d{2})\b/g

export const parseSecEntry = (entry: {
  readonly title: string
  readonly summary: string
  readonly guid: string | null
  readonly categories: ReadonlyArray<{ readonly term: string }>
}): SecEntry | null => {
  const title = titlePattern.exec(htmlToText(entry.title))
  const summary = htmlToText(entry.summary)
  const accession = accessionPattern.exec(entry.guid ?? "")?.[1] ?? accessionPattern.exec(summary)?.[1]
  if (title === null || accession === undefined) return null
  const [, form = "", companyName = "", cik = "", role = ""] = title
  const filed = filedPattern.exec(summary)?.[1] ?? null
  return {
    formType: entry.categories[0]?.term.trim() || form.trim(),
    companyName: companyName.trim(),
    cik: cik.padStart(10, "0"),
    role: role.trim(),
    accession,
    filed: filed === null ? null : parseDate(`${filed}T00:00:00-05:00`),
    items: Array.from(new Set(Array.from(summary.matchAll(itemPattern), (match) => match[1] ?? "")))
  }
}

/**
 * Form 8-K's items as its General Instructions name them (https://www.sec.gov/files/form8-k.pdf), the
 * longest ones cut to the words a reader needs.
 */
export const itemCaptions: Readonly<Record<string, string>> = {
  "1.01": "Entry into a Material Definitive Agreement",
  "1.02": "Termination of a Material Definitive Agreement",
  "1.03": "Bankruptcy or Receivership",
  "1.04": "Mine Safety Shutdowns and Violations",
  "1.05": "Material Cybersecurity Incidents",
  "2.01": "Completion of Acquisition or Disposition of Assets",
  "2.02": "Results of Operations and Financial Condition",
  "2.03": "Creation of a Direct Financial Obligation",
  "2.04": "Triggering Events That Accelerate a Financial Obligation",
  "2.05": "Costs Associated with Exit or Disposal Activities",
  "2.06": "Material Impairments",
  "3.01": "Notice of Delisting or Failure to Satisfy a Continued Listing Rule",
  "3.02": "Unregistered Sales of Equity Securities",
  "3.03": "Material Modification to Rights of Security Holders",
  "4.01": "Changes in Registrant's Certifying Accountant",
  "4.02": "Non-Reliance on Previously Issued Financial Statements",
  "5.01": "Changes in Control of Registrant",
  "5.02": "Departure or Appointment of Directors or Officers",
  "5.03": "Amendments to Articles of Incorporation or Bylaws",
  "5.04": "Temporary Suspension of Trading Under Employee Benefit Plans",
  "5.05": "Amendments to the Code of Ethics or Waiver",
  "5.06": "Change in Shell Company Status",
  "5.07": "Submission of Matters to a Vote of Security Holders",
  "5.08": "Shareholder Director Nominations",
  "6.01": "ABS Informational and Computational Material",
  "6.02": "Change of Servicer or Trustee",
  "6.03": "Change in Credit Enhancement or Other External Support",
  "6.04": "Failure to Make a Required Distribution",
  "6.05": "Securities Act Updating Disclosure",
  "6.06": "Static Pool",
  "7.01": "Regulation FD Disclosure",
  "8.01": "Other Events",
  "9.01": "Financial Statements and Exhibits"
}

/** `1.01 Entry into a Material Definitive Agreement`; an item the table doesn't know keeps its number alone. */
export const itemInWords = (item: string): string => {
  const caption = itemCaptions[item]
  return caption === undefined ? item : `${item} ${caption}`
}

/** What each form is, for readers who don't know EDGAR's form names. */
const formDescriptions: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(SCHEDULE|SC) 13D/, "activist stake"],
  [/^(SCHEDULE|SC) 13G/, "passive stake"],
  [/^424B/, "prospectus"],
  [/^FWP/, "free writing prospectus"],
  [/^[SF]-[13]/, "registration statement"],
  [/^6-K/, "foreign issuer report"]
]

/** "Schedule 13D (activist stake)", "SC 13D/A" → "Schedule 13D/A (activist stake, amendment)", "8-K/A (amendment)". */
export const formInWords = (formType: string): string => {
  const form = formType.trim().toUpperCase()
  const name = form.replace(/^(SCHEDULE|SC) 13/, "Schedule 13")
  const notes = [
    ...formDescriptions.flatMap(([pattern, description]) => (pattern.test(form) ? [description] : [])),
    ...(/\/A$/.test(form) ? ["amendment"] : [])
  ]
  return notes.length === 0 ? name : `${name} (${notes.join(", ")})`
}

/**
 * The headline of a filing, `8-K: ACME CORP — Items 1.01 Entry into a Material Definitive Agreement, 9.01 …`:
 * SEC's line carries the CIK and the party's role, which mean nothing to a reader; both stay in the
 * item's `sec` fields.
 */
export const secTitle = (entry: SecEntry): string => {
  const items =
    entry.items.length === 0
      ? ""
      : ` — Item${entry.items.length > 1 ? "s" : ""} ${entry.items.map(itemInWords).join(", ")}`
  return `${formInWords(entry.formType)}: ${entry.companyName}${items}`
}

/**
 * The catalyst forms, matched by prefix as getcurrent's `type=` does, so each brings its amendments
 * (8-K/A, SCHEDULE 13D/A). EDGAR takes beneficial-ownership reports as structured `SCHEDULE 13D`/`13G`
 * since 2024-12-18; filings from before keep the `SC 13D`/`SC 13G` names.
 */
export const catalystForms = [
  "8-K",
  "6-K",
  "424B5",
  "S-1",
  "S-3",
  "FWP",
  "SCHEDULE 13D",
  "SCHEDULE 13G",
  "SC 13D",
  "SC 13G",
  "424B2",
  "424B3",
  "424B4",
  "F-1",
  "F-3"
] as const

/**
 * Insider transaction reports, matched exactly: by prefix, "4" would also take 424B5 and 40-F.
 * (Ownership forms, https://www.sec.gov/files/forms-3-4-5.pdf.)
 */
export const insiderForms = ["4", "4/A"] as const

export const isInsiderForm = (formType: string): boolean =>
  (insiderForms as ReadonlyArray<string>).includes(formType.trim().toUpperCase())

export const isCatalystForm = (formType: string): boolean => {
  const form = formType.trim().toUpperCase()
  return catalystForms.some((prefix) => form.startsWith(prefix)) || isInsiderForm(form)
}

/** The party the filing is about comes first: a 13D's Subject, a Form 4's Issuer, then the Filer. */
const rolePriority = ["subject", "issuer", "filer", "reporting", "filed by"]

export const partyRank = (role: string): number => {
  const index = rolePriority.indexOf(role.toLowerCase())
  return index < 0 ? rolePriority.length : index
}
