import { XMLParser } from "fast-xml-parser"
import { Either } from "effect"

/**
 * A Form 4 ownership document, read per EDGAR's Ownership XML Technical Specification
 * (https://www.sec.gov/info/edgar/ownershipxmltechspec): root `ownershipDocument`, the issuer, the
 * reporting owners with their relationship, and the non-derivative transactions.
 */
export interface OwnershipDocument {
  readonly issuerCik: string
  readonly issuerSymbol: string | null
  readonly owners: ReadonlyArray<ReportingOwner>
  readonly transactions: ReadonlyArray<OwnershipTransaction>
}

export interface ReportingOwner {
  readonly cik: string | null
  readonly name: string
  readonly isDirector: boolean
  readonly isOfficer: boolean
  readonly isTenPercentOwner: boolean
  readonly officerTitle: string | null
}

export interface OwnershipTransaction {
  /** ISO date, `YYYY-MM-DD`. */
  readonly date: string | null
  /** P open-market purchase, S sale, A grant, M option exercise, F tax withholding, … */
  readonly code: string
  readonly shares: number
  readonly price: number | null
  /** A acquired, D disposed. */
  readonly acquiredDisposed: string | null
  readonly sharesOwnedAfter: number | null
}

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => name === "reportingOwner" || name === "nonDerivativeTransaction"
})

type Node = Record<string, unknown>

const child = (node: unknown, name: string): unknown =>
  typeof node === "object" && node !== null ? (node as Node)[name] : undefined

const text = (node: unknown): string | null => {
  if (typeof node === "string") return node.trim() === "" ? null : node.trim()
  if (typeof node === "number") return String(node)
  return null
}

/** Amounts are `<x><value>1000</value><footnoteId .../></x>`; some filers omit the `value` wrapper. */
const valueOf = (node: unknown): string | null => text(child(node, "value")) ?? text(node)

const numberOf = (node: unknown): number | null => {
  const raw = valueOf(node)
  if (raw === null) return null
  const parsed = Number(raw.replace(/,/g, ""))
  return Number.isFinite(parsed) ? parsed : null
}

/** The schema writes booleans as `1`/`0` or `true`/`false`. */
const flagOf = (node: unknown): boolean => {
  const raw = text(node)?.toLowerCase()
  return raw === "1" || raw === "true"
}

const asArray = (node: unknown): ReadonlyArray<unknown> =>
  Array.isArray(node) ? node : node === undefined ? [] : [node]

/** The document, or a one-line reason it can't be read as one. */
export const parseOwnershipXml = (xml: string): Either.Either<OwnershipDocument, string> => {
  let tree: unknown
  try {
    tree = parser.parse(xml, true)
  } catch (error) {
    return Either.left(`not well-formed XML (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`)
  }
  const document = child(tree, "ownershipDocument")
  if (typeof document !== "object" || document === null) return Either.left("no ownershipDocument root")
  const issuer = child(document, "issuer")
  const issuerCik = text(child(issuer, "issuerCik"))
  if (issuerCik === null) return Either.left("no issuer/issuerCik")

  const owners = asArray(child(document, "reportingOwner")).flatMap((owner): Array<ReportingOwner> => {
    const id = child(owner, "reportingOwnerId")
    const name = text(child(id, "rptOwnerName"))
    if (name === null) return []
    const relationship = child(owner, "reportingOwnerRelationship")
    return [
      {
        cik: text(child(id, "rptOwnerCik")),
        name,
        isDirector: flagOf(child(relationship, "isDirector")),
        isOfficer: flagOf(child(relationship, "isOfficer")),
        isTenPercentOwner: flagOf(child(relationship, "isTenPercentOwner")),
        officerTitle: text(child(relationship, "officerTitle"))
      }
    ]
  })
  if (owners.length === 0) return Either.left("no reportingOwner with a name")

  const transactions = asArray(child(child(document, "nonDerivativeTable"), "nonDerivativeTransaction")).flatMap(
    (transaction): Array<OwnershipTransaction> => {
      const code = text(child(child(transaction, "transactionCoding"), "transactionCode"))
      const amounts = child(transaction, "transactionAmounts")
      const shares = numberOf(child(amounts, "transactionShares"))
      if (code === null || shares === null) return []
      return [
        {
          date: valueOf(child(transaction, "transactionDate"))?.slice(0, 10) ?? null,
          code: code.toUpperCase(),
          shares,
          price: numberOf(child(amounts, "transactionPricePerShare")),
          acquiredDisposed: valueOf(child(amounts, "transactionAcquiredDisposedCode")),
          sharesOwnedAfter: numberOf(
            child(child(transaction, "postTransactionAmounts"), "sharesOwnedFollowingTransaction")
          )
        }
      ]
    }
  )
  return Either.right({
    issuerCik: issuerCik.padStart(10, "0"),
    issuerSymbol: text(child(issuer, "issuerTradingSymbol")),
    owners,
    transactions
  })
}
