/**
 * Several alerts in one message, when a burst would otherwise wait out the sink's rate limit one
 * request at a time. Pure: each alert's own message goes in, groups that fit one message come out.
 */

/** What one alert adds to a message. */
export interface PackItem {
  /** Characters counted towards the message total (every embed together). */
  readonly chars: number
  readonly files: number
  readonly bytes: number
}

export interface PackLimits {
  /** Alerts (embeds) per message. */
  readonly items: number
  readonly chars: number
  readonly files: number
  readonly bytes: number
}

/**
 * Consecutive groups of item indices, in order, each within `limits`; greedy, so every group but the
 * last is as full as the next item allows. An item too big to share a message goes alone.
 */
export const pack = (items: ReadonlyArray<PackItem>, limits: PackLimits): Array<Array<number>> => {
  const groups: Array<Array<number>> = []
  let current: Array<number> = []
  let used = { chars: 0, files: 0, bytes: 0 }
  items.forEach((item, index) => {
    const fits =
      current.length < limits.items &&
      used.chars + item.chars <= limits.chars &&
      used.files + item.files <= limits.files &&
      used.bytes + item.bytes <= limits.bytes
    if (!fits && current.length > 0) {
      groups.push(current)
      current = []
      used = { chars: 0, files: 0, bytes: 0 }
    }
    current.push(index)
    used = { chars: used.chars + item.chars, files: used.files + item.files, bytes: used.bytes + item.bytes }
  })
  if (current.length > 0) groups.push(current)
  return groups
}

/** How many of the leading items share the first message. */
export const firstGroupSize = (items: ReadonlyArray<PackItem>, limits: PackLimits): number =>
  pack(items, limits)[0]?.length ?? 0
