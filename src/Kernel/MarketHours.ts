/**
 * US equity sessions in America/New_York: pre-market 04:00–09:30, regular 09:30–16:00,
 * after-hours 16:00–20:00, Monday to Friday. Exchange holidays are not modelled: on a holiday
 * the bot simply polls at the faster cadence.
 */
export type Session = "pre-market" | "regular" | "after-hours" | "closed"

const newYorkClock = new Intl.DateTimeFormat("en-US", {
  timeZone: "America/New_York",
  weekday: "short",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23"
})

export const sessionAt = (epochMillis: number): Session => {
  const parts = Object.fromEntries(newYorkClock.formatToParts(new Date(epochMillis)).map((p) => [p.type, p.value]))
  if (parts.weekday === "Sat" || parts.weekday === "Sun") return "closed"
  const minutes = Number(parts.hour) * 60 + Number(parts.minute)
  if (minutes >= 4 * 60 && minutes < 9 * 60 + 30) return "pre-market"
  if (minutes >= 9 * 60 + 30 && minutes < 16 * 60) return "regular"
  if (minutes >= 16 * 60 && minutes < 20 * 60) return "after-hours"
  return "closed"
}
