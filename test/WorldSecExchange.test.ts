import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { Delivery } from "../src/Delivery/Delivery.js"
import { secFeedName } from "../src/Feeds/Sources.js"
import { Runner } from "../src/Runner/Runner.js"
import * as World from "../src/World/World.js"
import { worldBot } from "./support/WorldBot.js"

describe("SEC filings carry their exchange from company_tickers_exchange.json", () => {
  it.live(
    "an OTC issuer's 8-K is filtered with ALLOW_OTC_TICKERS=0, saying why; a Nasdaq issuer's alerts with its exchange",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        const [otc, listed] = [World.companies[0]!, World.companies[1]!]
        world.sec.setTickers([
          { cik: otc.cik, ticker: otc.ticker, title: otc.name, exchange: "OTC" },
          { cik: listed.cik, ticker: listed.ticker, title: listed.name, exchange: "Nasdaq" }
        ])
        // Filings only: the 8-Ks (Items 1.01, 9.01) are the sole items about these companies.
        world.publish([
          { company: otc, kind: "acquisition", wires: [] },
          { company: listed, kind: "acquisition", wires: [] }
        ])
        const result = yield* Effect.gen(function* () {
          const result = yield* (yield* Runner).runCycle
          yield* (yield* Delivery).awaitSettled(0, Duration.seconds(30))
          return result
        }).pipe(Effect.provide(worldBot(world)))
        if (result._tag !== "Completed") throw new Error(`cycle did not complete: ${JSON.stringify(result)}`)
        const sec = result.summary.outcomes.filter((outcome) => outcome.source === secFeedName)
        expect(sec).toContainEqual(
          expect.objectContaining({
            title: expect.stringContaining(otc.name.toUpperCase()),
            outcome: "filtered",
            reason: `OTC-only ticker ${otc.ticker} (OTC) with ALLOW_OTC_TICKERS=0`
          })
        )
        expect(sec).toContainEqual(
          expect.objectContaining({ title: expect.stringContaining(listed.name.toUpperCase()), outcome: "alerted" })
        )
        const titles = world
          .alerts()
          .map((message) => (message.payload["embeds"] as Array<{ title: string }>)[0]!.title)
        expect(titles.some((title) => title.includes(`${listed.ticker} (NASDAQ)`))).toBe(true)
        expect(titles.some((title) => title.includes(otc.ticker))).toBe(false)
      }).pipe(Effect.scoped),
    120_000
  )
})
