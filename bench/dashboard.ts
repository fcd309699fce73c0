/**
 * bench:dashboard — the operator's dashboard.
 * - First load of the overview in Chromium over loopback: bytes transferred (HTML, script, stylesheet)
 *   and navigation start → DOMContentLoaded, median of fresh loads (every response is `no-store`).
 * - Item search over 100k archived items: p95 of each kind of query (headline words, ticker, source,
 *   words + source, words that match nothing, which scan the whole window).
 * - 20 browsers watching live views: the poll (`runCycle`) p95 with and without 20 open SSE streams,
 *   alternated in blocks on the same bot, so drift in the machine's load falls on both.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { withConfig } from "../src/App/Layers.js"
import { type ArchiveEntry, ItemArchive } from "../src/Outcomes/ItemArchive.js"
import { Runner } from "../src/Runner/Runner.js"
import * as World from "../src/World/World.js"
import { launchChromium } from "../test/support/Chromium.js"
import { startDashboardBot } from "../test/support/DashboardBot.js"
import { type Figure, isMain, percentile, publish } from "./lib.js"
import { judge, targets } from "./targets.js"

const loads = 10
const archived = 100_000
const queriesPerKind = 40
const blocks = 3
const cyclesPerBlock = 5
const liveClients = 20

const words = ["contract", "approval", "offering", "acquisition", "partnership", "trial", "results", "dividend"]
const sources = ["GlobeNewswire", "PR Newswire", "AccessWire", "SEC EDGAR"]

const entry = (n: number): ArchiveEntry => {
  const company = World.companies[n % World.companies.length]!
  return {
    item: {
      id: `bench-${n}`,
      source: sources[n % sources.length]!,
      kind: "rss",
      title: `${company.name} announces ${words[n % words.length]} number ${n}`,
      summary: "",
      link: `https://example.com/${n}`,
      published: new Date(Date.now() - n * 1_000).toISOString(),
      fetchedAt: new Date().toISOString(),
      tickers: [{ symbol: company.ticker, exchange: company.exchange }]
    },
    outcome: n % 3 === 0 ? "alerted" : "filtered",
    reason: n % 3 === 0 ? null : "score 1.0 below MIN_SCORE 3",
    classification: null,
    market: null
  }
}

const timed = async (f: () => Promise<unknown>) => {
  const start = performance.now()
  await f()
  return performance.now() - start
}

const searchFigures = async (): Promise<ReadonlyArray<Figure>> => {
  const dir = mkdtempSync(join(tmpdir(), "bench-dashboard-"))
  const scope = Effect.runSync(Scope.make())
  try {
    const context = await Effect.runPromise(
      Layer.buildWithScope(ItemArchive.Default.pipe(withConfig({ DATA_DIR: dir })), scope)
    )
    const run = <A>(effect: Effect.Effect<A, never, ItemArchive>) => Effect.runPromise(Effect.provide(effect, context))
    for (let from = 0; from < archived; from += 5_000) {
      const chunk = Array.from({ length: 5_000 }, (_, index) => entry(from + index))
      await run(Effect.flatMap(ItemArchive, (archive) => archive.record(chunk)))
    }
    const since = Date.now() - 30 * 86_400_000
    const kinds: ReadonlyArray<readonly [string, (n: number) => Parameters<ItemArchive["search"]>[0]]> = [
      ["headline words", (n) => ({ text: words[n % words.length]!, since, limit: 200 })],
      ["ticker", (n) => ({ ticker: World.companies[n % World.companies.length]!.ticker, since, limit: 200 })],
      ["source", (n) => ({ source: sources[n % sources.length]!, since, limit: 200 })],
      ["words + source", (n) => ({ text: "number 9", source: sources[n % sources.length]!, since, limit: 200 })],
      ["words matching nothing (full scan)", (n) => ({ text: `zzz-${n}`, since, limit: 200 })]
    ]
    const figures: Array<Figure> = []
    for (const [label, query] of kinds) {
      const times: Array<number> = []
      for (let n = 0; n < queriesPerKind; n++) {
        times.push(await timed(() => run(Effect.flatMap(ItemArchive, (archive) => archive.search(query(n))))))
      }
      const p95 = percentile(times, 95)
      figures.push({
        label: `item search p95, ${label} (${archived / 1000}k items)`,
        value: p95,
        unit: "ms",
        ratio: p95 / 200,
        ...judge(targets.dashboardSearchP95, p95, p95 / 200)
      })
    }
    return figures
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    rmSync(dir, { recursive: true, force: true })
  }
}

const main = async () => {
  const figures: Array<Figure> = []
  const bot = await startDashboardBot()
  const browser = await launchChromium()
  try {
    bot.world.publishNews(12)
    await bot.cycle()

    const bytes: Array<number> = []
    const content: Array<number> = []
    for (let n = 0; n < loads; n++) {
      const page = await browser.context.newPage()
      const requests: Array<Promise<void>> = []
      let transferred = 0
      page.on("requestfinished", (request) => {
        requests.push(
          request.sizes().then((sizes) => {
            transferred += sizes.responseBodySize + sizes.responseHeadersSize
          })
        )
      })
      await page.goto(bot.url, { waitUntil: "load" })
      await Promise.all(requests)
      bytes.push(transferred / 1024)
      content.push(
        (await page.evaluate(`performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd`)) as number
      )
      await page.close()
    }
    const weight = percentile(bytes, 50)
    const toContent = percentile(content, 50)
    figures.push(
      {
        label: "overview first load, transferred",
        value: weight,
        unit: "KB",
        ratio: weight / 200,
        ...judge(targets.dashboardWeight, weight, weight / 200)
      },
      {
        label: "overview first load, navigation → content (median)",
        value: toContent,
        unit: "ms",
        ratio: toContent / 500,
        ...judge(targets.dashboardContent, toContent, toContent / 500)
      }
    )

    const poll = () => bot.run(Effect.flatMap(Runner, (runner) => runner.runCycle)).then(() => undefined)
    const without: Array<number> = []
    const withClients: Array<number> = []
    for (let block = 0; block < blocks; block++) {
      for (let n = 0; n < cyclesPerBlock; n++) {
        bot.world.publishNews(2)
        without.push(await timed(poll))
      }
      const controllers = Array.from({ length: liveClients }, () => new AbortController())
      const streams = controllers.map(async (controller, index) => {
        const response = await fetch(`${bot.url}/events?view=${index % 2 === 0 ? "overview" : "alerts"}`, {
          signal: controller.signal
        })
        const reader = response.body!.getReader()
        while (!(await reader.read()).done);
      })
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      for (let n = 0; n < cyclesPerBlock; n++) {
        bot.world.publishNews(2)
        withClients.push(await timed(poll))
      }
      for (const controller of controllers) controller.abort()
      await Promise.allSettled(streams)
    }
    const p95Without = percentile(without, 95)
    const p95With = percentile(withClients, 95)
    figures.push({
      label: `poll p95 with ${liveClients} live dashboard clients`,
      value: p95With,
      unit: "ms",
      baseline: { label: "no clients", value: p95Without },
      ratio: p95With / p95Without,
      ...judge(targets.dashboardLiveCost, p95With, p95With / p95Without)
    })
  } finally {
    await browser.close()
    await bot.close()
  }
  figures.push(...(await searchFigures()))
  publish({ name: "dashboard", figures })
}

if (isMain(import.meta.url)) {
  await main()
}
