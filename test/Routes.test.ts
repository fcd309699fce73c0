import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { parseRoutes, type Route, routesFor } from "../src/Delivery/Routes.js"
import type { Alert } from "../src/Kernel/Domain.js"
import { alertFixture, classificationFixture, itemFixture, makeAlert } from "./support/Alerts.js"

const categories = new Set(["fda_approval", "offering", "clinical_results"])
const hook = (n: number) => `https://discord.com/api/webhooks/${n}/token-${n}`

const routesOf = (routes: ReadonlyArray<Record<string, unknown>>): ReadonlyArray<Route> => {
  const parsed = parseRoutes("routes.json", JSON.stringify({ routes }), categories)
  if (Either.isLeft(parsed)) throw new Error(parsed.left.join("\n"))
  return parsed.right
}

const problemsOf = (text: string): ReadonlyArray<string> =>
  Either.match(parseRoutes("routes.json", text, categories), { onLeft: (lines) => lines, onRight: () => [] })

/** One route with `match`; true when the alert takes it. */
const takes = (match: Record<string, unknown>, alert: Alert): boolean =>
  routesFor(routesOf([{ name: "r", webhook: hook(1), match }]), alert).length === 1

const filing = (formType: string, items: ReadonlyArray<string> = []) =>
  makeAlert(
    itemFixture("sec-1", {
      source: "SEC EDGAR",
      kind: "sec-atom",
      tickers: [{ symbol: "ABCD", exchange: null }],
      sec: { formType, cik: "1", accession: "0001-26-000001", items, companyName: "ABCD Inc" }
    })
  )

const priced = (price: number, overrides: Partial<Alert> = {}): Alert =>
  alertFixture(1, {
    market: {
      _tag: "Priced",
      quote: { symbol: "T1", price, previousClose: null, changePct: null, volume: null, relativeVolume: null }
    },
    ...overrides
  })

describe("routing rules", () => {
  it("each condition matches the alerts it names and no others", () => {
    const wire = alertFixture(1)
    expect(takes({ sources: ["globenewswire"] }, wire)).toBe(true)
    expect(takes({ sources: ["PR Newswire"] }, wire)).toBe(false)

    expect(takes({ kinds: ["wire"] }, wire)).toBe(true)
    expect(takes({ kinds: ["sec"] }, wire)).toBe(false)
    expect(takes({ kinds: ["sec"] }, filing("8-K"))).toBe(true)
    expect(takes({ kinds: ["insider"] }, filing("8-K"))).toBe(false)
    expect(takes({ kinds: ["insider"] }, filing("4"))).toBe(true)

    expect(takes({ forms: ["8-K"] }, filing("8-K"))).toBe(true)
    expect(takes({ forms: ["8-K"] }, filing("S-3"))).toBe(false)
    expect(takes({ forms: ["8-K"] }, wire)).toBe(false)
    expect(takes({ items: ["1.01"] }, filing("8-K", ["Item 1.01: Entry into a Material Definitive Agreement"]))).toBe(
      true
    )
    expect(takes({ items: ["1.01"] }, filing("8-K", ["Item 8.01: Other Events"]))).toBe(false)

    const fda = alertFixture(1, { classification: classificationFixture({ categories: ["fda_approval"] }) })
    expect(takes({ categories: ["fda_approval", "offering"] }, fda)).toBe(true)
    expect(takes({ categories: ["offering"] }, fda)).toBe(false)

    const up = alertFixture(1, { classification: classificationFixture({ sentiment: 0.5 }) })
    const down = alertFixture(1, { classification: classificationFixture({ sentiment: -0.5 }) })
    const flagged = alertFixture(1, { classification: classificationFixture({ sentiment: 0.2, negative: true }) })
    expect(takes({ sentiment: "positive" }, up)).toBe(true)
    expect(takes({ sentiment: "positive" }, down)).toBe(false)
    expect(takes({ sentiment: "positive" }, flagged)).toBe(false)
    expect(takes({ sentiment: "negative" }, down)).toBe(true)
    expect(takes({ sentiment: "negative" }, flagged)).toBe(true)
    expect(takes({ sentiment: "negative" }, up)).toBe(false)

    const scored = alertFixture(1, { classification: classificationFixture({ score: 2 }) })
    expect(takes({ min_score: 2 }, scored)).toBe(true)
    expect(takes({ min_score: 2.5 }, scored)).toBe(false)

    expect(takes({ price: { min: 1, max: 5 } }, priced(3))).toBe(true)
    expect(takes({ price: { min: 1, max: 5 } }, priced(7))).toBe(false)
    const unpriced = makeAlert(itemFixture("unpriced"))
    expect(takes({ price: { max: 5 } }, unpriced)).toBe(false)

    const sized: Alert = {
      ...priced(3),
      size: {
        sharesOutstanding: 10_000_000,
        sharesAsOf: "2026-09-30",
        publicFloatUsd: null,
        publicFloatAsOf: null,
        marketCapUsd: 50_000_000,
        volumePctOfShares: null
      }
    }
    expect(takes({ market_cap: { max: 100_000_000 } }, sized)).toBe(true)
    expect(takes({ market_cap: { min: 100_000_000 } }, sized)).toBe(false)
    expect(takes({ market_cap: { max: 100_000_000 } }, unpriced)).toBe(false)

    // 2026-11-28 was a Saturday; 2026-11-30 14:30 UTC is 09:30 in New York, a Monday.
    const monday = (time: string) => alertFixture(1, { decidedAt: `2026-11-30T${time}Z` })
    expect(takes({ sessions: ["closed"] }, wire)).toBe(true)
    expect(takes({ sessions: ["regular"] }, monday("14:30:00.000"))).toBe(true)
    expect(takes({ sessions: ["pre"] }, monday("14:30:00.000"))).toBe(false)
    expect(takes({ sessions: ["pre"] }, monday("12:00:00.000"))).toBe(true)
    expect(takes({ sessions: ["after"] }, monday("22:00:00.000"))).toBe(true)

    expect(takes({ tickers: ["t1"] }, wire)).toBe(true)
    expect(takes({ tickers: ["T2"] }, wire)).toBe(false)

    // Every condition must hold.
    expect(takes({ tickers: ["T1"], sources: ["PR Newswire"] }, wire)).toBe(false)
    expect(takes({}, wire)).toBe(true)
  })

  it("an alert goes to every matching route in file order, until one that stops", () => {
    const routes = routesOf([
      { name: "fda", webhook: hook(1), match: { categories: ["fda_approval"] } },
      { name: "offerings", webhook: hook(2), match: { categories: ["offering"] }, stop: true },
      { name: "firehose", webhook: hook(3) }
    ])
    const fda = alertFixture(1, { classification: classificationFixture({ categories: ["fda_approval"] }) })
    const offering = alertFixture(2, { classification: classificationFixture({ categories: ["offering"] }) })
    expect(routesFor(routes, fda)).toEqual(["fda", "firehose"])
    expect(routesFor(routes, offering)).toEqual(["offerings"])
  })
})

describe("routes file problems", () => {
  it("one line per problem, naming the file, the route and the field, and never the webhook", () => {
    const problems = problemsOf(
      JSON.stringify({
        routes: [
          { name: "fda", webhook: hook(1), match: { categories: ["fda_aproval"] } },
          { name: "fda", webhook: "discord.com/api/webhooks/9/secret-token", colour: "red" },
          { name: "forms", webhook: hook(3), match: { forms: ["8-Q"], tickers: ["not a ticker!"] } }
        ]
      })
    )
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^routes\.json: routes\[1\] "fda", field colour: /),
        expect.stringMatching(/^routes\.json: routes\[1\] "fda", field webhook: Expected an http\(s\) webhook URL/),
        expect.stringMatching(/^routes\.json: routes\[2\] "forms", field match\.tickers\[0\]: /)
      ])
    )
    expect(problems.join("\n")).not.toContain("secret-token")
    // Semantic problems come once the file's shape is right.
    expect(
      problemsOf(
        JSON.stringify({
          routes: [
            { name: "fda", webhook: hook(1), match: { categories: ["fda_aproval"] } },
            { name: "fda", webhook: hook(2) },
            { name: "forms", webhook: hook(3), match: { forms: ["8-Q"] } }
          ]
        })
      )
    ).toEqual([
      'routes.json: routes[0] "fda", field match.categories[0]: unknown category "fda_aproval"',
      'routes.json: routes[1] "fda", field name: duplicate route name',
      expect.stringMatching(/^routes\.json: routes\[2\] "forms", field match\.forms\[0\]: unknown form "8-Q"/)
    ])
    expect(problemsOf("{ not json")).toEqual([expect.stringMatching(/^routes\.json: not valid JSON/)])
  })
})
