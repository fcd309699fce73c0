import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { Delivery } from "../src/Delivery/Delivery.js"
import { secFeedName } from "../src/Feeds/Sources.js"
import { Runner } from "../src/Runner/Runner.js"
import type { FakeFiling } from "../src/World/FakeSec.js"
import * as World from "../src/World/World.js"
import { worldBot } from "./support/WorldBot.js"

const [issuer, filer] = [World.companies[1]!, World.companies[2]!]
const updatedNow = () => new Date(Date.now() - 5 * 3_600_000).toISOString().slice(0, 19) + "-05:00"
const today = new Date().toISOString().slice(0, 10)

/** An officer's open-market purchase whose ownership XML answers `delayMs` late. */
const purchase = (serial: number, delayMs: number): FakeFiling => {
  const owner = { cik: 1_900_000 + serial, name: `BUYER ${serial}`, isOfficer: true, officerTitle: "CFO" }
  return {
    form: "4",
    accession: `0001209191-26-${String(900 + serial).padStart(6, "0")}`,
    updated: updatedNow(),
    parties: [
      { company: owner.name, cik: owner.cik, role: "Reporting" },
      { company: issuer.name.toUpperCase(), cik: issuer.cik, role: "Issuer" }
    ],
    ownership: {
      issuerCik: issuer.cik,
      issuerSymbol: issuer.ticker,
      owner,
      transactions: [{ date: today, code: "P", shares: 20_000 + serial, price: 3, sharesOwnedAfter: 120_000 }]
    },
    ownershipDelayMs: delayMs
  }
}

const eightK: FakeFiling = {
  form: "8-K",
  accession: `000${filer.cik}-26-000901`,
  updated: updatedNow(),
  items: ["Item 1.01: Entry into a Material Definitive Agreement", "Item 9.01: Financial Statements and Exhibits"],
  parties: [{ company: filer.name.toUpperCase(), cik: filer.cik, role: "Filer" }],
  documentText: `${filer.name} Enters Definitive Agreement to Be Acquired for $4.10 Per Share in Cash, a 62% premium.`
}

const titles = (world: World.World) =>
  world.alerts().map((message) => (message.payload["embeds"] as ReadonlyArray<{ title: string }>)[0]!.title)
const insiderAlerts = (world: World.World) => titles(world).filter((title) => title.includes(issuer.ticker))

const bot = (world: World.World) => Layer.fresh(worldBot(world, { LLM_PROVIDER: "none", CHART_TIMEOUT_MS: 100 }))

const livePoll = Effect.gen(function* () {
  const runner = yield* Runner
  const result = yield* runner.poll(runner.sources.find((each) => each.name === secFeedName)!)
  if (result._tag !== "Completed") throw new Error(`poll did not complete: ${JSON.stringify(result)}`)
  return result.summary.outcomes
})

/** Delivers what the outbox holds (the stepped bot has no delivery loop) until `condition` holds. */
const deliverUntil = (what: string, condition: () => boolean) =>
  Effect.gen(function* () {
    const delivery = yield* Delivery
    const giveUpAt = Date.now() + 30_000
    while (!condition()) {
      if (Date.now() > giveUpAt) return yield* Effect.dieMessage(`gave up waiting for ${what}`)
      yield* delivery.drainOnce()
      yield* Effect.sleep("50 millis")
    }
  })

describe("Form 4s off the live path", () => {
  it.live(
    "an 8-K is delivered while the same poll's slow Form 4 documents are still being read; their alerts follow",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        const form4s = Array.from({ length: 6 }, (_, n) => purchase(n, 4_000))
        world.sec.setFilings([...form4s, eightK])
        yield* Effect.gen(function* () {
          const outcomes = yield* livePoll
          expect(outcomes.filter((entry) => entry.outcome === "held")).toHaveLength(form4s.length)
          yield* (yield* Delivery).awaitSettled(0, Duration.seconds(30))
          expect(titles(world).some((title) => title.includes(filer.ticker))).toBe(true)
          expect(insiderAlerts(world)).toHaveLength(0)

          // The next poll meanwhile finds them still pending, not new.
          const again = yield* livePoll
          expect(again.filter((entry) => entry.outcome === "alerted")).toHaveLength(0)

          yield* deliverUntil("the Form 4 alerts", () => insiderAlerts(world).length === form4s.length)
          const after = yield* livePoll
          expect(after.every((entry) => entry.outcome === "duplicate")).toBe(true)
        }).pipe(Effect.provide(bot(world)))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a Form 4 still being read when the bot stops is decided after the restart",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        world.sec.setFilings([purchase(50, 60_000)])
        yield* livePoll.pipe(Effect.provide(bot(world)))
        expect(insiderAlerts(world)).toHaveLength(0)

        world.sec.setFilings([purchase(50, 0)])
        yield* Effect.gen(function* () {
          yield* livePoll
          yield* deliverUntil("the Form 4 alert", () => insiderAlerts(world).length === 1)
        }).pipe(Effect.provide(bot(world)))
      }).pipe(Effect.scoped),
    60_000
  )
})
