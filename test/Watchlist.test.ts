import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer, Option } from "effect"
import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Classifier } from "../src/Classification/Classifier.js"
import { AlertLinks } from "../src/Delivery/AlertLinks.js"
import { renderCard } from "../src/Delivery/AlertSink/Stdout.js"
import { alertMessage } from "../src/Delivery/Discord/Embed.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { parseRoutes, routesFor } from "../src/Delivery/Routes.js"
import { FeedIngest } from "../src/Feeds/FeedIngest.js"
import { AdminQueue } from "../src/Kernel/AdminChannel.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { MarketSnapshot, NormalizedItem, WatchlistMark } from "../src/Kernel/Domain.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { MarketData } from "../src/MarketData/MarketData.js"
import { applyEdit, parseWatchlist, renderWatchlist, Watchlist } from "../src/MarketData/Watchlist.js"
import { ItemArchive } from "../src/Outcomes/ItemArchive.js"
import { Cycle } from "../src/Runner/Cycle.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import { classifiedFixture, itemFixture, makeAlert } from "./support/Alerts.js"
import { runCli } from "./support/Cli.js"
import { configLayer, tempDataConfig } from "./support/TestLayers.js"

const now = Date.UTC(2026, 11, 2, 15)

const watchlistDir = () => mkdtempSync(join(tmpdir(), "watchlist-"))

const write = (path: string, content: unknown, mtime: number) => {
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content))
  utimesSync(path, mtime / 1000, mtime / 1000)
}

const acme = itemFixture("https://wire.example/acme", {
  title: "Acme announces webinar",
  link: "https://wire.example/acme",
  tickers: [{ symbol: "ACME", exchange: "NASDAQ" }]
})
const beta = itemFixture("https://wire.example/beta", {
  title: "Beta announces webinar",
  link: "https://wire.example/beta",
  tickers: [{ symbol: "BETA", exchange: "NASDAQ" }]
})

const serviceLayer = (path: string, values: Record<string, string> = {}) =>
  Layer.mergeAll(Watchlist.Default, AdminQueue.Default).pipe(
    Layer.provideMerge(AppConfig.Default),
    Layer.provide(configLayer({ DATA_DIR: tmpdir(), WATCHLIST_FILE: path, ...values }))
  )

/** The same edits in each format: ACME, then BETA, then a list with a malformed ticker in its second entry. */
const formats = [
  {
    file: "watchlist.json",
    first: { tickers: [{ ticker: "acme", note: "earnings Thursday", tags: ["biotech"] }] },
    second: { tickers: [{ ticker: "BETA" }] },
    bad: { tickers: [{ ticker: "ACME" }, { ticker: "not a ticker!" }] },
    badLine: /watchlist\.json: tickers\[1\], field ticker: Expected a ticker .*actual "not a ticker!"/
  },
  {
    file: "watchlist.csv",
    first: "ticker,note,tags\nacme,earnings Thursday,biotech\n",
    second: "Symbol\r\nBETA\r\n",
    bad: "ticker\nACME\nnot a ticker!\n",
    badLine: /watchlist\.csv: row 3, column ticker: Expected a ticker .*actual "not a ticker!"/
  }
]

describe("watchlist file", () => {
  for (const format of formats)
    it.live(
      `${format.file}: an edit is picked up without a restart; a bad edit keeps the previous list and tells admin once`,
      () =>
        Effect.gen(function* () {
          const path = join(watchlistDir(), format.file)
          write(path, format.first, now)
          yield* Effect.gen(function* () {
            const watchlist = yield* Watchlist
            const first = yield* watchlist.current()
            expect(first.markOf(acme)).toEqual({ ticker: "ACME", note: "earnings Thursday", tags: ["biotech"] })
            expect(first.markOf(beta)).toBeUndefined()

            write(path, format.second, now + 1_000)
            const second = yield* watchlist.current()
            expect(second.markOf(acme)).toBeUndefined()
            expect(second.markOf(beta)).toEqual({ ticker: "BETA", tags: [] })

            write(path, format.bad, now + 2_000)
            for (let poll = 0; poll < 3; poll++) {
              const kept = yield* watchlist.current()
              expect(kept.markOf(beta)).toEqual({ ticker: "BETA", tags: [] })
              expect(kept.markOf(acme)).toBeUndefined()
            }
            const queue = yield* AdminQueue
            const notice = yield* queue.take.pipe(Effect.timeout(Duration.seconds(2)))
            expect(notice).toMatchObject({ _tag: "Notice", event: { title: "WATCHLIST_FILE edit not applied" } })
            expect(notice._tag === "Notice" && notice.event.detail).toMatch(format.badLine)
            // Once: the same bad file read again on later polls tells nobody anything new.
            expect(yield* Effect.option(Effect.timeout(queue.take, Duration.millis(300)))).toEqual(Option.none())
          }).pipe(Effect.provide(serviceLayer(path)))
        })
    )
})

describe("a CSV watchlist file", () => {
  const path = "/lists/watchlist.CSV"

  it("reads the columns by header in any case and order, `symbol` for `ticker`, past a BOM, CRLF and blank lines", () => {
    const text = '\uFEFF Symbol ,TAGS,Note\r\n\r\nacme,biotech; swing;,"earnings, Thursday"\r\n\r\nBRK-B,,\r\nbeta\r\n'
    expect(parseWatchlist(path, text)).toEqual(
      Either.right([
        { ticker: "ACME", note: "earnings, Thursday", tags: ["biotech", "swing"] },
        { ticker: "BRK-B" },
        { ticker: "BETA" }
      ])
    )
  })

  it("each problem is one line naming the file, the row (its line in the file) and the column", () => {
    const problems = (text: string) => Either.flip(parseWatchlist(path, text))
    expect(problems("ticker,sector\nACME,biotech\n")).toEqual(
      Either.right([`${path}: row 1, column sector: is unexpected, expected: "ticker" | "symbol" | "note" | "tags"`])
    )
    expect(problems("\nnote,tags\nearnings,biotech\n")).toEqual(
      Either.right([`${path}: row 2, column ticker: is missing (the header row names a "ticker" or "symbol" column)`])
    )
    expect(problems('ticker,note\r\nACME,"a note\r\nover two lines"\r\n\r\nAC ME,typo\r\n')).toEqual(
      Either.right([
        `${path}: row 5, column ticker: Expected a ticker (a letter, then up to 9 letters, digits, "." or "-"), actual "AC ME"`
      ])
    )
    expect(problems("Symbol\nACME\nBETA\n\nacme\n")).toEqual(
      Either.right([`${path}: row 5, column Symbol: ACME is listed twice`])
    )
  })

  it("a note with commas, quotes or a line break survives writing and reading; a tag with ';' is refused", () => {
    const entries = [
      { ticker: "ACME", note: 'earnings, "Thursday"\nafter the close', tags: ["biotech", "swing"] },
      { ticker: "BETA", note: "  padded  " },
      { ticker: "GAMA" }
    ]
    const text = Either.getOrThrow(renderWatchlist(path, entries))
    expect(text.split("\n")[0]).toBe("ticker,note,tags")
    expect(parseWatchlist(path, text)).toEqual(Either.right(entries))
    expect(renderWatchlist(path, [{ ticker: "ACME", tags: ["bio;tech"] }])).toEqual(
      Either.left('ACME: a tag with ";" can\'t be written to a CSV watchlist, where ";" separates tags')
    )
  })
})

describe("watchlist marker and routes", () => {
  const mark: WatchlistMark = { ticker: "ACME", note: "**earnings** @everyone", tags: ["biotech", "swing"] }
  const watched = makeAlert(acme, { watchlist: mark })

  it("Discord shows the marker in the title and a field, the operator's words escaped; stdout says it too", () => {
    const message = alertMessage(watched, { _tag: "NoBars" })
    const embed = message.payload.embeds![0]!
    expect(embed.title).toMatch(/^👀 Watchlist · ACME/)
    expect(embed.fields).toContainEqual({
      name: "👀 Watchlist",
      value: "ACME · tags biotech, swing · note: \\*\\*earnings\\*\\* @everyone"
    })
    expect(message.payload.allowed_mentions).toEqual({ parse: [] })
    expect(alertMessage(makeAlert(acme), { _tag: "NoBars" }).payload.embeds![0]!.title).not.toMatch(/Watchlist/)
    const card = renderCard(watched)
    expect(card).toMatch(/^━━ WATCHLIST {2}ACME/)
    expect(card).toContain("watchlist: ACME · tags biotech, swing · note: **earnings** @everyone")
  })

  it("a route takes watchlist alerts, or those of some tags, or its tickers or the watchlist", () => {
    const file = JSON.stringify({
      routes: [
        { name: "watch", webhook: "https://discord.example/api/webhooks/1/a", match: { watchlist: true } },
        { name: "bio", webhook: "https://discord.example/api/webhooks/2/b", match: { watchlist_tags: ["biotech"] } },
        {
          name: "mine",
          webhook: "https://discord.example/api/webhooks/3/c",
          match: { tickers: ["GAMA"], watchlist: true }
        },
        { name: "firehose", webhook: "https://discord.example/api/webhooks/4/d" }
      ]
    })
    const routes = Either.getOrThrow(parseRoutes("routes.json", file, new Set()))
    expect(routesFor(routes, watched)).toEqual(["watch", "bio", "mine", "firehose"])
    const swingOnly = makeAlert(acme, { watchlist: { ticker: "ACME", tags: ["swing"] } })
    expect(routesFor(routes, swingOnly)).toEqual(["watch", "mine", "firehose"])
    expect(routesFor(routes, makeAlert(beta))).toEqual(["firehose"])
    const gamma = itemFixture("g", { tickers: [{ symbol: "GAMA", exchange: null }] })
    expect(routesFor(routes, makeAlert(gamma))).toEqual(["mine", "firehose"])
    // A bad value names the route and the field.
    const typo = JSON.stringify({
      routes: [{ name: "watch", webhook: "https://discord.example/api/webhooks/1/a", match: { watchlist: "yes" } }]
    })
    const refused = parseRoutes("routes.json", typo, new Set())
    expect(Either.isLeft(refused) && refused.left).toContainEqual(
      expect.stringMatching(/^routes\.json: routes\[0\] "watch", field match\.watchlist: Expected true/)
    )
  })
})

const penny = (symbol: string): MarketSnapshot => ({
  _tag: "Priced",
  quote: { symbol, price: 0.5, previousClose: null, changePct: null, volume: 1_000_000, relativeVolume: null }
})

/** A cycle over ACME (watchlisted) and BETA, both scoring 0.5 and priced at $0.50. */
const cycleLayer = (path: string, values: Record<string, string | number>) =>
  Cycle.DefaultWithoutDependencies.pipe(
    Layer.provide(
      Layer.mergeAll(
        FeedIngest.Test({ fetchAll: Effect.succeed({ reports: [], items: [acme, beta], stale: [] }) }),
        Classifier.Test({
          classifyBatch: (items: ReadonlyArray<NormalizedItem>) =>
            Effect.succeed({ items: items.map((item) => classifiedFixture(item, { score: 0.5 })), notes: [] })
        }),
        MarketData.Test({
          enrich: (items) =>
            Effect.succeed(items.map((entry) => ({ ...entry, market: penny(entry.item.tickers[0]!.symbol) })))
        }),
        Watchlist.Default
      )
    ),
    Layer.provideMerge(
      Layer.mergeAll(
        SeenStore.Default,
        Outbox.Default,
        ItemArchive.Default,
        AlertLinks.Default,
        AdminQueue.Default,
        SqlLive,
        AppConfig.Default
      )
    ),
    Layer.provide(tempDataConfig({ WATCHLIST_FILE: path, MIN_SCORE: 1, PRICE_FLOOR: 1, ...values }))
  )

describe("a cycle with a watchlist", () => {
  const listed = () => {
    const path = join(watchlistDir(), "watchlist.json")
    write(path, { tickers: [{ ticker: "ACME", tags: ["biotech"] }] }, now)
    return path
  }

  it.scoped("WATCHLIST_BYPASS_FILTERS=1: a watchlist ticker skips MIN_SCORE and PRICE_FLOOR and is marked", () =>
    Effect.gen(function* () {
      const summary = yield* (yield* Cycle).run()
      expect(summary.outcomes.map((entry) => [entry.itemId, entry.outcome, entry.reason])).toEqual([
        [beta.id, "filtered", "score 0.50 below MIN_SCORE 1"],
        [
          acme.id,
          "alerted",
          "watchlist ACME passed despite score 0.50 below MIN_SCORE 1 and price 0.5 below PRICE_FLOOR 1 (WATCHLIST_BYPASS_FILTERS)"
        ]
      ])
      const rows = yield* (yield* Outbox).due(10)
      expect(rows.map((row) => [row.alert.ticker.symbol, row.alert.watchlist])).toEqual([
        ["ACME", { ticker: "ACME", tags: ["biotech"] }]
      ])
    }).pipe(Effect.provide(cycleLayer(listed(), { WATCHLIST_BYPASS_FILTERS: 1 })))
  )

  it.scoped("without the bypass the score and price filters hold for watchlist tickers too", () =>
    Effect.gen(function* () {
      const summary = yield* (yield* Cycle).run()
      expect(summary.outcomes.map((entry) => [entry.itemId, entry.outcome])).toEqual([
        [acme.id, "filtered"],
        [beta.id, "filtered"]
      ])
    }).pipe(Effect.provide(cycleLayer(listed(), {})))
  )

  it.scoped("without the bypass, a watchlist alert that passes the filters carries the marker", () =>
    Effect.gen(function* () {
      yield* (yield* Cycle).run()
      const rows = yield* (yield* Outbox).due(10)
      expect(rows.map((row) => [row.alert.ticker.symbol, row.alert.watchlist?.ticker ?? null])).toEqual([
        ["ACME", "ACME"],
        ["BETA", null]
      ])
    }).pipe(Effect.provide(cycleLayer(listed(), { MIN_SCORE: 0, PRICE_FLOOR: 0 })))
  )
})

describe("catalyst-bot watch", () => {
  it("adding a listed ticker keeps its note and adds tags; a malformed ticker or an unlisted one is refused", () => {
    const entries = [{ ticker: "ACME", note: "earnings Thursday", tags: ["biotech"] }, { ticker: "BETA" }]
    expect(applyEdit(entries, { _tag: "Add", ticker: "acme", tags: ["swing", "biotech"] })).toEqual(
      Either.right([{ ticker: "ACME", note: "earnings Thursday", tags: ["biotech", "swing"] }, { ticker: "BETA" }])
    )
    expect(applyEdit(entries, { _tag: "Add", ticker: "BETA", note: "breakout", tags: [] })).toEqual(
      Either.right([entries[0], { ticker: "BETA", note: "breakout" }])
    )
    expect(applyEdit(entries, { _tag: "Add", ticker: "not a ticker", tags: [] })).toEqual(
      Either.left('"not a ticker" is not a ticker (a letter, then up to 9 letters, digits, "." or "-")')
    )
    expect(applyEdit(entries, { _tag: "Remove", ticker: "ZZZ" })).toEqual(Either.left("ZZZ is not on the watchlist"))
  })

  it("add, remove and list edit WATCHLIST_FILE and keep the other entries' notes and tags", async () => {
    const path = join(watchlistDir(), "watchlist.json")
    const env = { WATCHLIST_FILE: path }
    // Not on the list: one line, a non-zero exit, and the file untouched (here: never created).
    const missing = runCli(["watch", "remove", "ZZZ"], { WATCHLIST_FILE: join(watchlistDir(), "none.json") })
    const added = await runCli(["watch", "add", "acme", "--note", "earnings Thursday", "--tag", "biotech"], env)
    expect(added).toMatchObject({ code: 0, stdout: expect.stringContaining("ACME is on the watchlist") })
    expect((await runCli(["watch", "add", "BRK-B", "--tag", "value"], env)).code).toBe(0)
    expect((await runCli(["watch", "remove", "brk-b"], env)).code).toBe(0)
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({
      tickers: [{ ticker: "ACME", note: "earnings Thursday", tags: ["biotech"] }]
    })
    const listed = await runCli(["watch", "list"], env)
    expect(listed).toMatchObject({ code: 0 })
    expect(listed.stdout.trim()).toBe("ACME  tags biotech  note: earnings Thursday")
    const refused = await missing
    expect(refused.code).not.toBe(0)
    expect(refused.stderr.trim()).toBe("ZZZ is not on the watchlist")
  }, 240_000)

  it("on a .csv WATCHLIST_FILE, add, remove and list keep the order and write CSV back, quoted notes intact", async () => {
    const path = join(watchlistDir(), "watchlist.csv")
    writeFileSync(path, '\uFEFFSymbol,Note\r\nBETA,\r\nGAMA,"breakout, on volume"\r\n')
    const env = { WATCHLIST_FILE: path }
    const added = await runCli(
      ["watch", "add", "acme", "--note", 'earnings, "Thursday"', "--tag", "biotech", "--tag", "swing"],
      env
    )
    expect(added).toMatchObject({ code: 0, stdout: expect.stringContaining("ACME is on the watchlist") })
    expect((await runCli(["watch", "remove", "beta"], env)).code).toBe(0)
    const text = readFileSync(path, "utf8")
    expect(text).toBe('ticker,note,tags\nGAMA,"breakout, on volume",\nACME,"earnings, ""Thursday""",biotech;swing\n')
    expect(parseWatchlist(path, text)).toEqual(
      Either.right([
        { ticker: "GAMA", note: "breakout, on volume" },
        { ticker: "ACME", note: 'earnings, "Thursday"', tags: ["biotech", "swing"] }
      ])
    )
    const listed = await runCli(["watch", "list"], env)
    expect(listed).toMatchObject({ code: 0 })
    expect(listed.stdout.trim()).toBe(
      'GAMA  note: breakout, on volume\nACME  tags biotech, swing  note: earnings, "Thursday"'
    )
  }, 240_000)

  it("a malformed ticker in WATCHLIST_FILE stops start-up with one line naming the file and the entry", async () => {
    const path = join(watchlistDir(), "watchlist.json")
    writeFileSync(path, JSON.stringify({ tickers: [{ ticker: "ACME" }, { ticker: "AC ME" }] }))
    const result = await runCli(["once"], { WATCHLIST_FILE: path })
    expect(result.code).not.toBe(0)
    const problems = result.stderr.split("\n").filter((line) => line.includes("WATCHLIST_FILE"))
    expect(problems).toEqual([
      `  WATCHLIST_FILE: ${path}: tickers[1], field ticker: Expected a ticker (a letter, then up to 9 letters, digits, "." or "-"), actual "AC ME"`
    ])
    expect(result.stderr).not.toMatch(/\n\s+at /)
  }, 60_000)
})
