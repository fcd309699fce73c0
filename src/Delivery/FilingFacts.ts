import type { ExhibitRead, OfferingTerms, Ownership } from "../Kernel/Domain.js"

/**
 * What a filing's documents said, as plain lines for the Discord embed and the stdout card. Names
 * come from the filing: callers escape them for their medium (`escape`). Unknown stays "unknown".
 */

const wholeNumber = (value: number) => Math.round(value).toLocaleString("en-US")

const dollars = (value: number) =>
  value >= 1e9
    ? `$${(value / 1e9).toFixed(2)}B`
    : value >= 1e6
      ? `$${(value / 1e6).toFixed(value >= 1e8 ? 0 : 1)}M`
      : `$${value.toLocaleString("en-US", { maximumFractionDigits: 4 })}`

export const ownershipLine = (ownership: Ownership, escape: (text: string) => string = (text) => text): string => {
  const percent =
    ownership.percentOfClass === null ? "percent of class unknown" : `${ownership.percentOfClass}% of class`
  const shares = ownership.shares === null ? "" : ` (${wholeNumber(ownership.shares)} shares)`
  return `${escape(ownership.filer ?? "filer unknown")} in ${escape(ownership.subject)}: ${percent}${shares}`
}

export const offeringLine = (offering: OfferingTerms): string =>
  [
    `size ${offering.sizeUsd === null ? "unknown" : dollars(offering.sizeUsd)}`,
    `price ${offering.pricePerShare === null ? "unknown" : `${dollars(offering.pricePerShare)}/share`}`,
    `shares ${offering.shares === null ? "unknown" : wholeNumber(offering.shares)}`,
    ...(offering.warrants === null ? [] : [`warrants for ${wholeNumber(offering.warrants)} shares`]),
    offering.dilutionPct === null || offering.sharesOutstanding === null
      ? "dilution unknown"
      : `dilution ${offering.dilutionPct}% of ${wholeNumber(offering.sharesOutstanding)} outstanding`
  ].join(" · ")

export const exhibitLine = (exhibit: ExhibitRead, escape: (text: string) => string = (text) => text): string =>
  `${escape(exhibit.document)}: ${exhibit.matched.length === 0 ? "nothing more scored" : `matched ${exhibit.matched.map(escape).join(", ")}`}`
