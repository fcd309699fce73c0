import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { Delivery } from "../src/Delivery/Delivery.js"
import { FollowUp } from "../src/Delivery/FollowUp.js"
import { LateDetails } from "../src/Delivery/LateDetails.js"
import { secFeedName } from "../src/Feeds/Sources.js"
import { Runner } from "../src/Runner/Runner.js"
import * as FakeSec from "../src/World/FakeSec.js"
import * as World from "../src/World/World.js"
import { worldBot } from "./support/WorldBot.js"

type Embed = {
  readonly title: string
  readonly fields: ReadonlyArray<{ readonly name: string; readonly value: string }>
}

const [agreeing, neutral, sized, small] = [
  World.companies[1]!,
  World.companies[2]!,
  World.companies[3]!,
  World.companies[5]!
]

/** EDGAR's `<updated>`: now, in ET (-05:00), as getcurrent prints it. */
const updatedNow = () => new Date(Date.now() - 5 * 3_600_000).toISOString().slice(0, 19) + "-05:00"

let serial = 0
const eightK = (
  company: World.Company,
  items: ReadonlyArray<string>,
  exhibit?: { readonly headline: string; readonly delayMs: number }
): FakeSec.FakeFiling => {
  serial += 1
  return {
    form: "8-K",
    accession: `000${company.cik}-26-${String(700 + serial).padStart(6, "0")}`,
    updated: updatedNow(),
    items,
    parties: [{ company: company.name.toUpperCase(), cik: company.cik, role: "Filer" }],
    ...(exhibit !== undefined && {
      exhibits: [
        {
          name: "ex99-1.htm",
          body: FakeSec.exhibitHtml(exhibit.headline, [`${company.name} today announced ${exhibit.headline}.`]),
          delayMs: exhibit.delayMs
        }
      ]
    })
  }
}

const sharesOf = (company: World.Company, shares: number, delayMs: number): ReadonlyArray<FakeSec.FakeConcept> => [
  {
    cik: company.cik,
    tag: "EntityCommonStockSharesOutstanding",
    units: { shares: [{ val: shares, end: "2025-10-31", filed: "2025-11-05", form: "10-Q" }] },
    delayMs
  }
]

const agreement = "Item 1.01: Entry into a Material Definitive Agreement"
const otherEvents = "Item 8.01: Other Events"
const exhibits = "Item 9.01: Financial Statements and Exhibits"

/** One poll of the SEC feed as the live poller makes it, its deliveries, then the details and edits that follow. */
const livePoll = (world: World.World, overrides: Record<string, string | number> = {}) =>
  Effect.gen(function* () {
    const runner = yield* Runner
    const source = runner.sources.find((each) => each.name === secFeedName)!
    const result = yield* runner.poll(source)
    yield* (yield* Delivery).awaitSettled(0, Duration.seconds(30))
    const posted = world.alerts().map((message) => (message.payload["embeds"] as ReadonlyArray<Embed>)[0]!)
    yield* (yield* LateDetails).settled
    yield* (yield* Delivery).awaitSettled(0, Duration.seconds(30))
    yield* (yield* FollowUp).drain(Duration.seconds(10))
    if (result._tag !== "Completed") throw new Error(`poll did not complete: ${JSON.stringify(result)}`)
    const edited = world.discord.edits.map((edit) => (edit.payload["embeds"] as ReadonlyArray<Embed>)[0]!)
    return { outcomes: result.summary.outcomes, posted, edited }
  }).pipe(Effect.provide(Layer.fresh(worldBot(world, { LLM_PROVIDER: "none", CHART_TIMEOUT_MS: 100, ...overrides }))))

const fieldOf = (embed: Embed | undefined, name: string) => embed?.fields.find((field) => field.name === name)?.value
const about = (embeds: ReadonlyArray<Embed>, company: World.Company) =>
  embeds.filter((embed) => embed.title.includes(company.ticker))

describe("SEC alerts post first and edit in what their documents and size add", () => {
  it.live(
    "an 8-K that alerts on its items is posted before its slow EX-99.1 and XBRL size; both are edited in",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        world.sec.setConcepts(sharesOf(agreeing, 12_000_000, 2_000))
        world.sec.setFilings([
          eightK(agreeing, [agreement, otherEvents, exhibits], {
            headline: "FDA Approval of its lead candidate",
            delayMs: 2_000
          })
        ])
        const { outcomes, posted, edited } = yield* livePoll(world)
        expect(outcomes.find((outcome) => outcome.source === secFeedName)).toMatchObject({ outcome: "alerted" })

        const [post] = about(posted, agreeing)
        expect(post).toBeDefined()
        // Posted on its getcurrent line: the exhibit and the size were still on their way.
        expect(fieldOf(post, "Press release (EX-99.1)")).toBeUndefined()
        expect(fieldOf(post, "Shares outstanding")).toBeUndefined()
        expect(fieldOf(post, "Category")).not.toContain("fda\\_approval")

        const last = about(edited, agreeing).at(-1)
        expect(fieldOf(last, "Press release (EX-99.1)")).toBe("ex99-1.htm: matched fda approval")
        expect(fieldOf(last, "Category")).toContain("fda\\_approval")
        expect(fieldOf(last, "Shares outstanding")).toBe("12M (as of 2025-10-31)")
        // One message: the details were edited into the post, never posted again.
        expect(
          about(
            world.alerts().map((m) => (m.payload["embeds"] as ReadonlyArray<Embed>)[0]!),
            agreeing
          )
        ).toHaveLength(1)
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a neutral 8.01 waits for the EX-99.1 that decides it, up to SEC_DOCUMENT_WAIT_SECONDS; one later than that is not alerted",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        world.sec.setFilings([
          eightK(neutral, [otherEvents, exhibits], { headline: "FDA Approval of its lead candidate", delayMs: 800 }),
          eightK(small, [otherEvents], { headline: "FDA Approval of its second candidate", delayMs: 4_000 })
        ])
        const { outcomes, posted } = yield* livePoll(world, { SEC_DOCUMENT_WAIT_SECONDS: 2 })
        const [post] = about(posted, neutral)
        expect(fieldOf(post, "Press release (EX-99.1)")).toBe("ex99-1.htm: matched fda approval")
        expect(about(posted, small)).toEqual([])
        expect(outcomes.find((outcome) => outcome.title.includes(small.name.toUpperCase()))).toMatchObject({
          outcome: "filtered"
        })
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "with a size filter on, the size is waited for and filters; one later than the wait goes out noted, and is edited in",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        // 1 share at the world's quote is a cap far below the floor; the other company's size comes after the wait.
        world.sec.setConcepts([...sharesOf(small, 1, 300), ...sharesOf(sized, 12_000_000, 3_000)])
        world.sec.setFilings([eightK(small, [agreement, exhibits]), eightK(sized, [agreement, exhibits])])
        const { outcomes, posted, edited } = yield* livePoll(world, { MIN_MARKET_CAP_USD: 1_000 })
        expect(outcomes.find((outcome) => outcome.title.includes(small.name.toUpperCase()))).toMatchObject({
          outcome: "filtered",
          reason: expect.stringContaining("below MIN_MARKET_CAP_USD")
        })
        expect(outcomes.find((outcome) => outcome.title.includes(sized.name.toUpperCase()))).toMatchObject({
          outcome: "alerted",
          reason: "size filter not applied: market cap unknown"
        })
        expect(fieldOf(about(posted, sized)[0], "Market cap")).toBeUndefined()
        expect(fieldOf(about(edited, sized).at(-1), "Shares outstanding")).toBe("12M (as of 2025-10-31)")
      }).pipe(Effect.scoped),
    120_000
  )
})
