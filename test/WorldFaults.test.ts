import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Duration, Effect, Logger } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Delivery } from "../src/Delivery/Delivery.js"
import type { FeedStatus } from "../src/Kernel/Domain.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { Runner, type CycleResult } from "../src/Runner/Runner.js"
import * as FakeOpenAi from "../src/World/FakeOpenAi.js"
import * as World from "../src/World/World.js"
import { worldBot } from "./support/WorldBot.js"

/** Every log message, so a test can check that the culprit was named. */
const captureLogs = (lines: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ message }) => void lines.push(Array.isArray(message) ? message.join(" ") : String(message)))
  )

const completed = (result: CycleResult) => {
  if (result._tag !== "Completed") throw new Error(`cycle did not complete: ${JSON.stringify(result)}`)
  return result.summary
}

const statusOf = (result: CycleResult, feed: string): FeedStatus | undefined =>
  completed(result).feeds.find((report) => report.name === feed)?.status

const alertedTitles = (result: CycleResult) =>
  completed(result)
    .outcomes.filter((outcome) => outcome.outcome === "alerted")
    .map((outcome) => outcome.title)

/** Catalysts that alert (no routine news, one wire each), on every wire. */
const catalysts = (world: World.World, offset: number) =>
  world.publish(
    World.wireNames.map((wire, index) => ({
      company: World.companies[offset + index]!,
      kind: "government_contract" as const,
      wires: [wire]
    }))
  )

/** The world's feeds plus some hostile ones served by its wire server. */
const withExtraFeeds = (world: World.World, extra: Record<string, Parameters<World.World["wire"]["setFeed"]>[1]>) => {
  const feeds = JSON.parse(readFileSync(world.env.FEEDS_FILE!, "utf8")) as Array<unknown>
  for (const [name, script] of Object.entries(extra)) {
    world.wire.setFeed(name, script)
    feeds.push({ name, url: world.wire.feedUrl(name), kind: "rss" })
  }
  const file = join(world.env.DATA_DIR!, "feeds-with-hostile.json")
  writeFileSync(file, JSON.stringify(feeds))
  return file
}

describe("database trouble", () => {
  it.live("a database locked by another connection fails the cycle with a clear message; the next one succeeds", () =>
    Effect.gen(function* () {
      const world = yield* World.make()
      world.publishNews(3)
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        completed(yield* runner.runCycle)

        const other = new Database(join(world.env.DATA_DIR!, "catalyst-bot.sqlite"))
        yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
        other.exec("BEGIN IMMEDIATE")
        const published = catalysts(world, 10)
        const locked = yield* runner.runCycle
        expect(locked._tag).toBe("Failed")
        const reason = locked._tag === "Failed" ? locked.reason : ""
        expect(reason).toContain(`database ${join(world.env.DATA_DIR!, "catalyst-bot.sqlite")} is locked`)
        expect(reason).not.toContain("\n")

        other.exec("COMMIT")
        const after = yield* runner.runCycle
        expect((yield* runner.state).cycles).toBe(3)
        expect(alertedTitles(after)).toEqual(expect.arrayContaining(published.map((story) => story.title)))
      }).pipe(Effect.provide(worldBot(world, { SQLITE_BUSY_TIMEOUT_MS: 200 })))
    }).pipe(Effect.scoped)
  )
})

describe("bad data from every external party: the culprit is named and the cycle goes on", () => {
  it.live("a wire serving malformed XML", () =>
    Effect.gen(function* () {
      const world = yield* World.make()
      const published = catalysts(world, 0).filter((story) => story.wires[0] !== "GlobeNewswire")
      world.wire.setFeed("GlobeNewswire", { body: "<<rss>><channel <item>>&&& not xml \u0000" })
      const result = yield* Effect.flatMap(Runner, (runner) => runner.runCycle).pipe(Effect.provide(worldBot(world)))
      expect(statusOf(result, "GlobeNewswire")).toMatchObject({ _tag: "Failed" })
      expect(JSON.stringify(statusOf(result, "GlobeNewswire"))).toMatch(/not a feed|XML|parse/i)
      expect(statusOf(result, "PR Newswire")).toMatchObject({ _tag: "Ok" })
      expect(alertedTitles(result)).toEqual(published.map((story) => story.title))
    }).pipe(Effect.scoped)
  )

  it.live("SEC serving a broken company_tickers.json", () =>
    Effect.gen(function* () {
      const world = yield* World.make()
      const logs: Array<string> = []
      world.sec.setTickersBody('{"0":{"cik_str":"not a number","ticker":7}}')
      const published = world.publish([{ company: World.companies[0]!, kind: "acquisition", wires: ["GlobeNewswire"] }])
      const result = yield* Effect.flatMap(Runner, (runner) => runner.runCycle).pipe(
        Effect.provide(worldBot(world)),
        Effect.provide(captureLogs(logs))
      )
      expect(logs.join("\n")).toMatch(/SEC ticker map refresh failed \(.+cik_str.+\); using the cached map/s)
      // The filing has no ticker without the map; the wire story still alerts.
      expect(statusOf(result, "SEC EDGAR")).toMatchObject({ _tag: "Ok" })
      expect(completed(result).outcomes).toContainEqual(
        expect.objectContaining({ source: "SEC EDGAR", outcome: "filtered", reason: "no ticker" })
      )
      expect(alertedTitles(result)).toEqual([published[0]!.title])
    }).pipe(Effect.scoped)
  )

  it.live("the quote API answering truncated JSON: alerts go out marked 'price unavailable', saying why", () =>
    Effect.gen(function* () {
      const world = yield* World.make()
      const logs: Array<string> = []
      world.quotes.setOutage("garbage")
      const published = catalysts(world, 15)
      yield* Effect.gen(function* () {
        const result = yield* (yield* Runner).runCycle
        expect(alertedTitles(result)).toEqual(expect.arrayContaining(published.map((story) => story.title)))
        const [row] = yield* (yield* Outbox).due(1)
        expect(row?.alert.market).toMatchObject({ _tag: "PriceUnavailable", reason: expect.stringMatching(/yahoo/i) })
      }).pipe(Effect.provide(worldBot(world)), Effect.provide(captureLogs(logs)))
      expect(world.quotes.requests().length).toBeGreaterThan(0)
    }).pipe(Effect.scoped)
  )

  it.live("price API down with QUOTES_ON_OUTAGE=hold: items are held, then alert once prices are back", () =>
    Effect.gen(function* () {
      const world = yield* World.make()
      yield* world.scenario("priceApiDown")
      const published = catalysts(world, 18).map((story) => story.title)
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        const down = completed(yield* runner.runCycle)
        expect(down.outcomes.filter((o) => o.outcome === "held").map((o) => o.title)).toEqual(
          expect.arrayContaining(published)
        )
        expect(down.alerted).toBe(0)
        yield* world.scenario("normal")
        const back = yield* runner.runCycle
        expect(alertedTitles(back)).toEqual(expect.arrayContaining(published))
      }).pipe(
        Effect.provide(worldBot(world, { QUOTES_ON_OUTAGE: "hold", QUOTE_RETRIES: 0, QUOTE_BREAKER_FAILURES: 100 }))
      )
    }).pipe(Effect.scoped)
  )

  it.live("an LLM answering malformed JSON: items fall back to keywords, and still alert", () =>
    Effect.gen(function* () {
      const world = yield* World.make()
      const logs: Array<string> = []
      world.llm.setDefault(FakeOpenAi.malformed)
      const published = catalysts(world, 3)
      // LLM_MODE=gate: the cycle itself asks the LLM (in enrich mode the verdict comes after the alert).
      const result = yield* Effect.flatMap(Runner, (runner) => runner.runCycle).pipe(
        Effect.provide(worldBot(world, { LLM_MODE: "gate" })),
        Effect.provide(captureLogs(logs))
      )
      expect(world.llm.callCount()).toBeGreaterThan(0)
      expect(alertedTitles(result)).toEqual(expect.arrayContaining(published.map((story) => story.title)))
      expect(completed(result).notes.join(" ")).toMatch(/LLM openai\/.*: 0 analysed .*on keywords only/)
      expect(logs.join("\n")).toMatch(/LLM unavailable for ".+": /)
    }).pipe(Effect.scoped)
  )

  it.live(
    "Discord answering 400 with a garbage body, then a 502: one dead letter naming Discord, the rest delivered",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make({ discord: { limit: 50, windowMs: 1_000 } })
        // Two: few enough to go alone while the bucket's headers are unknown (a packed message answered
        // 400 would be split and its alerts sent alone instead of dead-lettered).
        const published = world.publish(
          World.wireNames.slice(0, 2).map((wire, index) => ({
            company: World.companies[5 + index]!,
            kind: "government_contract" as const,
            wires: [wire]
          }))
        )
        world.discord.garbageNext(1, 400, world.webhookIds.alerts)
        world.discord.garbageNext(1, 502, world.webhookIds.alerts)
        yield* Effect.gen(function* () {
          const runner = yield* Runner
          const delivery = yield* Delivery
          const outbox = yield* Outbox
          expect(alertedTitles(yield* runner.runCycle)).toHaveLength(published.length)
          const settled = yield* delivery.awaitSettled(0, Duration.seconds(10))
          expect(settled).toMatchObject({ delivered: published.length - 1, failed: 1, timedOut: false })
          expect((yield* outbox.counts()).dead).toBe(1)
        }).pipe(Effect.provide(worldBot(world)))
        const db = new Database(join(world.env.DATA_DIR!, "catalyst-bot.sqlite"), { readonly: true })
        const dead = db.prepare("SELECT last_error FROM outbox WHERE status = 'dead'").all() as Array<{
          last_error: string
        }>
        db.close()
        expect(dead[0]?.last_error).toMatch(/alerts.*400/)
        const titles = world
          .alerts()
          .map((message) => (message.payload["embeds"] as Array<{ title: string }>)[0]!.title)
        expect(titles).toHaveLength(published.length - 1)
        expect(new Set(titles).size).toBe(titles.length)
      }).pipe(Effect.scoped)
  )
})

describe("hostile input is contained, and the other feeds carry on", () => {
  it.live("an XML bomb, a 100 MB response and a slowloris feed in one cycle", () =>
    Effect.gen(function* () {
      const world = yield* World.make()
      const published = catalysts(world, 12)
      const feedsFile = withExtraFeeds(world, {
        Bomb: { body: readFileSync(join(import.meta.dirname, "fixtures/feeds/billion-laughs.xml")) },
        Huge: { body: "", streamBytes: 100 * 1024 * 1024 },
        Slowloris: { body: '<?xml version="1.0"?><rss version="2.0"><channel><title>slow', dribbleMs: 50 }
      })
      const heapBefore = process.memoryUsage().heapUsed
      const result = yield* Effect.flatMap(Runner, (runner) => runner.runCycle).pipe(
        Effect.provide(worldBot(world, { FEEDS_FILE: feedsFile, FEED_TIMEOUT_SECONDS: 3 }))
      )

      expect(statusOf(result, "Bomb")).toEqual({
        _tag: "Failed",
        reason: expect.stringMatching(/declares XML entities/)
      })
      expect(statusOf(result, "Huge")).toEqual({ _tag: "Failed", reason: "body exceeds FEED_MAX_BYTES=5000000" })
      // The slow feed cost one FEED_TIMEOUT_SECONDS: a single attempt, ended by its 3 s deadline.
      expect(statusOf(result, "Slowloris")).toEqual({ _tag: "Failed", reason: "timed out after 3s" })
      expect(world.wire.received("Slowloris")).toBe(1)
      // The big body was cut off at the cap, not read to the end nor buffered.
      expect(world.wire.bytesSent("Huge")).toBeLessThan(20 * 1024 * 1024)
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(60 * 1024 * 1024)
      for (const wire of World.wireNames) expect(statusOf(result, wire)).toMatchObject({ _tag: "Ok" })
      expect(alertedTitles(result)).toEqual(expect.arrayContaining(published.map((story) => story.title)))
    }).pipe(Effect.scoped)
  )
})
