import { describe, expect, it } from "@effect/vitest"
import { lastWeekday } from "../src/World/World.js"

describe("the simulated market's trading day", () => {
  it.each([
    { utc: "2026-03-10T15:00:00Z", newYork: "Tue 11:00 EDT", day: "2026-03-10" },
    { utc: "2026-03-10T02:00:00Z", newYork: "Mon 22:00 EDT, Tuesday in UTC", day: "2026-03-09" },
    { utc: "2026-03-07T03:00:00Z", newYork: "Fri 22:00 EST, Saturday in UTC", day: "2026-03-06" },
    { utc: "2026-03-09T03:00:00Z", newYork: "Sun 23:00 EDT, Monday in UTC", day: "2026-03-06" },
    { utc: "2026-03-08T15:00:00Z", newYork: "Sun 11:00 EDT", day: "2026-03-06" }
  ])("at $utc ($newYork) is $day", ({ utc, day }) => {
    expect(lastWeekday(Date.parse(utc))).toBe(day)
  })
})
