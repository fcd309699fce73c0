/**
 * bench:latency — publication → Discord in a simulated live market.
 * Stories appear at random moments (a seeded Poisson process per source) on the four wires and the SEC live
 * feed; the bot runs in a child process on its shipped settings, only its endpoints pointed at the fakes, and a
 * Discord fake with the documented 5-per-2-s webhook limit records when each alert arrived. Measured in the
 * same run, on the same news at the same moments, each in a world of its own:
 * - the bot as shipped;
 * - baseline 1, the batch design: every source fetched once a minute, all together (`settings.batch`);
 * - baseline 2, the floor: a bare GET → POST loop (no parsing, classification, quotes or charts) polling every
 *   source as often as the shipped bot does.
 * Then, on fresh worlds: the CPU the idle bot uses while nothing changes, and a burst of 20 stories at once.
 * Beside the live market, a fourth world gets the same news plus a Form 4 peak hour (several hundred insider
 * filings, compressed into the run) on the SEC feed: the SEC stories' latency there, against the shipped bot's
 * without them, and the busiest second SEC saw.
 */
import { ConfigProvider, Effect, Exit, Scope } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join } from "node:path"
import { defaultSources } from "../src/Feeds/Sources.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import * as FakeWire from "../src/World/FakeWire.js"
import type { FakeFiling } from "../src/World/FakeSec.js"
import * as World from "../src/World/World.js"
import { spawnCli } from "../test/support/Cli.js"
import { guardState } from "../test/support/NetworkGuardState.js"
import { type BenchReport, type CheckedFigure, type Figure, isMain, percentile, publish } from "./lib.js"
import { judge, type Target, targets } from "./targets.js"

/** The bot's settings in this bench, all in one record, so that renaming a setting is one edit here. */
const settings = {
  /** The bot as shipped: nothing but the World's endpoints. */
  shipped: {},
  /** Baseline 1, the batch design of wave 1: every source polled once every 60 s. */
  batch: { POLL_SECONDS: 60, POLL_SECONDS_CLOSED: 60, SEC_POLL_SECONDS: 60 },
  /** For every bot here: the simulated market is open whatever the hour, so the closed-market interval must not apply. */
  marketOpen: (defaults: AppConfig) => ({ POLL_SECONDS_CLOSED: defaults.runner.pollSeconds }),
  /** How often the shipped bot polls a source; the floor polls as often. */
  pollSeconds: (defaults: AppConfig) => defaults.runner.pollSeconds
} as const

export interface LatencyOptions {
  /** How long stories keep appearing. */
  readonly publishSeconds: number
  /** Stories per minute on each source (wires and SEC alike). */
  readonly perSourcePerMinute: number
  readonly burst: number
  /** How long the idle bot is watched (at least one poll interval). */
  readonly idleSeconds: number
  readonly seed: number
}

export const full: LatencyOptions = { publishSeconds: 75, perSourcePerMinute: 5, burst: 20, idleSeconds: 30, seed: 17 }
const quickOptions: LatencyOptions = { publishSeconds: 30, perSourcePerMinute: 4, burst: 10, idleSeconds: 15, seed: 22 }

/** Realistic round trips: a wire ~150 ms, SEC ~100 ms, an LLM call ~400 ms, a quote ~80 ms. */
const latencies = { wireLatencyMs: 150, secLatencyMs: 100, llmLatencyMs: 400 }

/** Seeded, so every run publishes the same stories at the same offsets (mulberry32). */
const rng = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const secSource = "SEC"
const wireSources = defaultSources("http://127.0.0.1")
  .filter((source) => source.kind !== "sec-atom")
  .map((source) => source.name)
const sources = [...wireSources, secSource]

interface PlannedStory {
  /** Seconds after the start of publication. */
  readonly offsetS: number
  readonly source: string
  readonly serial: number
}

/** Poisson arrivals per source: exponential gaps with mean 60/rate seconds. */
const plan = (options: LatencyOptions): ReadonlyArray<PlannedStory> => {
  const random = rng(options.seed)
  const stories: Array<PlannedStory> = []
  for (const source of sources) {
    let at = -Math.log(1 - random()) * (60 / options.perSourcePerMinute)
    while (at < options.publishSeconds) {
      stories.push({ offsetS: at, source, serial: 0 })
      at += -Math.log(1 - random()) * (60 / options.perSourcePerMinute)
    }
  }
  return stories.sort((a, b) => a.offsetS - b.offsetS).map((story, index) => ({ ...story, serial: index + 1 }))
}

const staleHours = 6
const pad = (n: number, width: number) => String(n).padStart(width, "0")
/** SEC writes `<updated>` in Eastern time; December is EST. */
const easternIso = (at: number) => new Date(at - 5 * 3_600_000).toISOString().slice(0, 19) + "-05:00"

/** One world with the four wires and the SEC feeds the shipped bot polls, and the news on them. */
const makeMarket = async (scope: Scope.Scope, label: string) => {
  const world = await Effect.runPromise(Scope.extend(World.make(latencies), scope))
  const sec = world.env.SEC_BASE_URL!
  const feeds = defaultSources(sec).map((source) =>
    source.kind === "sec-atom" ? source : { ...source, url: world.wire.feedUrl(source.name) }
  )
  const feedsFile = join(world.env.DATA_DIR!, `${label}-feeds.json`)
  writeFileSync(feedsFile, JSON.stringify(feeds))
  const items = new Map<string, Array<FakeWire.WireItem>>(wireSources.map((name) => [name, []]))
  let filings: Array<FakeFiling> = []
  let version = 0
  const serve = (name: string) => {
    version += 1
    const list = items.get(name) ?? []
    return world.wire.setFeed(name, {
      body: name === "GlobeNewswire" ? FakeWire.globeNewswireRss(list) : FakeWire.prNewswireRss(list),
      etag: `"${label}-${version}"`,
      lastModified: new Date(list[0] === undefined ? 0 : Date.parse(list[0].pubDate ?? "")).toUTCString(),
      latencyMs: latencies.wireLatencyMs
    })
  }
  /** Puts the story on its source and returns the moment the fake started serving it, and what identifies it. */
  /** Puts a filing at the top of getcurrent (100 entries, newest first); returns when it became visible. */
  const putFiling = (filing: FakeFiling) => {
    filings = [filing, ...filings].slice(0, 100)
    return world.sec.setFilings(filings)
  }
  const put = (source: string, serial: number, publishedAt = Date.now()) => {
    const company = World.companies[serial % World.companies.length]!
    const title = `${company.name} Announces FDA Approval of ${company.ticker.slice(0, 2)}-${1_000 + serial}`
    if (source === secSource) {
      const accession = `000${company.cik}-26-${pad(serial, 6)}`
      const visibleAt = putFiling({
        form: "8-K",
        accession,
        updated: easternIso(publishedAt),
        items: [
          "Item 1.01: Entry into a Material Definitive Agreement",
          "Item 9.01: Financial Statements and Exhibits"
        ],
        parties: [{ company: company.name.toUpperCase(), cik: company.cik, role: "Filer" }],
        documentText: `Item 1.01 Entry into a Material Definitive Agreement. ${title}. The approval covers adults with a rare disorder.`
      })
      return { visibleAt, token: accession }
    }
    const date = new Date(publishedAt)
    const link = `https://news.example.com/${label}/${3_100_000 + serial}/${company.ticker.toLowerCase()}.html`
    const item: FakeWire.WireItem = {
      title,
      link,
      description: `NEW YORK, ${date.toUTCString().slice(5, 16)} -- ${company.name}, Inc. (${company.exchange}: ${company.ticker}) announced that the FDA approved its lead candidate.`,
      pubDate: date.toUTCString(),
      stocks: [`${company.exchange}:${company.ticker}`]
    }
    items.set(source, [item, ...(items.get(source) ?? [])].slice(0, 50))
    return { visibleAt: serve(source), token: `${3_100_000 + serial}` }
  }
  // Yesterday's news on every source, too old to alert: realistic bodies from the first poll on.
  for (let serial = 1; serial <= 20; serial++) {
    put(sources[serial % sources.length]!, 900_000 + serial, Date.now() - staleHours * 3_600_000)
  }
  for (const name of wireSources) serve(name)
  return { world, feedsFile, put, putFiling }
}
type Market = Awaited<ReturnType<typeof makeMarket>>

// ---- Form 4 peak hour (issue 18): several hundred insider filings on the SEC feed beside the live market ----

/**
 * Form 4s per minute of the run: 200 in the full run's 75 s, a peak hour's several hundred compressed.
 * Each costs two SEC requests (index.json, ownership XML): at 2.7 a second that is 5.3 of the 10 a second
 * SEC allows, beside the live feed's one and the size lookups; much more and no design keeps up.
 */
const form4PerMinute = 160

/**
 * A routine Form 4 (a sale or a tax withholding: most Form 4s are): its ownership XML is read through the
 * shared SEC budget, and it is archived, not alerted, so Discord's limit doesn't enter the SEC figures.
 */
const form4Filing = (serial: number, publishedAt: number): FakeFiling => {
  const issuer = World.companies[serial % World.companies.length]!
  const owner = { cik: 1_700_000 + serial, name: `INSIDER ${serial}`, isOfficer: true, officerTitle: "CFO" }
  return {
    form: "4",
    accession: `0001209191-26-${pad(serial, 6)}`,
    updated: easternIso(publishedAt),
    parties: [
      { company: owner.name, cik: owner.cik, role: "Reporting" },
      { company: issuer.name.toUpperCase(), cik: issuer.cik, role: "Issuer" }
    ],
    ownership: {
      issuerCik: issuer.cik,
      issuerSymbol: issuer.ticker,
      owner,
      transactions: [
        {
          date: new Date(publishedAt).toISOString().slice(0, 10),
          code: serial % 3 === 0 ? "F" : "S",
          shares: 5_000 + serial,
          price: 3,
          sharesOwnedAfter: 80_000
        }
      ]
    }
  }
}

/** Publishes Form 4s at a steady pace for the run's publication window; resolves with their accessions. */
const publishForm4s = async (market: Market, options: LatencyOptions, from: number) => {
  const count = Math.round((options.publishSeconds * form4PerMinute) / 60)
  const accessions: Array<string> = []
  for (let n = 0; n < count; n++) {
    await sleep(Math.max(0, from + (n * options.publishSeconds * 1_000) / count - Date.now()))
    const filing = form4Filing(700_000 + n, Date.now())
    market.putFiling(filing)
    accessions.push(filing.accession)
  }
  return accessions
}

/** Until every Form 4's document was read, or `deadline`: the Form 4s must be handled, not only published. */
const untilForm4sRead = async (market: Market, accessions: ReadonlyArray<string>, deadline: number) => {
  while (form4sRead(market, accessions) < accessions.length && Date.now() < deadline) await sleep(250)
}

/** Form 4s whose ownership XML the bot read: the ones it decided. */
const form4sRead = (market: Market, accessions: ReadonlyArray<string>) => {
  const folders = new Set(accessions.map((accession) => accession.replace(/-/g, "")))
  const read = new Set<string>()
  for (const { path } of market.world.sec.requests()) {
    const folder = /^\/Archives\/edgar\/data\/\d+\/(\d{18})\/[^/]+\.xml$/.exec(path)?.[1]
    if (folder !== undefined && folders.has(folder)) read.add(folder)
  }
  return read.size
}

const form4Figures = (
  flood: { readonly sec: ReturnType<typeof stats>; readonly busiest: number; readonly read: number },
  shippedSec: ReturnType<typeof stats>,
  published: number
): ReadonlyArray<Figure> => [
  {
    label: `SEC stories with a Form 4 peak hour beside them (${published} Form 4s in the run): publication → Discord p95${flood.sec.missing > 0 ? ` (${flood.sec.missing} never arrived)` : ""}`,
    value: flood.sec.p95,
    unit: "s",
    baseline: { label: "the shipped bot without the Form 4s", value: shippedSec.p95 },
    ratio: shippedSec.p95 / flood.sec.p95
  },
  {
    label: "requests to the SEC host during the Form 4 peak hour: most in any one-second window",
    value: flood.busiest,
    unit: "req",
    target: "≤ 10",
    pass: flood.busiest <= 10
  },
  {
    label: "Form 4s whose ownership document was read by the end of the run",
    value: flood.read,
    unit: `of ${published}`,
    pass: flood.read === published
  }
]

const shippedDefaults = (env: Record<string, string>) =>
  Effect.runPromise(
    AppConfig.pipe(
      Effect.provide(AppConfig.Default),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
    )
  )

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Every source has been asked at least once: the bot (or floor) is polling. */
const polling = (market: Market) =>
  wireSources.every((name) => market.world.wire.received(name) > 0) &&
  market.world.sec.requests().some((request) => request.path.includes("getcurrent"))

const untilPolling = async (market: Market, label: string, output: () => string, timeoutMs = 300_000) => {
  const deadline = Date.now() + timeoutMs
  while (!polling(market)) {
    if (Date.now() > deadline)
      throw new Error(`${label}: no poll of every source within ${timeoutMs / 1000} s; it wrote:\n${output()}`)
    await sleep(100)
  }
}

/** The bot in a child process: CLI `run`, its settings `overrides` on top of the world's endpoints. */
const spawnBot = (market: Market, overrides: Record<string, string | number>) => {
  let output = ""
  const bot = spawnCli(["run"], {
    ...market.world.env,
    FEEDS_FILE: market.feedsFile,
    ...Object.fromEntries(Object.entries(overrides).map(([key, value]) => [key, String(value)]))
  })
  bot.child.stderr?.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4_000)))
  const stop = async () => {
    if (bot.child.exitCode === null && bot.child.signalCode === null) bot.child.kill("SIGTERM")
    const exited = await Promise.race([bot.exited, sleep(10_000).then(() => null)])
    const violations = bot.takeViolations()
    guardState()
      .children.find((child) => child.pid === bot.child.pid)
      ?.dispose()
    return { exited, violations }
  }
  return { bot, stop, output: () => output }
}

/** User plus system CPU of a process so far, in seconds (/proc/<pid>/stat, clock ticks of 1/100 s). */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/**
 * Baseline 2: GET every source every `pollMs` (conditional GET on the wires), take the new links or accession
 * numbers out of the bytes with one regular expression, and POST each to the webhook, waiting out a 429.
 */
const floor = (market: Market, pollMs: number) => {
  const feeds = JSON.parse(readFileSync(market.feedsFile, "utf8")) as ReadonlyArray<{ name: string; url: string }>
  const webhook = market.world.env.DISCORD_WEBHOOK_URL!
  const seen = new Set<string>()
  const etags = new Map<string, string>()
  const queue: Array<string> = []
  let stopped = false
  let first = true
  const poll = async (feed: { name: string; url: string }) => {
    const etag = etags.get(feed.url)
    const response = await fetch(feed.url, etag === undefined ? {} : { headers: { "if-none-match": etag } })
    const body = await response.text()
    if (response.status !== 200) return
    const validator = response.headers.get("etag")
    if (validator !== null) etags.set(feed.url, validator)
    for (const match of body.matchAll(/accession-number=([\d-]+)|<link>([^<]+)<\/link>/g)) {
      const token = match[1] ?? match[2]!
      if (seen.has(token)) continue
      seen.add(token)
      if (!first) queue.push(token)
    }
  }
  const polls = (async () => {
    while (!stopped) {
      const started = Date.now()
      await Promise.all(feeds.map((feed) => poll(feed).catch(() => undefined)))
      first = false
      await sleep(Math.max(0, started + pollMs - Date.now()))
    }
  })()
  const posts = (async () => {
    while (!stopped) {
      const token = queue.shift()
      if (token === undefined) {
        await sleep(20)
        continue
      }
      const response = await fetch(webhook, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ content: token })
      })
      if (response.status === 429) {
        const { retry_after } = (await response.json()) as { retry_after: number }
        queue.unshift(token)
        await sleep(retry_after * 1000)
      } else await response.arrayBuffer()
    }
  })()
  return {
    ready: () => !first,
    stop: async () => {
      stopped = true
      await Promise.all([polls, posts])
    }
  }
}

interface Published {
  readonly source: string
  readonly token: string
  readonly visibleAt: number
}

/** Publication → receipt, in seconds, for each story Discord got (matched by its link or accession number). */
const delays = (market: Market, published: ReadonlyArray<Published>) => {
  const alerts = market.world.alerts().map((message) => ({ at: message.at, text: JSON.stringify(message.payload) }))
  return published.map((story) => {
    const receipt = alerts.find((alert) => alert.text.includes(story.token))
    return { source: story.source, seconds: receipt === undefined ? null : (receipt.at - story.visibleAt) / 1000 }
  })
}

const untilDelivered = async (
  markets: ReadonlyArray<Market>,
  published: ReadonlyArray<ReadonlyArray<Published>>,
  deadline: number
) => {
  while (Date.now() < deadline) {
    if (markets.every((market, i) => delays(market, published[i]!).every((story) => story.seconds !== null))) return
    await sleep(250)
  }
}

/** The most requests in any one-second window. */
const busiestSecond = (times: ReadonlyArray<number>) => {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let start = 0, end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= 1_000) start++
    most = Math.max(most, end - start + 1)
  }
  return most
}

/** Percentiles over every story, one that never arrived counting as infinitely late. */
const stats = (values: ReadonlyArray<number | null>) => {
  const all = values.map((value) => value ?? Number.POSITIVE_INFINITY)
  return {
    p50: percentile(all, 50),
    p95: percentile(all, 95),
    max: Math.max(...all),
    missing: values.filter((value) => value === null).length
  }
}

export interface LatencyFigures {
  readonly figures: ReadonlyArray<Figure>
  readonly elapsedS: number
}

export const measure = async (options: LatencyOptions): Promise<LatencyFigures> => {
  const started = Date.now()
  const loadAtStart = loadavg()[0]!
  const scope = Effect.runSync(Scope.make())
  const stoppers: Array<() => Promise<unknown>> = []
  try {
    const [shipped, batch, bare, idle, idleBatch, form4] = await Promise.all(
      ["shipped", "batch", "floor", "idle", "idle-batch", "form4"].map((label) => makeMarket(scope, label))
    )
    const defaults = await shippedDefaults(shipped!.world.env)
    const open = settings.marketOpen(defaults)
    const pollMs = settings.pollSeconds(defaults) * 1000
    const bots = {
      shipped: spawnBot(shipped!, { ...open, ...settings.shipped }),
      batch: spawnBot(batch!, { ...open, ...settings.batch }),
      idle: spawnBot(idle!, { ...open, ...settings.shipped }),
      idleBatch: spawnBot(idleBatch!, { ...open, ...settings.batch }),
      form4: spawnBot(form4!, { ...open, ...settings.shipped })
    }
    for (const bot of Object.values(bots)) stoppers.push(bot.stop)
    const floorLoop = floor(bare!, pollMs)
    stoppers.push(floorLoop.stop)

    // The idle bots: once polling, a few seconds for start-up work to end, then CPU over at least one interval.
    const idleRun = (async () => {
      await Promise.all([
        untilPolling(idle!, "idle bot", bots.idle.output),
        untilPolling(idleBatch!, "idle batch bot", bots.idleBatch.output)
      ])
      await sleep(5_000)
      const windowMs = Math.max(options.idleSeconds * 1000, pollMs)
      const from = [cpuSeconds(bots.idle.bot.child.pid!), cpuSeconds(bots.idleBatch.bot.child.pid!)]
      await sleep(windowMs)
      const cpu = [
        (cpuSeconds(bots.idle.bot.child.pid!) - from[0]!) / (windowMs / 1000),
        (cpuSeconds(bots.idleBatch.bot.child.pid!) - from[1]!) / (windowMs / 1000)
      ]
      const burstAt = Date.now()
      const bursts = [idle!, idleBatch!].map((market) =>
        Array.from({ length: options.burst }, (_, i): Published => {
          const source = wireSources[i % wireSources.length]!
          return { source, ...market.put(source, 500_000 + i) }
        })
      )
      await untilDelivered([idle!, idleBatch!], bursts, burstAt + pollMs + 60_000)
      const lastOut = [idle!, idleBatch!].map((market, i) => stats(delays(market, bursts[i]!).map((d) => d.seconds)))
      return { cpu, lastOut, windowMs }
    })()
    // Awaited below; until then a failure must not count as unhandled.
    idleRun.catch(() => undefined)

    // The live market: the same stories at the same moments on the three worlds.
    await Promise.all([
      untilPolling(shipped!, "bot", bots.shipped.output),
      untilPolling(batch!, "batch bot", bots.batch.output),
      untilPolling(bare!, "floor", () => ""),
      untilPolling(form4!, "Form 4 bot", bots.form4.output)
    ])
    while (!floorLoop.ready()) await sleep(50)
    await sleep(2_000)
    console.error(`latency: every bot is polling after ${round((Date.now() - started) / 1000)} s; publishing`)
    const stories = plan(options)
    // The Form 4 world gets the same news (last, so the figures below keep their places) and the Form 4s.
    const markets = [shipped!, batch!, bare!, form4!]
    const published: Array<Array<Published>> = markets.map(() => [])
    const liveFrom = Date.now()
    const form4Run = publishForm4s(form4!, options, liveFrom)
    for (const story of stories) {
      await sleep(Math.max(0, liveFrom + story.offsetS * 1000 - Date.now()))
      markets.forEach((market, i) =>
        published[i]!.push({ source: story.source, ...market.put(story.source, story.serial) })
      )
    }
    console.error(`latency: ${stories.length} stories published over ${options.publishSeconds} s; waiting for Discord`)
    await untilDelivered(markets, published, Date.now() + pollMs + 60_000)
    const form4Accessions = await form4Run
    await untilForm4sRead(form4!, form4Accessions, Date.now() + 30_000)
    const liveTo = Date.now()
    const idleFigures = await idleRun
    // What a bot that lost stories was doing, for whoever reads the run.
    for (const [label, market, bot] of [
      ["bot", shipped!, bots.shipped],
      ["batch bot", batch!, bots.batch]
    ] as const) {
      const lost = delays(market, published[markets.indexOf(market)]!).filter((d) => d.seconds === null).length
      if (lost > 0)
        console.error(`latency: ${label} never delivered ${lost} stories; the end of its log:\n${bot.output()}`)
    }

    const [bot, batchRun, floorRun, withForm4s] = markets.map((market, i) => delays(market, published[i]!))
    const secWindow = (market: Market) =>
      busiestSecond(
        market.world.sec
          .requests()
          .map((request) => request.at)
          .filter((at) => at >= liveFrom && at <= liveTo)
      )
    const perWireMinute = (market: Market) => {
      const minutes = (liveTo - liveFrom) / 60_000
      const counts = wireSources.map(
        (name) =>
          market.world.wire
            .requests()
            .filter(
              (request) =>
                request.at >= liveFrom && request.at <= liveTo && request.path === `/feeds/${encodeURIComponent(name)}`
            ).length / minutes
      )
      return Math.max(...counts)
    }

    const figures: Array<Figure> = []
    const latencyRows = (label: string, pick: (d: { source: string }) => boolean, withFloor: boolean) => {
      const mine = stats(bot!.filter(pick).map((d) => d.seconds))
      const theirs = stats(batchRun!.filter(pick).map((d) => d.seconds))
      const bare = stats(floorRun!.filter(pick).map((d) => d.seconds))
      const count = bot!.filter(pick).length
      const targets = { p50: 1.5, p95: 4, max: undefined } as const
      for (const key of ["p50", "p95", "max"] as const) {
        const target = label === "all sources" ? targets[key] : undefined
        figures.push({
          label: `${label} (${count} stories${mine.missing > 0 ? `, ${mine.missing} never arrived` : ""}): publication → Discord ${key}${withFloor ? "" : `; floor ${round(bare[key])} s`}`,
          value: mine[key],
          unit: "s",
          baseline: { label: "batch design (every source once a minute)", value: theirs[key] },
          ratio: theirs[key] / mine[key],
          ...(target !== undefined && { target: `≤ ${target} s`, pass: mine[key] <= target })
        })
        if (withFloor)
          figures.push({
            label: `all sources: publication → Discord ${key}, against the floor`,
            value: mine[key],
            unit: "s",
            baseline: { label: `floor (bare GET → POST every ${pollMs / 1000} s)`, value: bare[key] },
            ratio: bare[key] / mine[key]
          })
      }
    }
    latencyRows("all sources", () => true, true)
    for (const source of sources) latencyRows(source, (d) => d.source === source, false)

    const [burstBot, burstBatch] = idleFigures.lastOut
    figures.push({
      label: `burst of ${options.burst} stories at once: until the last is on Discord${burstBot!.missing > 0 ? ` (${burstBot!.missing} never arrived)` : ""}`,
      value: burstBot!.max,
      unit: "s",
      baseline: { label: "batch design", value: burstBatch!.max },
      ratio: burstBatch!.max / burstBot!.max,
      ...judge(targets.latencyBurst, burstBot!.max, burstBatch!.max / burstBot!.max)
    })
    const secBot = secWindow(shipped!)
    const secBatch = secWindow(batch!)
    figures.push({
      label: "requests to the SEC host: most in any one-second window",
      value: secBot,
      unit: "req",
      baseline: { label: "batch design", value: secBatch },
      ratio: secBot / secBatch,
      target: "≤ 10",
      pass: secBot <= 10
    })
    const wireBot = perWireMinute(shipped!)
    const wireBatch = perWireMinute(batch!)
    figures.push({
      label: "requests per wire feed per minute (the busiest wire)",
      value: wireBot,
      unit: "req/min",
      baseline: { label: "batch design", value: wireBatch },
      ratio: wireBot / wireBatch
    })
    const [cpuBot, cpuBatch] = idleFigures.cpu
    figures.push({
      label: `idle bot (wires answer 304, SEC unchanged), CPU over ${round(idleFigures.windowMs / 1000)} s`,
      value: cpuBot! * 100,
      unit: "% of a core",
      baseline: { label: "batch design", value: cpuBatch! * 100 },
      ratio: cpuBatch! / cpuBot!,
      ...judge(targets.latencyIdleCpu, cpuBot! * 100, cpuBatch! / cpuBot!)
    })
    const onSec = (d: { source: string }) => d.source === secSource
    figures.push(
      ...form4Figures(
        {
          sec: stats(withForm4s!.filter(onSec).map((d) => d.seconds)),
          busiest: secWindow(form4!),
          read: form4sRead(form4!, form4Accessions)
        },
        stats(bot!.filter(onSec).map((d) => d.seconds)),
        form4Accessions.length
      )
    )
    const loadAtEnd = loadavg()[0]!
    figures.push({
      label: `machine load average (1 min) during the run: ${round(loadAtStart)} at the start, ${round(loadAtEnd)} at the end (${cpus().length} cores)`,
      value: Math.max(loadAtStart, loadAtEnd),
      unit: ""
    })
    return { figures, elapsedS: (Date.now() - started) / 1000 }
  } finally {
    await Promise.all(stoppers.map((stop) => stop()))
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const round = (n: number) => Math.round(n * 100) / 100

/** A shorter run with fewer stories, for `bench:check`: the same figures, as data. */
export const quick = (): Promise<LatencyFigures> => measure(quickOptions)

/**
 * bench:check: the quick run's overall p50 and p95 against the floor measured beside it, and its burst and
 * idle CPU against the batch design's.
 */
export const checked = async (): Promise<ReadonlyArray<CheckedFigure>> => {
  const { figures } = await quick()
  const againstBatch = (prefix: string, label: string, target: Target, unit: string): CheckedFigure => {
    const row = figures.find((figure) => figure.label.startsWith(prefix))
    return {
      label,
      ratio: row?.ratio ?? 0,
      target,
      detail: `bot ${(row?.value ?? Infinity).toFixed(2)} ${unit} / batch design ${(row?.baseline?.value ?? 0).toFixed(2)} ${unit}`
    }
  }
  const latencies = (["p50", "p95"] as const).map((key) => {
    const row = figures.find(
      (figure) => figure.label === `all sources: publication → Discord ${key}, against the floor`
    )
    const value = row?.value ?? Infinity
    const floor = row?.baseline?.value ?? 0
    return {
      label: `publication → Discord ${key} on a short live market, against a bare GET → POST loop`,
      ratio: row?.ratio ?? 0,
      target: key === "p50" ? targets.latencyP50VersusFloor : targets.latencyP95VersusFloor,
      detail: `bot ${value.toFixed(2)} s / floor ${floor.toFixed(2)} s`
    }
  })
  return [
    ...latencies,
    againstBatch("burst of ", "a burst of stories at once: until the last is on Discord", targets.latencyBurst, "s"),
    againstBatch("idle bot ", "idle bot (every poll a 304): CPU", targets.latencyIdleCpu, "% of a core")
  ]
}

export const run = async (): Promise<BenchReport> => {
  const { figures, elapsedS } = await measure(full)
  return { name: "latency", figures: [...figures, { label: "duration of this benchmark", value: elapsedS, unit: "s" }] }
}

if (isMain(import.meta.url))
  publish(
    await (process.argv.includes("--quick")
      ? quick().then(({ figures }) => ({ name: "latency-quick", figures }))
      : run())
  )
