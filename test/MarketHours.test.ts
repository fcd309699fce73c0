import { describe, expect, it } from "@effect/vitest"
import { type Session, sessionAt } from "../src/Kernel/MarketHours.js"

/**
 * Instants in UTC with the New York wall time they stand for. 2026: EST (UTC−5) until Sunday 8 March 02:00, EDT
 * (UTC−4) until Sunday 1 November 02:00, EST again after. Several rows fall in a different session if the offset
 * of the other season were used, and a few fall on a different weekday in UTC than in New York.
 */
const table: ReadonlyArray<readonly [utc: string, newYork: string, expected: Session]> = [
  // Friday 6 March, EST
  ["2026-03-06T08:59:59.999Z", "Fri 03:59:59.999 EST", "closed"],
  ["2026-03-06T09:00:00.000Z", "Fri 04:00 EST", "pre-market"],
  ["2026-03-06T13:45:00.000Z", "Fri 08:45 EST", "pre-market"],
  ["2026-03-06T14:29:59.999Z", "Fri 09:29:59.999 EST", "pre-market"],
  ["2026-03-06T14:30:00.000Z", "Fri 09:30 EST", "regular"],
  ["2026-03-06T20:59:59.999Z", "Fri 15:59:59.999 EST", "regular"],
  ["2026-03-06T21:00:00.000Z", "Fri 16:00 EST", "after-hours"],
  ["2026-03-07T00:59:59.999Z", "Fri 19:59:59.999 EST (Saturday in UTC)", "after-hours"],
  ["2026-03-07T01:00:00.000Z", "Fri 20:00 EST", "closed"],
  // the weekend of the spring change
  ["2026-03-07T15:00:00.000Z", "Sat 10:00 EST", "closed"],
  ["2026-03-08T06:59:59.999Z", "Sun 01:59:59.999 EST", "closed"],
  ["2026-03-08T14:30:00.000Z", "Sun 10:30 EDT", "closed"],
  ["2026-03-09T03:59:59.999Z", "Sun 23:59:59.999 EDT (Monday in UTC)", "closed"],
  // Monday 9 March, EDT
  ["2026-03-09T07:59:59.999Z", "Mon 03:59:59.999 EDT", "closed"],
  ["2026-03-09T08:00:00.000Z", "Mon 04:00 EDT", "pre-market"],
  ["2026-03-09T13:29:59.999Z", "Mon 09:29:59.999 EDT", "pre-market"],
  ["2026-03-09T13:30:00.000Z", "Mon 09:30 EDT", "regular"],
  ["2026-03-09T13:45:00.000Z", "Mon 09:45 EDT", "regular"],
  ["2026-03-09T19:59:59.999Z", "Mon 15:59:59.999 EDT", "regular"],
  ["2026-03-09T20:00:00.000Z", "Mon 16:00 EDT", "after-hours"],
  ["2026-03-09T23:59:59.999Z", "Mon 19:59:59.999 EDT", "after-hours"],
  ["2026-03-10T00:00:00.000Z", "Mon 20:00 EDT", "closed"],
  // Friday 30 October, EDT
  ["2026-10-30T13:30:00.000Z", "Fri 09:30 EDT", "regular"],
  ["2026-10-30T23:59:59.999Z", "Fri 19:59:59.999 EDT", "after-hours"],
  ["2026-10-31T00:00:00.000Z", "Fri 20:00 EDT (Saturday in UTC)", "closed"],
  // the weekend of the autumn change
  ["2026-10-31T14:00:00.000Z", "Sat 10:00 EDT", "closed"],
  ["2026-11-01T05:30:00.000Z", "Sun 01:30 EDT", "closed"],
  ["2026-11-01T06:30:00.000Z", "Sun 01:30 EST", "closed"],
  ["2026-11-01T15:00:00.000Z", "Sun 10:00 EST", "closed"],
  // Monday 2 November, EST
  ["2026-11-02T08:59:59.999Z", "Mon 03:59:59.999 EST", "closed"],
  ["2026-11-02T09:00:00.000Z", "Mon 04:00 EST", "pre-market"],
  ["2026-11-02T13:30:00.000Z", "Mon 08:30 EST", "pre-market"],
  ["2026-11-02T14:30:00.000Z", "Mon 09:30 EST", "regular"],
  ["2026-11-02T20:30:00.000Z", "Mon 15:30 EST", "regular"],
  ["2026-11-02T21:00:00.000Z", "Mon 16:00 EST", "after-hours"],
  ["2026-11-03T00:30:00.000Z", "Mon 19:30 EST (Tuesday in UTC)", "after-hours"],
  ["2026-11-03T01:00:00.000Z", "Mon 20:00 EST", "closed"]
]

describe("sessionAt", () => {
  it.each(table.map(([utc, newYork, expected]) => ({ utc, newYork, expected })))(
    "$utc ($newYork) is $expected",
    ({ utc, expected }) => {
      expect(sessionAt(Date.parse(utc))).toBe(expected)
    }
  )
})
