import type { NormalizedItem } from "../Kernel/Domain.js"

/**
 * Splits items by age. An item without a date can't be judged, so it is kept: the seen store then
 * lets it through once, when first seen, and never again. A limit of 0 turns the check off.
 */
export const partitionFresh = (
  items: ReadonlyArray<NormalizedItem>,
  options: { readonly now: number; readonly maxAgeMinutes: number }
): { readonly fresh: ReadonlyArray<NormalizedItem>; readonly stale: ReadonlyArray<NormalizedItem> } => {
  const fresh: Array<NormalizedItem> = []
  const stale: Array<NormalizedItem> = []
  const cutoff = options.now - options.maxAgeMinutes * 60_000
  for (const item of items) {
    const published = item.published === null ? Number.NaN : Date.parse(item.published)
    if (options.maxAgeMinutes > 0 && !Number.isNaN(published) && published < cutoff) stale.push(item)
    else fresh.push(item)
  }
  return { fresh, stale }
}
