import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Duration, Effect } from "effect"
import { join } from "node:path"
import { Delivery } from "../src/Delivery/Delivery.js"
import { FollowUp } from "../src/Delivery/FollowUp.js"
import { secFeedName } from "../src/Feeds/Sources.js"
import { Runner } from "../src/Runner/Runner.js"
import type { FakeFiling } from "../src/World/FakeSec.js"
import * as FakeWire from "../src/World/FakeWire.js"
import * as World from "../src/World/World.js"
import { spawnCli } from "./support/Cli.js"
import { waitUntil } from "./support/DeliveryHarness.js"
import { worldBot } from "./support/WorldBot.js"

type Embed = {
  readonly title: string
  readonly fields: ReadonlyArray<{ readonly name: string; readonly value: string }>
}

const [acme, other] = [World.companies[1]!, World.companies[4]!]

const headline = (company: World.Company) => `${company.name} Wins $45 Million Department of Defense Contract`

/**
 * Keywords only, and charts given up on at once (shown as unavailable): no LLM verdict or late chart
 * is edited in, so every edit counted here is one this feature made.
 */
const noLlm = { LLM_PROVIDER: "none", CHART_TIMEOUT_MS: 100 }

let serial = 0

const wireItem = (company: World.Company, title: string, link?: string): FakeWire.WireItem => {
  serial += 1
  return {
    title,
    link: link ?? `https://www.globenewswire.com/news-release/2026/12/02/${3_200_000 + serial}/contract.html`,
    description: `${company.name}, Inc. (${company.exchange}: ${company.ticker}) won a multi-year production award.`,
    pubDate: new Date().toUTCString(),
    stocks: [`${company.exchange}:${company.ticker}`]
  }
}

const filing = (company: World.Company, form: string, items: ReadonlyArray<string>): FakeFiling => {
  serial += 1
  return {
    form,
    accession: `000${company.cik}-26-${String(serial).padStart(6, "0")}`,
    // SEC writes <updated> in Eastern time.
    updated: new Date(Date.now() - 5 * 3_600_000).toISOString().slice(0, 19) + "-05:00",
    items,
    parties: [{ company: company.name.toUpperCase(), cik: company.cik, role: "Filer" }],
    documentText: `${items.join(". ")}. ${headline(company)}. The multi-year award covers production through 2029.`
  }
}

const agreement = [
  "Item 1.01: Entry into a Material Definitive Agreement",
  "Item 9.01: Financial Statements and Exhibits"
]

let served = 0

/** The wire serves `items` (newest first), under a fresh validator so the bot reads them. */
const serveWire = (world: World.World, items: ReadonlyArray<FakeWire.WireItem>) =>
  world.wire.setFeed("GlobeNewswire", { body: FakeWire.globeNewswireRss(items), etag: `"events-${(served += 1)}"` })

/** One cycle, its deliveries, and the edits they lead to. */
const step = Effect.gen(function* () {
  const result = yield* (yield* Runner).runCycle
  yield* (yield* Delivery).awaitSettled(0, Duration.seconds(30))
  yield* (yield* FollowUp).drain(Duration.seconds(10))
  if (result._tag !== "Completed") throw new Error(`cycle did not complete: ${JSON.stringify(result)}`)
  return result.summary
})

const embedsOf = (world: World.World) =>
  world.alerts().map((message) => (message.payload["embeds"] as ReadonlyArray<Embed>)[0]!)

const fieldOf = (embed: Embed, name: string) => embed.fields.find((field) => field.name === name)?.value

const archived = (world: World.World) => {
  const db = new Database(join(world.env.DATA_DIR!, "catalyst-bot.sqlite"), { readonly: true })
  try {
    return db.prepare("SELECT item_id, source, outcome, reason FROM item_archive ORDER BY id").all() as Array<{
      item_id: string
      source: string
      outcome: string
      reason: string | null
    }>
  } finally {
    db.close()
  }
}

const linkedFields = ["📄 Also filed", "📰 Press release", "✏️ Updated"]

/** Edits of alert messages that carry something edited in by this feature (late charts are edited too). */
const linkEdits = (world: World.World) =>
  world.discord.edits.filter(
    (edit) =>
      edit.webhookId === world.webhookIds.alerts &&
      (edit.payload["embeds"] as ReadonlyArray<Embed>).some((embed) =>
        embed.fields.some((field) => linkedFields.includes(field.name))
      )
  ).length

const quiet = (world: World.World) => {
  world.sec.setFilings([])
  serveWire(world, [])
}

describe("one alert per event (EVENT_WINDOW_MINUTES)", () => {
  it.live(
    "a press release and then its 8-K: one message, edited to say 'Also filed: 8-K Items 1.01, 9.01'; the archive holds both",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        quiet(world)
        const release = wireItem(acme, headline(acme))
        const eightK = filing(acme, "8-K", agreement)
        yield* Effect.gen(function* () {
          serveWire(world, [release])
          yield* step
          expect(embedsOf(world)).toHaveLength(1)
          world.sec.setFilings([eightK])
          const summary = yield* step
          const sec = summary.outcomes.find((outcome) => outcome.source === secFeedName)
          expect(sec).toMatchObject({ outcome: "duplicate", reason: expect.stringContaining(release.link) })
        }).pipe(Effect.provide(worldBot(world, noLlm)))
        const embeds = embedsOf(world)
        expect(embeds).toHaveLength(1)
        expect(linkEdits(world)).toBeGreaterThanOrEqual(1)
        expect(embeds[0]!.title).toContain(headline(acme))
        expect(fieldOf(embeds[0]!, "📄 Also filed")).toMatch(/^\[8\\?-K Items 1\.01, 9\.01\]\(https?:\/\/.+\)$/)
        const rows = archived(world)
        expect(rows).toContainEqual(expect.objectContaining({ item_id: release.link, outcome: "alerted" }))
        expect(rows).toContainEqual(
          expect.objectContaining({
            item_id: `sec:${eightK.accession}`,
            outcome: "duplicate",
            reason: expect.stringMatching(/^alerted as an edit of GlobeNewswire item .+: its 8-K$/)
          })
        )
      }).pipe(Effect.scoped),
    240_000
  )

  it.live(
    "an 8-K and then its press release: one message, edited to carry the press release's headline and link",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        quiet(world)
        const release = wireItem(acme, headline(acme))
        yield* Effect.gen(function* () {
          world.sec.setFilings([filing(acme, "8-K", agreement)])
          yield* step
          expect(embedsOf(world)).toHaveLength(1)
          serveWire(world, [release])
          yield* step
        }).pipe(Effect.provide(worldBot(world, noLlm)))
        const embeds = embedsOf(world)
        expect(embeds).toHaveLength(1)
        expect(linkEdits(world)).toBeGreaterThanOrEqual(1)
        expect(fieldOf(embeds[0]!, "📰 Press release")).toBe(`[${headline(acme)}](${release.link})`)
        expect(archived(world)).toContainEqual(
          expect.objectContaining({
            item_id: release.link,
            outcome: "duplicate",
            reason: expect.stringMatching(/press release/)
          })
        )
      }).pipe(Effect.scoped),
    240_000
  )

  it.live(
    "outside the window, or for another ticker, the 8-K is an alert of its own",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        quiet(world)
        yield* Effect.gen(function* () {
          serveWire(world, [wireItem(acme, headline(acme))])
          yield* step
          yield* Effect.sleep(Duration.millis(300))
          world.sec.setFilings([filing(acme, "8-K", agreement)])
          yield* step
        }).pipe(Effect.provide(worldBot(world, { ...noLlm, EVENT_WINDOW_MINUTES: 0.002 })))
        expect(embedsOf(world)).toHaveLength(2)

        const second = yield* World.make()
        quiet(second)
        yield* Effect.gen(function* () {
          serveWire(second, [wireItem(acme, headline(acme))])
          yield* step
          second.sec.setFilings([filing(other, "8-K", agreement)])
          yield* step
        }).pipe(Effect.provide(worldBot(second, noLlm)))
        expect(embedsOf(second)).toHaveLength(2)
        expect(linkEdits(second)).toBe(0)
      }).pipe(Effect.scoped),
    240_000
  )
})

describe("alert lifecycle (ALERT_UPDATE_LOOKBACK_HOURS)", () => {
  it.live(
    "an 8-K/A edits the message of the 8-K it amends, marked Updated, instead of posting again",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        quiet(world)
        const original = filing(acme, "8-K", agreement)
        const amendment = filing(acme, "8-K/A", agreement)
        yield* Effect.gen(function* () {
          world.sec.setFilings([original])
          yield* step
          world.sec.setFilings([amendment, original])
          yield* step
        }).pipe(Effect.provide(worldBot(world, noLlm)))
        const embeds = embedsOf(world)
        expect(embeds).toHaveLength(1)
        expect(linkEdits(world)).toBeGreaterThanOrEqual(1)
        expect(embeds[0]!.title).toMatch(/^🔄 Updated · /)
        expect(fieldOf(embeds[0]!, "✏️ Updated")).toMatch(/^\[8\\?-K\/A Items 1\.01, 9\.01\]/)
        expect(archived(world)).toContainEqual(
          expect.objectContaining({
            item_id: `sec:${amendment.accession}`,
            outcome: "duplicate",
            reason: expect.stringMatching(
              new RegExp(`edit of ${secFeedName} item sec:${original.accession}: 8-K/A amends its 8-K`)
            )
          })
        )
      }).pipe(Effect.scoped),
    240_000
  )

  it.live(
    "a 'CORRECTING and REPLACING' release edits the original's message, marked Updated; a new story still posts",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        quiet(world)
        const release = wireItem(acme, headline(acme))
        const correction = wireItem(acme, `CORRECTING and REPLACING -- ${headline(acme)}`)
        const unrelated = wireItem(acme, `${acme.name} Announces FDA Approval of Its Lead Candidate`)
        yield* Effect.gen(function* () {
          serveWire(world, [release])
          yield* step
          serveWire(world, [correction, release])
          yield* step
          serveWire(world, [unrelated, correction, release])
          yield* step
        }).pipe(Effect.provide(worldBot(world, noLlm)))
        const embeds = embedsOf(world)
        expect(embeds.map((embed) => embed.title)).toEqual([
          `🔄 Updated · ${acme.ticker} (NASDAQ) — ${headline(acme)}`,
          expect.stringContaining("FDA Approval")
        ])
        expect(fieldOf(embeds[0]!, "✏️ Updated")).toContain(correction.link)
        expect(linkEdits(world)).toBeGreaterThanOrEqual(1)
      }).pipe(Effect.scoped),
    240_000
  )
})

/** Hang guard only: a bot started through tsx on a busy machine can take minutes to come up. */
const startup = 240_000

describe("one alert per event across kill -9", () => {
  it.live(
    "killed after the 8-K was decided but before its edit went out: `once` after the restart sends the edit, and never posts again",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        quiet(world)
        serveWire(world, [wireItem(acme, headline(acme))])
        const env = { ...world.env, ...noLlm, POLL_SECONDS: "1", POLL_SECONDS_CLOSED: "1", SEC_POLL_SECONDS: "1" }
        const first = spawnCli(["run"], Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])))
        yield* Effect.addFinalizer(() => Effect.sync(() => first.child.kill("SIGKILL")))
        yield* waitUntil("the press release's post", () => world.alerts().length >= 1, startup)
        const db = new Database(join(world.env.DATA_DIR!, "catalyst-bot.sqlite"), { readonly: true })
        yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
        const eventEdits = () =>
          db.prepare("SELECT status FROM outbox_edits WHERE reason = 'event'").all() as Array<{ status: string }>
        // Every edit from now on fails (503): the 8-K's edit is decided and queued, and unsent at the kill.
        // (Other edits, such as a size edited into the press release, may fail first: wait for this one.)
        world.discord.outage(503)
        world.sec.setFilings([filing(acme, "8-K", agreement)])
        yield* waitUntil("the 8-K's edit queued", () => eventEdits().length > 0, startup)
        first.child.kill("SIGKILL")
        yield* Effect.promise(() => first.exited)
        world.discord.endOutage()
        expect(linkEdits(world)).toBe(0)
        expect(eventEdits()).toEqual([{ status: "pending" }])

        const second = spawnCli(["once"], Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])))
        yield* Effect.addFinalizer(() => Effect.sync(() => second.child.kill("SIGKILL")))
        const result = yield* Effect.promise(() => second.exited)
        expect(result.code, result.stderr).toBe(0)
        expect(world.alerts()).toHaveLength(1)
        expect(eventEdits()).toEqual([{ status: "sent" }])
        expect(fieldOf(embedsOf(world)[0]!, "📄 Also filed")).toMatch(/^\[8\\?-K Items 1\.01, 9\.01\]/)
      }).pipe(Effect.scoped),
    3 * startup
  )
})
